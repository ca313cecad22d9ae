/**
 * The scheduled sweep: find objects that have no result for the current model (missed events,
 * dead-lettered messages, objects that predate the notification) and work them off — through
 * the SQS worker while the backlog is small, as an AWS Batch array job when it is big (the
 * decision is labelling/planner.ts's `planBacklog`). Enqueueing and Batch submission are injected.
 */
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';

import { planBacklog, type BacklogPlan, type PlannerOptions } from '../../labelling/planner.js';
import { isOwnOutput } from '../shared/config.js';
import { s3Call } from '../../labelling/errors.js';
import type { ObjectJobMessage } from '../../labelling/events.js';
import { resultKey } from '../../labelling/results.js';

/** Sends job messages to the worker queue; returns how many were accepted. */
export interface JobQueue {
  enqueue(jobs: readonly ObjectJobMessage[]): Promise<number>;
}

/** What the sweeper asks AWS Batch to run. */
export interface BatchSubmission {
  /** `s3://bucket/prefix` for `resnet batch`. */
  input: string;
  model: string;
  plan: BacklogPlan;
  jobName: string;
}

/** Submits an AWS Batch job; returns its id. */
export interface BatchSubmitter {
  submit(req: BatchSubmission): Promise<{ jobId: string }>;
}

/** Options of one sweep. */
export interface SweepOptions {
  bucket: string;
  /** Source key prefix to scan. @default '' */
  prefix?: string;
  model: string;
  resultsBucket?: string;
  resultsPrefix: string;
  /** Objects listed at most (bounds the sweep's time and memory). @default 100000 */
  maxList?: number;
  /** Messages enqueued at most per sweep. @default 1000 */
  limit?: number;
  planner?: PlannerOptions;
}

/** What one sweep found and did. */
export interface SweepReport {
  listed: number;
  /** Objects without a result for the model. */
  backlog: number;
  /** True when the listing stopped at `maxList` (the backlog may be larger). */
  truncated: boolean;
  plan: BacklogPlan;
  enqueued: number;
  /** Present when a Batch job was submitted, or describes the one that would be when no submitter is configured. */
  batch?: BatchSubmission & { jobId?: string };
}

async function listKeys(s3: S3Client, bucket: string, prefix: string, max: number): Promise<{ keys: string[]; truncated: boolean }> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3Call(`ListObjectsV2 s3://${bucket}/${prefix}`, () =>
      s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) })),
    );
    for (const o of page.Contents ?? []) if (o.Key !== undefined) keys.push(o.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined && keys.length < max);
  return { keys: keys.slice(0, max), truncated: token !== undefined || keys.length > max };
}

/**
 * Finds the objects under `prefix` that have no result object for `model`.
 * Objects whose result is for an older ETag are not detected here (the s3-tagger handles
 * overwrites as they happen); finding those would need one GET per result.
 */
export async function findUnlabelled(s3: S3Client, o: SweepOptions): Promise<{ missing: string[]; listed: number; truncated: boolean }> {
  const max = o.maxList ?? 100_000;
  const source = await listKeys(s3, o.bucket, o.prefix ?? '', max);
  const resultsPrefix = `${o.resultsPrefix}${o.model}/${o.bucket}/`;
  const results = await listKeys(s3, o.resultsBucket ?? o.bucket, resultsPrefix, Number.MAX_SAFE_INTEGER);
  const have = new Set(results.keys);
  const candidates = source.keys.filter((k) => !isOwnOutput(k, o) && !k.endsWith('/'));
  const missing = candidates.filter((k) => !have.has(resultKey(o.resultsPrefix, o.bucket, k, o.model)));
  return { missing, listed: candidates.length, truncated: source.truncated };
}

/** One sweep: count the backlog, plan, and enqueue or submit. */
export async function sweep(s3: S3Client, o: SweepOptions, sinks: { queue?: JobQueue; batch?: BatchSubmitter }): Promise<SweepReport> {
  const found = await findUnlabelled(s3, o);
  const plan = planBacklog(found.missing.length, o.planner ?? {});
  const report: SweepReport = { listed: found.listed, backlog: found.missing.length, truncated: found.truncated, plan, enqueued: 0 };
  if (plan.mode === 'lambda') {
    const jobs = found.missing.slice(0, o.limit ?? 1000).map((key) => ({ bucket: o.bucket, key }));
    if (jobs.length > 0 && sinks.queue === undefined) throw new Error('QUEUE_URL is not configured; the sweeper cannot fan out.');
    report.enqueued = jobs.length ? await sinks.queue!.enqueue(jobs) : 0;
    return report;
  }
  const submission: BatchSubmission = {
    input: `s3://${o.bucket}/${o.prefix ?? ''}`,
    model: o.model,
    plan,
    jobName: `resnet-backlog-${new Date().toISOString().replace(/[^0-9]/g, '').slice(0, 14)}`,
  };
  report.batch = sinks.batch ? { ...submission, ...(await sinks.batch.submit(submission)) } : submission;
  return report;
}
