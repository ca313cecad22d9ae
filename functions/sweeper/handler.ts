/**
 * sweeper: scheduled (EventBridge) backlog sweep over INPUT_BUCKET/SWEEP_PREFIX. Small backlogs
 * are enqueued to QUEUE_URL for the sqs-worker; above BACKLOG_THRESHOLD an AWS Batch array job is
 * submitted (BATCH_JOB_QUEUE + BATCH_JOB_DEFINITION), or only reported when those are unset.
 */
import { BatchClient } from '@aws-sdk/client-batch';
import { SQSClient } from '@aws-sdk/client-sqs';
import middy from '@middy/core';

import { plannerOptionsFromEnv } from '../../labelling/planner.js';
import { s3ClientFromEnv } from '../shared/clients.js';
import { DEFAULT_MODEL_ID, readConfig } from '../shared/config.js';
import type { FunctionDeps } from '../shared/deps.js';
import { createObservability, observability } from '../shared/middleware.js';
import { sweep, type BatchSubmitter, type JobQueue, type SweepReport } from './backlog.js';
import { awsBatchSubmitter, sqsJobQueue } from './sinks.js';

/** Builds the handler over injected deps and sinks (tests, local stack). */
export function createSweeperHandler(deps: Pick<FunctionDeps, 's3' | 'config' | 'obs'>, sinks: { queue?: JobQueue; batch?: BatchSubmitter }, env = process.env) {
  return middy(async (): Promise<SweepReport> => {
    const { config } = deps;
    if (!config.inputBucket) throw new Error('INPUT_BUCKET is not configured');
    const report = await sweep(deps.s3, {
      bucket: config.inputBucket,
      prefix: config.sweepPrefix,
      model: env.MODEL_ID || DEFAULT_MODEL_ID,
      ...(config.resultsBucket ? { resultsBucket: config.resultsBucket } : {}),
      resultsPrefix: config.resultsPrefix,
      maxList: config.sweepMaxList,
      limit: config.sweepLimit,
      planner: plannerOptionsFromEnv(env),
    }, sinks);
    deps.obs.logger.info('sweep done', { ...report });
    return report;
  }).use(observability(deps.obs));
}

function awsSinks(env = process.env): { queue?: JobQueue; batch?: BatchSubmitter } {
  return {
    ...(env.QUEUE_URL ? { queue: sqsJobQueue(new SQSClient({}), env.QUEUE_URL) } : {}),
    ...(env.BATCH_JOB_QUEUE && env.BATCH_JOB_DEFINITION ? { batch: awsBatchSubmitter(new BatchClient({}), env.BATCH_JOB_QUEUE, env.BATCH_JOB_DEFINITION) } : {}),
  };
}

/** Lambda entry point (imports no model code: the sweeper runs without the onnxruntime layer). */
export const handler = createSweeperHandler({ s3: s3ClientFromEnv(), config: readConfig(), obs: createObservability('sweeper') }, awsSinks());
