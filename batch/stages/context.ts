/**
 * What one batch run's stages share: its settings (defaults resolved once), what it opened (the
 * model, the decode pool, the S3 I/O, the manifest), the stage clocks, and the tallies the
 * progress line and the summary read. {@link openRun} builds it; the stages read it and count
 * each object's outcome through {@link RunContext.record}.
 */
import { performance } from 'node:perf_hooks';

import type { S3Client } from '@aws-sdk/client-s3';

import { InvalidArgumentError } from '../../core/errors.js';
import type { Label, ParentLabel } from '../../core/types.js';
import { DEFAULT_RESULTS_PREFIX } from '../../labelling/label-object.js';
import type { SourceRef } from '../../labelling/results.js';
import { parentSettingsFromEnv, type ParentSettings } from '../../labelling/tags.js';
import { BulkResults, defaultRunId, resultsModeFromEnv, type ResultsMode } from '../bulk/bulk-results.js';
import { codeOf } from '../error-code.js';
import { openBatchClassifier } from '../open-classifier.js';
import type { RetryOptions } from '../s3/retry.js';
import { defaultS3Client } from '../s3/s3-client.js';
import { defaultIoThreads, startObjectIo, type ObjectIo } from '../s3/s3-io.js';
import { ManifestWriter, type ManifestLine } from '../sources/manifest.js';
import { WHOLE, type Shard } from '../sources/shard.js';
import { parseInput, parseS3Uri, type InputSpec, type SourceObject } from '../sources/sources.js';
import { StageClock } from '../stage-clock.js';
import { PreparePool, type Prepared } from '../threads/prepare-pool.js';
import type { BatchClassifier, BatchOptions } from '../types.js';

/** An object on its way through the pipeline. */
export interface Work {
  obj: SourceObject;
  /** Its result's key. */
  rk: string;
  /** When it was listed (`performance.now()`, ms). */
  t0: number;
  src?: SourceRef;
  bytes?: Uint8Array;
  downloadMs?: number;
  prepared?: Prepared;
  error?: { code: string; message: string };
  labels?: Label[];
  parents?: ParentLabel[];
  inferenceMs?: number;
  postprocessMs?: number;
}

/** An object's outcome as the stages report it; the manifest line adds the time and the object. */
export type Outcome = Omit<ManifestLine, 'at' | 'key' | 'bucket'>;

/** The busy time of each stage. */
export interface RunClocks {
  download: StageClock;
  decode: StageClock;
  preprocess: StageClock;
  inference: StageClock;
  write: StageClock;
}

/** What changes while the run goes: counts for the progress line and the summary, and the stop flags. */
export interface RunState {
  counts: { listed: number; done: number; skipped: number; failed: number };
  /** Failed objects left without a result (redone on the next run). */
  unfinished: number;
  failuresByCode: Record<string, number>;
  batches: number;
  tensorsInferred: number;
  retries: number;
  listingDone: boolean;
  /** The source was read to its end (not stopped by an abort). */
  sourceExhausted: boolean;
  /** The grace period after an abort is over: the stages drop what they hold and record nothing more. */
  hardStopped: boolean;
}

/** One run's shared settings, resources and state (see the module comment). */
export interface RunContext {
  readonly opts: BatchOptions;
  readonly log: (m: string) => void;
  /** When the run began (`performance.now()`, ms). */
  readonly started: number;
  readonly spec: InputSpec;
  /** The input is a local folder: results go to `outDir`, the decode workers read the files. */
  readonly local: boolean;
  readonly s3: S3Client | undefined;
  /** The S3 requests per object; set whenever the input is not a local folder. */
  readonly io: ObjectIo | undefined;
  readonly retry: RetryOptions;
  readonly classifier: BatchClassifier;
  readonly ep: string;
  /** The model id written into results. */
  readonly model: string;
  /** Tensors per inference. */
  readonly maxBatch: number;
  readonly downloads: number;
  readonly writers: number;
  readonly inferConcurrency: number;
  /** How long the batcher waits to fill a batch, in ms. */
  readonly batchWaitMs: number;
  readonly top: number;
  /** Parent threshold and parent tags (MIN_CONFIDENCE, TAG_PARENTS). */
  readonly parentSettings: ParentSettings;
  readonly resultsPrefix: string;
  readonly outDir: string;
  readonly tags: boolean;
  readonly shard: Shard;
  /** Lower-case extensions without the dot, or undefined for all. */
  readonly extensions: string[] | undefined;
  readonly producer: 'batch';
  readonly pool: PreparePool;
  readonly manifest: ManifestWriter | undefined;
  /** Where results go. */
  readonly results: ResultsMode;
  /** This child's bulk result parts; set when `results` is `shard`. */
  readonly bulk: BulkResults | undefined;
  readonly clocks: RunClocks;
  readonly state: RunState;
  /** Counts an object's outcome and appends its manifest line (nothing once hard-stopped). */
  readonly record: (w: Work, line: Outcome) => void;
}

function envNumber(name: string): number | undefined {
  const v = process.env[name];
  return v === undefined || v === '' || !Number.isFinite(Number(v)) ? undefined : Number(v);
}

/**
 * The bucket of bulk result parts: --results-bucket / RESULTS_BUCKET, else the bucket of an S3
 * prefix input, of --bucket, or of a backlog.json (which the sweep writes in the results bucket).
 * @throws InvalidArgumentError for a local folder, with --force, or when no bucket can be told
 */
function bulkResultsBucket(opts: BatchOptions, spec: InputSpec): string {
  if (spec.kind === 'local') throw new InvalidArgumentError('--results shard writes result parts to S3; a local folder input has per-object results in --out only.');
  if (opts.force) throw new InvalidArgumentError('--force does not apply to --results shard: pass a new --run-id to label every object again.');
  const bucket =
    opts.resultsBucket ??
    (process.env.RESULTS_BUCKET || undefined) ??
    (spec.kind === 's3-prefix' ? spec.bucket : undefined) ??
    opts.bucket ??
    (spec.kind === 'backlog' ? parseS3Uri(spec.location)?.bucket : undefined);
  if (!bucket) throw new InvalidArgumentError(`--results shard needs a bucket for the result parts of ${opts.input}; pass --results-bucket.`);
  return bucket;
}

/**
 * Resolves the run's settings and opens what it needs: the classifier (given, or with the first
 * execution provider that works), the decode pool, the manifest, then the S3 I/O threads.
 * @throws configuration errors (unknown model, bad input) before any object is processed
 */
export async function openRun(opts: BatchOptions): Promise<RunContext> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`[batch] ${m}\n`));
  const started = performance.now();
  const spec = parseInput(opts.input, opts.inputKind ?? 'auto');
  const local = spec.kind === 'local';
  const s3 = local && !opts.s3 ? undefined : (opts.s3 ?? defaultS3Client());
  const retry: RetryOptions = {
    ...opts.retry,
    onRetry: (err, attempt, delay) => {
      const retries = ++state.retries;
      if (retries <= 5 || retries % 100 === 0) log(`retry ${attempt} in ${Math.round(delay)} ms after ${codeOf(err).message.slice(0, 160)} (${retries} retries so far)`);
      opts.retry?.onRetry?.(err, attempt, delay);
    },
  };
  const state: RunState = {
    counts: { listed: 0, done: 0, skipped: 0, failed: 0 },
    unfinished: 0,
    failuresByCode: {},
    batches: 0,
    tensorsInferred: 0,
    retries: 0,
    listingDone: false,
    sourceExhausted: false,
    hardStopped: false,
  };

  const results: ResultsMode = opts.results ?? resultsModeFromEnv();
  const shard = opts.shard ?? WHOLE;
  const resultsPrefix = opts.resultsPrefix ?? process.env.RESULTS_PREFIX ?? DEFAULT_RESULTS_PREFIX;
  const bulkBucket = results === 'shard' ? bulkResultsBucket(opts, spec) : undefined;

  const { classifier, ep } = await openBatchClassifier(opts, log);
  const gpu = ep === 'cuda' || ep === 'webgpu';
  const model = classifier.modelId;
  const maxBatch = classifier.maxBatch === null ? Math.max(1, opts.batchSize ?? (gpu ? 64 : 16)) : classifier.maxBatch;
  const downloads = Math.max(1, opts.downloads ?? 16);
  const writers = Math.max(1, opts.writers ?? 8);
  const inferConcurrency = Math.max(1, opts.inferConcurrency ?? (gpu ? 2 : 1));
  const top = opts.top ?? envNumber('TOP_K') ?? 5;
  const parentSettings = parentSettingsFromEnv();
  const tenCrop = opts.tenCrop ?? false;
  const outDir = opts.outDir ?? 'resnet-results';
  const tags = opts.tags ?? true;
  const extensions = opts.extensions?.map((e) => e.toLowerCase().replace(/^\./, ''));
  const batchWaitMs = opts.batchWaitMs ?? (gpu ? 50 : 1000);

  let bulk: BulkResults | undefined;
  if (bulkBucket !== undefined) {
    try {
      bulk = await BulkResults.open(s3!, {
        bucket: bulkBucket,
        resultsPrefix,
        model,
        runId: opts.runId ?? (process.env.RESULTS_RUN_ID || defaultRunId(opts.input, shard.count)),
        input: opts.input,
        shard,
        retry,
        log,
        ...(opts.partObjects !== undefined ? { partObjects: opts.partObjects } : {}),
      });
    } catch (err) {
      if (!opts.classifier) await classifier.dispose();
      throw err;
    }
  }

  const pool = await PreparePool.start({
    cfg: classifier.preprocessConfig,
    tenCrop,
    inThread: (bytes, o) => classifier.prepare(bytes, o),
    nice: opts.decodeNice ?? (gpu ? 0 : 19),
    log,
    ...(opts.workers !== undefined ? { workers: opts.workers } : {}),
    ...(opts.maxPixels !== undefined ? { maxPixels: opts.maxPixels } : {}),
  });
  const manifest = opts.manifestPath ? await ManifestWriter.open(opts.manifestPath) : undefined;
  // Started last, so that a failed set-up above leaves no I/O threads behind.
  const io = s3 ? await startObjectIo(s3, opts.ioThreads ?? (opts.s3 ? 0 : defaultIoThreads()), log) : undefined;
  log(
    `model ${model} on ${ep}; batch ${maxBatch}${classifier.maxBatch === 1 ? ' (fixed-batch model)' : ''}; ` +
      `${pool.mode === 'workers' ? `${pool.size} decode workers${pool.niced ? ' (niced)' : ''}` : 'decoding in the main thread'}; ${downloads} downloads${io ? `, S3 requests on ${io.threads > 0 ? `${io.threads} I/O threads` : 'the main thread'}` : ''}; ` +
      `shard ${shard.index}/${shard.count}; input ${spec.kind} ${opts.input}${bulk ? `; results in parts under ${bulk.location}` : ''}`,
  );

  const record = (w: Work, line: Outcome): void => {
    if (state.hardStopped) return;
    if (line.status === 'failed') state.failuresByCode[line.code ?? 'INTERNAL'] = (state.failuresByCode[line.code ?? 'INTERNAL'] ?? 0) + 1;
    state.counts[line.status]++;
    if (line.status === 'failed' && line.result === undefined) state.unfinished++;
    manifest?.append({ ...(w.obj.bucket ? { bucket: w.obj.bucket } : {}), key: w.obj.key, ...line });
  };

  return {
    opts,
    log,
    started,
    spec,
    local,
    s3,
    io,
    retry,
    classifier,
    ep,
    model,
    maxBatch,
    downloads,
    writers,
    inferConcurrency,
    batchWaitMs,
    top,
    parentSettings,
    resultsPrefix,
    outDir,
    tags,
    shard,
    extensions,
    producer: 'batch',
    pool,
    manifest,
    results,
    bulk,
    clocks: {
      // A local folder's files are read by the decode workers.
      download: new StageClock(local ? Math.max(1, pool.size) : downloads),
      decode: new StageClock(Math.max(1, pool.size)),
      preprocess: new StageClock(Math.max(1, pool.size)),
      inference: new StageClock(inferConcurrency),
      write: new StageClock(writers),
    },
    state,
    record,
  };
}
