/**
 * sweeper: scheduled (EventBridge) backlog sweep over INPUT_BUCKET/SWEEP_PREFIX, resuming where
 * the last sweep stopped (labelling/sweep.ts). A backlog up to BACKLOG_THRESHOLD is enqueued in
 * full to QUEUE_URL for the sqs-worker; a larger one is written as a manifest of the missing keys
 * and submitted as an AWS Batch array job (BATCH_JOB_QUEUE + BATCH_JOB_DEFINITION), or only
 * written and reported when those are unset. With INVENTORY_BUCKET set (the bucket the uploads'
 * daily S3 Inventory is delivered to; INVENTORY_PREFIX, default `<INPUT_BUCKET>/resnet-uploads/`,
 * the folder of its dated reports), a large backlog goes to Batch as the newest report instead,
 * once per report (labelling/backlog-dispatch.ts).
 */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';

import { createBatchClient, createSqsClient } from '../../labelling/aws-clients.js';
import type { BacklogSinks } from '../../labelling/backlog-dispatch.js';
import { plannerOptionsFromEnv } from '../../labelling/planner.js';
import { sweepBacklog } from '../../labelling/sweep.js';
import { s3ClientFromEnv } from '../common/clients.js';
import { DEFAULT_MODEL_ID, readConfig } from '../common/config.js';
import type { FunctionDeps } from '../common/deps.js';
import { createObservability, observability } from '../common/middleware.js';
import { awsBatchSubmitter, sqsJobQueue } from './sinks.js';

/** Share of the invocation's remaining time the listing may use; the rest is for the dispatch and the cursor write. */
const LISTING_SHARE = 0.6;

/** Builds the handler over injected deps and sinks (tests, local stack). */
export function createSweeperHandler(deps: Pick<FunctionDeps, 's3' | 'config' | 'obs'>, sinks: BacklogSinks, env = process.env) {
  return middy(async (_event: unknown, context: Pick<Context, 'getRemainingTimeInMillis'>) => {
    const { config } = deps;
    if (!config.inputBucket) throw new Error('INPUT_BUCKET is not configured');
    const left = (context.getRemainingTimeInMillis?.() ?? Infinity) * LISTING_SHARE;
    const report = await sweepBacklog(deps.s3, {
      bucket: config.inputBucket,
      prefix: config.sweepPrefix,
      model: env.MODEL_ID || DEFAULT_MODEL_ID,
      ...(config.resultsBucket ? { resultsBucket: config.resultsBucket } : {}),
      resultsPrefix: config.resultsPrefix,
      maxList: config.sweepMaxList,
      maxSeconds: Math.max(1, Math.min(config.sweepMaxSeconds, left / 1000)),
      planner: plannerOptionsFromEnv(env),
      ...(env.INVENTORY_BUCKET ? { inventory: { bucket: env.INVENTORY_BUCKET, prefix: env.INVENTORY_PREFIX || `${config.inputBucket}/resnet-uploads/` } } : {}),
    }, sinks);
    deps.obs.logger.info('sweep done', { ...report });
    return report;
  }).use(observability(deps.obs));
}

function awsSinks(env = process.env): BacklogSinks {
  return {
    ...(env.QUEUE_URL ? { queue: sqsJobQueue(createSqsClient(), env.QUEUE_URL) } : {}),
    ...(env.BATCH_JOB_QUEUE && env.BATCH_JOB_DEFINITION ? { batch: awsBatchSubmitter(createBatchClient(), env.BATCH_JOB_QUEUE, env.BATCH_JOB_DEFINITION) } : {}),
  };
}

/** Lambda entry point (imports no model code: the sweeper runs without the onnxruntime layer). */
export const handler = createSweeperHandler({ s3: s3ClientFromEnv(), config: readConfig(), obs: createObservability('sweeper') }, awsSinks());
