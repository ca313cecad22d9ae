/**
 * Bulk results (`resnet batch --results shard`): instead of a result object and tags per image,
 * each array child appends one JSON line per object to gzip-compressed JSONL parts,
 *
 *   `<resultsPrefix>_bulk/<model>/<run id>/child-<i>-part-<j>.jsonl.gz`
 *
 * one PutObject per part (at most `partObjects` lines or `partBytes` of JSON before compression),
 * so a labelled image costs its one GetObject and a share of one PUT, not six requests. Athena
 * reads the parts with its JSON SerDe (docs/scale.md). Failed images get a line with their error
 * code; objects left without a result (storage down, a part that could not be written) get none
 * and are redone by the next run.
 *
 * **What marks an object finished**: a line in a part that exists. A part is one PutObject, whole
 * or absent, written only after every line in it is final. A rerun of child i lists its own parts
 * (`child-<i>-part-`), reads their keys and skips them; new parts continue the numbering. The
 * keys are held in memory for the run: a child's share (the planner's ~1M objects per child is
 * about 100 MB of key strings), never the bucket's. The run's descriptor,
 * `<resultsPrefix>_bulk/_runs/<model>/<run id>.json` (outside the parts' folder, which Athena
 * reads whole), records the input and the array size; a rerun with another array size would
 * assign keys to other children and write them twice, so it is refused.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';

import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';

import { InvalidArgumentError } from '../../core/errors.js';
import { s3Call, s3ErrorName } from '../../labelling/errors.js';
import { resultLine, type ResultDoc } from '../../labelling/results.js';
import { withRetry, type RetryOptions } from '../s3/retry.js';
import type { Shard } from '../sources/shard.js';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** Where a run's results go: a result object and tags per image, or JSONL parts per array child. */
export type ResultsMode = 'per-object' | 'shard';

/** The result modes, for the CLI's choices. */
export const RESULTS_MODES: readonly ResultsMode[] = ['per-object', 'shard'];

/**
 * The mode named by `RESULTS_MODE` (the Batch job definition's way to set it), `per-object` when unset.
 * @throws InvalidArgumentError for any other value
 */
export function resultsModeFromEnv(env: NodeJS.ProcessEnv = process.env): ResultsMode {
  const v = env.RESULTS_MODE;
  if (v === undefined || v === '') return 'per-object';
  if ((RESULTS_MODES as readonly string[]).includes(v)) return v as ResultsMode;
  throw new InvalidArgumentError(`RESULTS_MODE must be one of ${RESULTS_MODES.join(', ')}, got "${v}".`);
}

/** Lines per part before it is written. @default 100,000 (about 10 MB compressed with 5 labels and parents) */
export const DEFAULT_PART_OBJECTS = 100_000;
/** JSON bytes per part (before compression) before it is written: 64 MiB. */
export const DEFAULT_PART_BYTES = 64 * 1024 * 1024;

/** `<resultsPrefix>_bulk/<model>/<runId>/` */
export function bulkRunPrefix(resultsPrefix: string, model: string, runId: string): string {
  return `${resultsPrefix}_bulk/${model}/${runId}/`;
}

/** Key of part `part` of child `child` under a run prefix. */
export function bulkPartKey(runPrefix: string, child: number, part: number): string {
  return `${runPrefix}child-${child}-part-${String(part).padStart(5, '0')}.jsonl.gz`;
}

/**
 * The run id when none is given: a hash of the input and the array size, so that a rerun of the
 * same command (or AWS Batch's retry of a child) continues the same run.
 */
export function defaultRunId(input: string, shardCount: number): string {
  return `run-${createHash('sha256').update(`${input}\n${shardCount}`, 'utf8').digest('hex').slice(0, 12)}`;
}

/** Key of a run's descriptor (see the module comment). */
export function bulkRunDescriptorKey(resultsPrefix: string, model: string, runId: string): string {
  return `${resultsPrefix}_bulk/_runs/${model}/${runId}.json`;
}

/** What the run's descriptor records. */
interface RunDescriptor {
  format: 'resnet-bulk-results/1';
  input: string;
  model: string;
  children: number;
}

/** Called once per object when its line is in a written part (`where`), or could not be written (`err`). */
export type CommitCallback = (where: string | null, err?: unknown) => void;

interface OpenPart {
  lines: string[];
  bytes: number;
  callbacks: CommitCallback[];
}

/** Options of {@link BulkResults.open}. */
export interface BulkResultsOptions {
  /** Bucket the parts go to. */
  bucket: string;
  resultsPrefix: string;
  model: string;
  runId: string;
  /** The run's input, recorded in the run's descriptor. */
  input: string;
  shard: Shard;
  /** @default {@link DEFAULT_PART_OBJECTS} */
  partObjects?: number;
  /** @default {@link DEFAULT_PART_BYTES} */
  partBytes?: number;
  retry?: RetryOptions;
  /** Progress lines. @default none */
  log?: (m: string) => void;
}

/** One child's bulk result parts (see the module comment). */
export class BulkResults {
  private current: OpenPart = { lines: [], bytes: 0, callbacks: [] };
  private readonly inFlight = new Set<Promise<void>>();
  /** Parts this run wrote. */
  partsWritten = 0;

  private constructor(
    private readonly s3: S3Client,
    private readonly o: BulkResultsOptions & { partObjects: number; partBytes: number },
    /** `s3://bucket/<run prefix>` */
    readonly location: string,
    private readonly runPrefix: string,
    private readonly finished: Set<string>,
    private nextPart: number,
    /** Parts that earlier runs of this child wrote. */
    readonly partsFound: number,
  ) {}

  /**
   * Checks the run's descriptor (writing it when absent), then reads the keys of this child's
   * finished parts.
   * @throws InvalidArgumentError when the run was started with another array size or input
   */
  static async open(s3: S3Client, opts: BulkResultsOptions): Promise<BulkResults> {
    const o = { ...opts, partObjects: Math.max(1, opts.partObjects ?? DEFAULT_PART_OBJECTS), partBytes: Math.max(1, opts.partBytes ?? DEFAULT_PART_BYTES) };
    const runPrefix = bulkRunPrefix(o.resultsPrefix, o.model, o.runId);
    const location = `s3://${o.bucket}/${runPrefix}`;
    await checkDescriptor(s3, o, location);

    const finished = new Set<string>();
    const own = `${runPrefix}child-${o.shard.index}-part-`;
    let next = 0;
    let found = 0;
    let token: string | undefined;
    do {
      const page = await withRetry(() => s3Call(`ListObjectsV2 s3://${o.bucket}/${own}`, () => s3.send(new ListObjectsV2Command({ Bucket: o.bucket, Prefix: own, ContinuationToken: token }))), o.retry);
      for (const c of page.Contents ?? []) {
        const m = /-part-(\d+)\.jsonl\.gz$/.exec(c.Key ?? '');
        if (!m) continue;
        found++;
        next = Math.max(next, Number(m[1]) + 1);
        for (const id of await readPartIds(s3, o.bucket, c.Key!, o.retry)) finished.add(id);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    if (found > 0) o.log?.(`bulk results: ${finished.size} objects already in ${found} parts of ${location}child-${o.shard.index}-*; they are skipped`);
    return new BulkResults(s3, o, location, runPrefix, finished, next, found);
  }

  /** Whether an earlier run of this child already wrote the object's line. */
  isFinished(bucket: string, key: string): boolean {
    return this.finished.has(objectId(bucket, key));
  }

  /**
   * Adds an object's line to the open part; `done` is called once the part is written (or failed
   * to be). When the part is full it is written now and the returned promise waits for it, which
   * holds back the caller (backpressure) while the next part fills.
   */
  async add(doc: ResultDoc, done: CommitCallback): Promise<void> {
    const line = `${resultLine(doc)}\n`;
    const part = this.current;
    part.lines.push(line);
    part.bytes += Buffer.byteLength(line);
    part.callbacks.push(done);
    if (part.lines.length >= this.o.partObjects || part.bytes >= this.o.partBytes) await this.flush();
  }

  /** Writes the open part, if it has lines. */
  private flush(): Promise<void> {
    const part = this.current;
    if (part.lines.length === 0) return Promise.resolve();
    this.current = { lines: [], bytes: 0, callbacks: [] };
    const key = bulkPartKey(this.runPrefix, this.o.shard.index, this.nextPart++);
    const p = this.write(key, part).finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
    return p;
  }

  private async write(key: string, part: OpenPart): Promise<void> {
    const where = `s3://${this.o.bucket}/${key}`;
    try {
      const body = await gzipAsync(Buffer.from(part.lines.join('')));
      await withRetry(
        () => s3Call(`PutObject ${where}`, () => this.s3.send(new PutObjectCommand({ Bucket: this.o.bucket, Key: key, Body: body, ContentType: 'application/x-ndjson', ContentEncoding: 'gzip' }))),
        this.o.retry,
      );
      this.partsWritten++;
      for (const cb of part.callbacks) cb(where);
    } catch (err) {
      this.o.log?.(`bulk results: ${where} could not be written (${err instanceof Error ? err.message : String(err)}); its ${part.lines.length} objects are redone by the next run`);
      for (const cb of part.callbacks) cb(null, err);
    }
  }

  /** Writes the open part and waits for every part in flight. */
  async close(): Promise<void> {
    await this.flush();
    await Promise.all([...this.inFlight]);
  }
}

function objectId(bucket: string, key: string): string {
  return `${bucket}\n${key}`;
}

async function readBody(s3: S3Client, bucket: string, key: string, retry: RetryOptions | undefined): Promise<Buffer | null> {
  return withRetry(async () => {
    try {
      const res = await s3Call(`GetObject s3://${bucket}/${key}`, () => s3.send(new GetObjectCommand({ Bucket: bucket, Key: key })));
      const chunks: Buffer[] = [];
      for await (const c of res.Body as Readable) chunks.push(Buffer.from(c as Uint8Array));
      return Buffer.concat(chunks);
    } catch (err) {
      if (s3ErrorName(err) === 'NoSuchKey') return null;
      throw err;
    }
  }, retry);
}

/** The objects (bucket and key) of one part. */
async function readPartIds(s3: S3Client, bucket: string, key: string, retry: RetryOptions | undefined): Promise<string[]> {
  const body = await readBody(s3, bucket, key, retry);
  if (body === null) return [];
  const ids: string[] = [];
  for (const line of (await gunzipAsync(body)).toString('utf8').split('\n')) {
    if (line === '') continue;
    const v = JSON.parse(line) as { bucket?: unknown; key?: unknown };
    if (typeof v.bucket === 'string' && typeof v.key === 'string') ids.push(objectId(v.bucket, v.key));
  }
  return ids;
}

async function checkDescriptor(s3: S3Client, o: BulkResultsOptions, location: string): Promise<void> {
  const key = bulkRunDescriptorKey(o.resultsPrefix, o.model, o.runId);
  const mine: RunDescriptor = { format: 'resnet-bulk-results/1', input: o.input, model: o.model, children: o.shard.count };
  const body = await readBody(s3, o.bucket, key, o.retry);
  if (body === null) {
    await withRetry(
      () => s3Call(`PutObject s3://${o.bucket}/${key}`, () => s3.send(new PutObjectCommand({ Bucket: o.bucket, Key: key, Body: `${JSON.stringify(mine, null, 2)}\n`, ContentType: 'application/json' }))),
      o.retry,
    );
    return;
  }
  const theirs = JSON.parse(body.toString('utf8')) as Partial<RunDescriptor>;
  if (theirs.children !== mine.children || theirs.input !== mine.input) {
    throw new InvalidArgumentError(
      `Bulk run ${location} was started over ${String(theirs.input)} with ${String(theirs.children)} children; this run is over ${mine.input} with ${mine.children}. ` +
        'Rerun it with the same input and array size to continue it, or pass a new --run-id to start another run.',
    );
  }
}
