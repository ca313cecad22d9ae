/**
 * Finds the objects under a prefix that have no result object for a model, by walking two
 * listings side by side: the source keys (from a start key, within a budget) and the result keys
 * derived from them. Memory does not grow with the bucket: one page of each listing and the few
 * keys {@link ResultOrder} holds back, never a set of keys.
 *
 * An object counts as labelled when its result object exists (labelling/results.ts): the labellers
 * write it last, after the tags, as the commit marker, so it is present only when the work is done.
 * Tags are not read: they cannot be listed, and S3 Inventory has no tag field.
 *
 * Result keys too long for S3 (hashed into `_long/`, see `resultKey`) and the keys still held
 * back when the budget ends are checked with one HeadObject each.
 */
import { HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';

import { s3Call, s3ErrorName, s3StatusOf } from './errors.js';
import { compareKeys, RESULT_SUFFIX, ResultOrder } from './key-order.js';
import { resultKey } from './results.js';

/** S3's longest key, in bytes of UTF-8. */
const MAX_KEY_BYTES = 1024;

/** Where to look and how far to go in one scan. */
export interface ScanOptions {
  bucket: string;
  /** Source key prefix. @default '' */
  prefix?: string;
  model: string;
  /** @default the source bucket */
  resultsBucket?: string;
  resultsPrefix: string;
  /** List source keys after this one (the cursor a previous scan returned). */
  startAfter?: string;
  /** Source keys listed at most (the listing budget). */
  maxList: number;
  /** Stop listing at this time, in ms since the epoch (the time budget). */
  deadline?: number;
  /** Keys per ListObjectsV2 page (S3's maximum is 1,000). @default 1000 */
  pageSize?: number;
  signal?: AbortSignal;
}

/** S3 requests a scan made. */
export interface ScanRequests {
  list: number;
  head: number;
}

/** What one scan covered and found. */
export interface ScanResult {
  /** Source keys listed (folder markers and our own outputs included). */
  listed: number;
  /** Objects compared (listed minus folder markers and our own outputs). */
  checked: number;
  labelled: number;
  missing: number;
  /** The last source key listed: the next scan starts after it. Undefined when nothing was listed. */
  lastKey: string | undefined;
  /** The listing reached the end of the prefix. */
  complete: boolean;
  requests: ScanRequests;
}

/** A forward-only reader of the result listing that answers "does this result key exist?" for keys in ascending order. */
class ResultCursor {
  private page: string[] = [];
  private at = 0;
  private token: string | undefined;
  private started = false;
  private done = false;

  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
    private readonly startAfter: string | undefined,
    private readonly pageSize: number,
    private readonly requests: ScanRequests,
  ) {}

  /** Whether `rk` is in the listing; keys must be asked in ascending order. */
  async has(rk: string): Promise<boolean> {
    for (;;) {
      while (this.at < this.page.length) {
        const c = compareKeys(this.page[this.at]!, rk);
        if (c === 0) return true;
        if (c > 0) return false;
        this.at++;
      }
      if (this.done) return false;
      await this.next();
    }
  }

  private async next(): Promise<void> {
    const out = await s3Call(`ListObjectsV2 s3://${this.bucket}/${this.prefix}`, () =>
      this.s3.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: this.prefix,
          MaxKeys: this.pageSize,
          ...(this.started ? { ContinuationToken: this.token } : this.startAfter !== undefined ? { StartAfter: this.startAfter } : {}),
        }),
      ),
    );
    this.requests.list++;
    this.started = true;
    this.page = (out.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [o.Key]));
    this.at = 0;
    this.token = out.IsTruncated ? out.NextContinuationToken : undefined;
    this.done = this.token === undefined;
  }
}

async function resultExists(s3: S3Client, bucket: string, key: string, requests: ScanRequests): Promise<boolean> {
  try {
    requests.head++;
    await s3Call(`HeadObject s3://${bucket}/${key}`, () => s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })));
    return true;
  } catch (err) {
    if (s3StatusOf(err) === 404 || s3ErrorName(err) === 'NotFound' || s3ErrorName(err) === 'NoSuchKey') return false;
    throw err;
  }
}

/**
 * Scans source keys after `startAfter` until the prefix ends or a budget is spent, and calls
 * `onMissing` for each object without a result for the model (in result-key order; each once).
 * Transient S3 failures throw `TransientStorageError` (nothing is reported as missing twice by a
 * later retry of the same range, since a caller saves its cursor only after a scan succeeds).
 */
export async function findUnlabelled(s3: S3Client, o: ScanOptions, onMissing: (key: string) => void | Promise<void>): Promise<ScanResult> {
  const prefix = o.prefix ?? '';
  const resultsBucket = o.resultsBucket ?? o.bucket;
  const base = `${o.resultsPrefix}${o.model}/${o.bucket}/`;
  const pageSize = Math.max(1, Math.min(1000, o.pageSize ?? 1000));
  const requests: ScanRequests = { list: 0, head: 0 };
  const results = new ResultCursor(s3, resultsBucket, base + prefix, o.startAfter === undefined ? undefined : base + o.startAfter, pageSize, requests);
  const order = new ResultOrder();
  const r: ScanResult = { listed: 0, checked: 0, labelled: 0, missing: 0, lastKey: undefined, complete: false, requests };
  const ownOutputs = resultsBucket === o.bucket && o.resultsPrefix !== '' ? o.resultsPrefix : undefined;

  const decide = async (key: string, labelled: boolean): Promise<void> => {
    if (labelled) r.labelled++;
    else {
      r.missing++;
      await onMissing(key);
    }
  };
  const mergeDue = async (keys: readonly string[]): Promise<void> => {
    for (const key of keys) await decide(key, await results.has(base + key + RESULT_SUFFIX));
  };

  let token: string | undefined;
  let first = true;
  let stopped = false;
  while (!stopped) {
    const budget = o.maxList - r.listed;
    const out = await s3Call(`ListObjectsV2 s3://${o.bucket}/${prefix}`, () =>
      s3.send(
        new ListObjectsV2Command({
          Bucket: o.bucket,
          Prefix: prefix,
          MaxKeys: Math.min(pageSize, budget),
          ...(first ? (o.startAfter !== undefined ? { StartAfter: o.startAfter } : {}) : { ContinuationToken: token }),
        }),
      ),
    );
    requests.list++;
    first = false;
    for (const obj of out.Contents ?? []) {
      const key = obj.Key;
      if (key === undefined) continue;
      r.listed++;
      r.lastKey = key;
      if (key.endsWith('/') || (ownOutputs !== undefined && key.startsWith(ownOutputs))) continue;
      r.checked++;
      if (Buffer.byteLength(base + key + RESULT_SUFFIX, 'utf8') > MAX_KEY_BYTES) {
        await decide(key, await resultExists(s3, resultsBucket, resultKey(o.resultsPrefix, o.bucket, key, o.model), requests));
        continue;
      }
      await mergeDue(order.push(key));
    }
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
    if (token === undefined) {
      r.complete = true;
      stopped = true;
    } else if (r.listed >= o.maxList || (o.deadline !== undefined && Date.now() >= o.deadline) || o.signal?.aborted) {
      stopped = true;
    }
  }
  if (r.complete) await mergeDue(order.drain());
  else {
    // Later keys (not listed in this run) could still overtake these in result order; looking
    // them up one by one keeps the result listing from running ahead into the next run's range.
    for (const key of order.drain()) await decide(key, await resultExists(s3, resultsBucket, base + key + RESULT_SUFFIX, requests));
  }
  return r;
}
