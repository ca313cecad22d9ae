/**
 * The local stack's backlog sweep: the shared sweep of labelling/sweep.ts (the one the Lambda
 * sweeper and `resnet sweep` run) over the local bucket, with the local work queue standing in for
 * SQS: every object without a result for the served model is handed to `enqueue` as it is found
 * (there is no Batch locally, so no manifest). The cursor is kept in the bucket like the deployed
 * sweeper's, so a budgeted sweep resumes where the last one stopped.
 */
import type { S3Client } from '@aws-sdk/client-s3';

import type { ObjectJobMessage } from '../labelling/events.js';
import { sweep, type SweepReport } from '../labelling/sweep.js';

/** What one local sweep looks at. */
export interface LocalSweepOptions {
  bucket: string;
  /** Model id results are written under. */
  model: string;
  resultsPrefix: string;
  resultsBucket?: string;
  /** Source keys listed at most per sweep (the next sweep continues from the cursor). @default the shared sweep's (1,000,000) */
  maxList?: number;
}

/**
 * Runs one sweep from the saved cursor and enqueues every unlabelled object it finds.
 * @returns the sweep's report (`backlog`: objects queued)
 */
export function sweepLocal(s3: S3Client, o: LocalSweepOptions, enqueue: (job: ObjectJobMessage) => void): Promise<SweepReport> {
  return sweep(
    s3,
    {
      bucket: o.bucket,
      model: o.model,
      resultsPrefix: o.resultsPrefix,
      ...(o.resultsBucket ? { resultsBucket: o.resultsBucket } : {}),
      ...(o.maxList !== undefined ? { maxList: o.maxList } : {}),
    },
    (key) => enqueue({ bucket: o.bucket, key }),
  );
}
