/**
 * One sweep of a prefix for unlabelled objects, resumable and budgeted: it reads where the last
 * sweep stopped (labelling/sweep-state.ts), compares source and result listings range by range
 * from there (labelling/find-unlabelled.ts) until the prefix ends or the listing or time budget is
 * spent, hands each missing key to the caller, and saves the new cursor only after the caller has
 * dealt with what was found. Successive sweeps therefore cover the whole prefix, each object once
 * per pass, and a sweep that fails part-way is redone by the next one (nothing is lost; a key may
 * be handed out twice, which the idempotent labellers absorb).
 *
 * The scheduled sweeper (functions/sweeper), `resnet sweep` (cli/sweep.ts) and the local stack
 * all call {@link sweep} (or {@link sweepBacklog}, which adds the dispatch to SQS or AWS Batch).
 */
import type { S3Client } from '@aws-sdk/client-s3';

import { InvalidArgumentError } from '../core/errors.js';
import { BacklogDispatcher, type BacklogSinks, type DispatchReport } from './backlog-dispatch.js';
import { findUnlabelled, type ScanRequests, type ScanResult } from './find-unlabelled.js';
import type { PlannerOptions } from './planner.js';
import { loadSweepState, saveSweepState, sweepStateKey, type StoredSweepState } from './sweep-state.js';

/** Default listing budget of one sweep, in source keys. */
export const DEFAULT_SWEEP_MAX_LIST = 1_000_000;

/** Options of one sweep. */
export interface SweepOptions {
  bucket: string;
  /** Source key prefix to sweep. @default '' */
  prefix?: string;
  model: string;
  /** @default the source bucket */
  resultsBucket?: string;
  resultsPrefix: string;
  /** Source keys listed at most in this sweep. @default 1,000,000 */
  maxList?: number;
  /** Stop listing after this many seconds (the dispatch that follows is not counted). @default no limit */
  maxSeconds?: number;
  /** Keep the cursor in the bucket; false sweeps from the start and saves nothing. @default true */
  persist?: boolean;
  /** Ignore the saved cursor and start from the beginning of the prefix (the new cursor is saved). @default false */
  restart?: boolean;
  /** Keys per listing page. @default 1000 */
  pageSize?: number;
  signal?: AbortSignal;
  now?: () => Date;
}

/** What one sweep covered and found. */
export interface SweepReport {
  bucket: string;
  prefix: string;
  model: string;
  /** Source keys listed. */
  listed: number;
  /** Objects compared (listed minus folder markers and our own outputs). */
  checked: number;
  labelled: number;
  /** Objects without a result for the model, found by this sweep. */
  backlog: number;
  /** The sweep stopped at its budget; the next one continues after `cursor`. */
  truncated: boolean;
  /** Key this sweep started after (undefined: the beginning of the prefix). */
  from: string | undefined;
  /** Key the next sweep starts after (undefined: the beginning, a new pass). */
  cursor: string | undefined;
  /** This sweep reached the end of the prefix, finishing a pass. */
  passComplete: boolean;
  /** Completed passes over the prefix, this one included. */
  passes: number;
  /** Unlabelled objects found in the current pass so far (in the pass just finished, when `passComplete`). */
  passBacklog: number;
  requests: ScanRequests & { state: number };
  /** Wall time in milliseconds. */
  ms: number;
}

function checkOptions(o: SweepOptions): void {
  if (o.maxList !== undefined && (!Number.isInteger(o.maxList) || o.maxList < 1)) throw new InvalidArgumentError(`sweep: maxList must be a whole number >= 1, got ${o.maxList}.`);
  if (o.maxSeconds !== undefined && !(o.maxSeconds > 0)) throw new InvalidArgumentError(`sweep: maxSeconds must be a positive number, got ${o.maxSeconds}.`);
}

/**
 * Sweeps from the saved cursor: calls `onMissing` for each unlabelled object, then `finish` with
 * the scan's result (where a caller sends what it collected), and saves the cursor after that.
 * @throws TransientStorageError on S3 failures (the cursor is not moved), SweepConflictError when
 *   another sweep of the same prefix saved its cursor meanwhile
 */
export async function sweep(
  s3: S3Client,
  o: SweepOptions,
  onMissing: (key: string) => void | Promise<void>,
  finish?: (scan: ScanResult) => Promise<void>,
): Promise<SweepReport> {
  checkOptions(o);
  const now = o.now ?? (() => new Date());
  const started = Date.now();
  const prefix = o.prefix ?? '';
  const resultsBucket = o.resultsBucket ?? o.bucket;
  const persist = o.persist ?? true;
  const stateKey = sweepStateKey(o.resultsPrefix, o.model, o.bucket, prefix);
  let stateCalls = 0;
  let stored: StoredSweepState | undefined;
  if (persist) {
    stored = await loadSweepState(s3, resultsBucket, stateKey, now());
    stateCalls++;
  }
  const from = o.restart ? undefined : stored?.state.cursor;
  const scan = await findUnlabelled(
    s3,
    {
      bucket: o.bucket,
      prefix,
      model: o.model,
      ...(o.resultsBucket ? { resultsBucket: o.resultsBucket } : {}),
      resultsPrefix: o.resultsPrefix,
      ...(from !== undefined ? { startAfter: from } : {}),
      maxList: o.maxList ?? DEFAULT_SWEEP_MAX_LIST,
      ...(o.maxSeconds !== undefined ? { deadline: started + o.maxSeconds * 1000 } : {}),
      ...(o.pageSize !== undefined ? { pageSize: o.pageSize } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    },
    onMissing,
  );
  await finish?.(scan);

  const cursor = scan.complete ? undefined : (scan.lastKey ?? from);
  const t = now().toISOString();
  const prev = stored?.state;
  const passBacklog = (o.restart || from === undefined ? 0 : (prev?.passMissing ?? 0)) + scan.missing;
  const passes = (prev?.passes ?? 0) + (scan.complete ? 1 : 0);
  if (persist && stored) {
    const fresh = o.restart || from === undefined;
    await saveSweepState(s3, resultsBucket, stateKey, {
      etag: stored.etag,
      state: {
        schemaVersion: 1,
        ...(cursor !== undefined ? { cursor } : {}),
        passes,
        passStartedAt: scan.complete ? t : fresh ? t : (prev?.passStartedAt ?? t),
        passMissing: scan.complete ? 0 : passBacklog,
        updatedAt: t,
      },
    });
    stateCalls++;
  }
  return {
    bucket: o.bucket,
    prefix,
    model: o.model,
    listed: scan.listed,
    checked: scan.checked,
    labelled: scan.labelled,
    backlog: scan.missing,
    truncated: !scan.complete,
    from,
    cursor,
    passComplete: scan.complete,
    passes,
    passBacklog,
    requests: { ...scan.requests, state: stateCalls },
    ms: Date.now() - started,
  };
}

/** Options of {@link sweepBacklog}. */
export interface SweepBacklogOptions extends SweepOptions {
  planner?: PlannerOptions;
  /** Objects per Batch manifest part (one part per array child). @default the planner's objects per child */
  partObjects?: number;
}

/**
 * A sweep whose unlabelled objects are worked off: a backlog up to the planner's threshold is
 * enqueued for the SQS worker in full; a larger one is written as a manifest of exactly those keys,
 * in parts, and submitted to AWS Batch as an array job with one child per part
 * (labelling/backlog-dispatch.ts).
 */
export async function sweepBacklog(s3: S3Client, o: SweepBacklogOptions, sinks: BacklogSinks): Promise<SweepReport & DispatchReport> {
  const dispatcher = new BacklogDispatcher(s3, o, sinks);
  const report = await sweep(s3, o, (key) => dispatcher.add(key), async () => {
    await dispatcher.finish();
  });
  return { ...report, ...dispatcher.report() };
}
