/**
 * Where a sweep left off: a small JSON object in the results bucket, one per (model, bucket,
 * prefix), so that each budgeted sweep resumes after the last key the previous one listed and
 * successive sweeps cover the whole prefix. Written with a conditional PUT (`If-Match` on the
 * ETag read, `If-None-Match: *` for the first), so two sweeps that overlap cannot both move the
 * cursor: the later one fails with {@link SweepConflictError} and its range is swept again.
 *
 * Layout: `<resultsPrefix>_sweep/<model>/<bucket>/state-<sha256(prefix), 16 hex>.json`. Under the
 * results prefix, so the labellers never take it for an image; `_sweep` cannot be a bucket name,
 * so it never meets a model's results (`<resultsPrefix><model>/<bucket>/...`) of a model named otherwise.
 */
import { createHash } from 'node:crypto';

import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';

import { s3Call, s3ErrorName, s3StatusOf } from './errors.js';

/** Folder (under the results prefix) of the sweep's own objects: cursors and backlog manifests. */
export const SWEEP_FOLDER = '_sweep/';

/** The stored progress of the sweeps over one prefix. */
export interface SweepState {
  schemaVersion: 1;
  /** Start the next sweep after this key; absent: from the beginning of the prefix. */
  cursor?: string;
  /** Completed passes over the whole prefix. */
  passes: number;
  /** When the current pass began (ISO 8601). */
  passStartedAt: string;
  /** Unlabelled objects found so far in the current pass. */
  passMissing: number;
  /** ISO 8601 time of the last write. */
  updatedAt: string;
}

/** A state read from S3 with the ETag to write it back against. */
export interface StoredSweepState {
  state: SweepState;
  /** The object's ETag, or undefined when there was none yet. */
  etag: string | undefined;
}

/** Another sweep moved the cursor since this one read it; this sweep's range is swept again. */
export class SweepConflictError extends Error {
  readonly code = 'SWEEP_CONFLICT';
  constructor(readonly key: string, cause: unknown) {
    super(`The sweep state s3://…/${key} changed while this sweep ran (two sweeps of one prefix overlapped); this sweep's cursor was not saved and the next sweep covers its range again.`, { cause });
    this.name = 'SweepConflictError';
  }
}

/** Key of the state object of the sweeps of `bucket`/`prefix` for `model`. */
export function sweepStateKey(resultsPrefix: string, model: string, bucket: string, prefix: string): string {
  const id = createHash('sha256').update(prefix, 'utf8').digest('hex').slice(0, 16);
  return `${resultsPrefix}${SWEEP_FOLDER}${model}/${bucket}/state-${id}.json`;
}

/** A state for a prefix never swept. */
export function freshSweepState(now: Date): SweepState {
  return { schemaVersion: 1, passes: 0, passStartedAt: now.toISOString(), passMissing: 0, updatedAt: now.toISOString() };
}

/** Reads the state, or a fresh one when there is none (or it is not a state we wrote). */
export async function loadSweepState(s3: S3Client, bucket: string, key: string, now = new Date()): Promise<StoredSweepState> {
  try {
    const out = await s3Call(`GetObject s3://${bucket}/${key}`, () => s3.send(new GetObjectCommand({ Bucket: bucket, Key: key })));
    const text = (await out.Body?.transformToString('utf8')) ?? '';
    let state: SweepState | undefined;
    try {
      const v = JSON.parse(text) as Partial<SweepState>;
      if (v.schemaVersion === 1 && typeof v.passes === 'number') state = v as SweepState;
    } catch {
      state = undefined;
    }
    return { state: state ?? freshSweepState(now), etag: out.ETag };
  } catch (err) {
    if (s3ErrorName(err) === 'NoSuchKey' || s3StatusOf(err) === 404) return { state: freshSweepState(now), etag: undefined };
    throw err;
  }
}

/**
 * Writes the state if nobody else did since it was read.
 * @throws SweepConflictError when the conditional PUT fails (412, or 409 for a concurrent write)
 */
export async function saveSweepState(s3: S3Client, bucket: string, key: string, stored: StoredSweepState): Promise<void> {
  try {
    await s3Call(`PutObject s3://${bucket}/${key}`, () =>
      s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: `${JSON.stringify(stored.state, null, 2)}\n`,
          ContentType: 'application/json',
          ...(stored.etag === undefined ? { IfNoneMatch: '*' } : { IfMatch: stored.etag }),
        }),
      ),
    );
  } catch (err) {
    const status = s3StatusOf(err);
    if (status === 412 || status === 409 || s3ErrorName(err) === 'PreconditionFailed') throw new SweepConflictError(key, err);
    throw err;
  }
}
