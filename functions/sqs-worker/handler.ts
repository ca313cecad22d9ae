/**
 * sqs-worker: SQS messages carrying `{bucket,key}` jobs (from the sweeper) or S3 notifications →
 * the same labelling as the s3-tagger, with partial batch failure: only failed message ids are
 * returned in `batchItemFailures`, so only they are retried (and finally dead-lettered).
 */
// First: with RESNET_MODEL_THREAD=1 it starts the model's session in a thread while the rest of the bundle loads.
import '../common/preload.js';

import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';

import { defaultDeps, type FunctionDeps } from '../common/deps.js';
import { refsFromSqsRecord } from '../../labelling/events.js';
import { observability } from '../common/middleware.js';
import { labelAll } from '../common/worker.js';

/** Builds the handler over injected deps (tests, local stack). */
export function createSqsWorkerHandler(deps: FunctionDeps) {
  const processor = new BatchProcessor(EventType.SQS);
  const record = async (r: SQSRecord): Promise<void> => void (await labelAll(refsFromSqsRecord(r), deps, 'sqs-worker'));
  return middy(
    async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> =>
      // One record at a time: classification is CPU-bound and each decode holds a full image in memory.
      processPartialResponse(event, record, processor, { context, processInParallel: false, throwOnFullBatchFailure: false }),
  ).use(observability(deps.obs));
}

/** Lambda entry point. */
export const handler = createSqsWorkerHandler(defaultDeps('sqs-worker'));
