/**
 * The local stack's backlog sweep: the deployed sweeper's code (functions/sweeper/backlog.ts's
 * `sweep`) over the local bucket, with the local work queue standing in for SQS. Every object
 * without a result for the served model is handed to `enqueue`, whatever the backlog's size
 * (there is no Batch locally). This module is the one place the local stack touches sweep code,
 * so moving to another sweep implementation changes only this file.
 */
import type { S3Client } from '@aws-sdk/client-s3';

import { sweep, type JobQueue, type SweepReport } from '../functions/index.js';
import type { ObjectJobMessage } from '../labelling/events.js';

/** What one local sweep looks at. */
export interface LocalSweepOptions {
  bucket: string;
  /** Model id results are written under. */
  model: string;
  resultsPrefix: string;
  resultsBucket?: string;
  /**
   * Objects listed at most per sweep. The deployed sweep's listing holds the model's result keys
   * in memory; on one machine's bucket that is what bounds it. @default 100000
   */
  maxList?: number;
}

/**
 * Runs one sweep and enqueues every unlabelled object it finds.
 * @returns the sweeper's report (listed, backlog, enqueued, truncated)
 */
export async function sweepLocal(s3: S3Client, o: LocalSweepOptions, enqueue: (jobs: readonly ObjectJobMessage[]) => void): Promise<SweepReport> {
  const queue: JobQueue = {
    enqueue: async (jobs) => {
      enqueue(jobs);
      return jobs.length;
    },
  };
  const maxList = o.maxList ?? 100_000;
  return sweep(
    s3,
    {
      bucket: o.bucket,
      model: o.model,
      resultsPrefix: o.resultsPrefix,
      ...(o.resultsBucket ? { resultsBucket: o.resultsBucket } : {}),
      maxList,
      limit: maxList,
      // No Batch here: the whole backlog goes to the local queue.
      planner: { lambdaMaxObjects: Number.MAX_SAFE_INTEGER },
    },
    { queue },
  );
}
