/**
 * s3-tagger: S3 ObjectCreated notifications (direct, or through SQS) → classify → tags + result.
 * Bad images get an error result and tag; transient storage failures throw (retried, then DLQ).
 */
// First: with RESNET_MODEL_THREAD=1 it starts the model's session in a thread while the rest of the bundle loads.
import '../common/preload.js';

import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import middy from '@middy/core';
import type { Context, S3Event, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';

import { defaultDeps, type FunctionDeps } from '../common/deps.js';
import { isS3TestEvent, refsFromS3Event, refsFromSqsRecord } from '../../labelling/events.js';
import { observability } from '../common/middleware.js';
import { labelAll } from '../common/worker.js';

type TaggerEvent = S3Event | SQSEvent | { Event: 's3:TestEvent' };

/** Builds the handler over injected deps (tests, local stack). */
export function createS3TaggerHandler(deps: FunctionDeps) {
  const processor = new BatchProcessor(EventType.SQS);
  const fromQueue = async (r: SQSRecord): Promise<void> => void (await labelAll(refsFromSqsRecord(r), deps, 's3-tagger'));
  return middy(async (event: TaggerEvent, context: Context): Promise<SQSBatchResponse | void> => {
    if (isS3TestEvent(event)) return;
    const records = (event as S3Event | SQSEvent).Records ?? [];
    if (records[0]?.eventSource === 'aws:sqs') {
      return processPartialResponse(event as SQSEvent, fromQueue, processor, { context, processInParallel: false });
    }
    await labelAll(refsFromS3Event(event as S3Event), deps, 's3-tagger');
  }).use(observability(deps.obs));
}

/** Lambda entry point. */
export const handler = createS3TaggerHandler(defaultDeps('s3-tagger'));
