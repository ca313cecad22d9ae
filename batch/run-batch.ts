/**
 * The batch worker: labels a backlog of images with bounded memory, keeping the accelerator
 * busy. Stages, each joined to the next by a bounded queue (backpressure all the way up to the
 * listing):
 *
 *   source (listing / manifest / folder, sharded) → fetch (skip check + download, N concurrent)
 *   → prepare (decode + preprocess on worker threads) → batcher + inference → write (tags, then
 *   the result object as commit marker) → manifest line.
 *
 * Results and tags are built and written with the same shared functions as the s3-tagger
 * (`functions/shared/`), so both produce the same bytes for the same image and model (apart from
 * the volatile fields: timings, time of writing, producer).
 */
import { performance } from 'node:perf_hooks';

import { S3Client } from '@aws-sdk/client-s3';

import { Classifier } from '../core/classifier.js';
import type { SessionOptions } from '../core/session.js';
import { FileNotFoundError, ResnetError } from '../core/errors.js';
import type { Label } from '../core/types.js';
import { TransientStorageError } from '../labelling/errors.js';
import { DEFAULT_MAX_BYTES, DEFAULT_RESULTS_PREFIX } from '../labelling/label-object.js';
import {
  buildErrorResult,
  buildResult,
  decideWrite,
  resultKey,
  type ResultDoc,
  type ResultTimings,
  type SourceRef,
} from '../labelling/results.js';
import { openWithProvider, type EpChoice } from './ep.js';
import { LOCAL_BUCKET, localResultIsCurrent, localSource, readLocalResult, writeLocalResult } from './local-results.js';
import { ManifestWriter, type ManifestLine } from './manifest.js';
import { PreparePool, UnreadableFileError, type Prepared } from './prepare-pool.js';
import { createProgress, type ProgressOptions, type ProgressSnapshot } from './progress.js';
import { InferenceThread } from './infer-thread.js';
import { BoundedQueue, pumpStage } from './queue.js';
import { withRetry, type RetryOptions } from './retry.js';
import { defaultS3Client } from './s3-client.js';
import { defaultIoThreads, inlineObjectIo, S3IoThreads, type ObjectIo } from './s3-io.js';
import { inShard, WHOLE, type Shard } from './shard.js';
import { openSource, parseInput, type InputSpec, type SourceObject } from './sources.js';
import { threadBusyMeter } from './thread-cpu.js';

/** What {@link runBatch} needs from the core's `Classifier` (structural, so benches can wrap it). */
export type BatchClassifier = Pick<Classifier, 'modelId' | 'maxBatch' | 'preprocessConfig' | 'prepare' | 'infer' | 'labelsFor' | 'dispose'>;

/** Options of {@link runBatch}. */
export interface BatchOptions {
  /** `s3://bucket/prefix/`, a manifest (`.jsonl`/`.csv`, local or `s3://`), an inventory `manifest.json`, or a local folder. */
  input: string;
  /** Force the input kind instead of guessing from its name. @default 'auto' */
  inputKind?: 'auto' | InputSpec['kind'];
  /** Bucket for manifest lines that name none. */
  bucket?: string;
  /** Zoo id or `.onnx` path (see `Classifier.load`). Ignored when `classifier` is given. */
  model?: string;
  /** Labels file for a user's model. */
  labels?: string;
  /** Display id written into results. @default the zoo id or the file's base name */
  modelId?: string;
  /** Model cache folder. */
  cacheDir?: string;
  /** Download a zoo model that is not cached. @default false */
  download?: boolean;
  /** A classifier already loaded (benchmarks, tests); not disposed by the run. */
  classifier?: BatchClassifier;
  /** Execution provider (with `classifier`: the label of the one it was opened with). @default 'auto' (CUDA, then WebGPU, then CPU) */
  ep?: EpChoice;
  /** onnxruntime intra-op threads. @default all cores */
  threads?: number;
  /**
   * Let onnxruntime's intra-op threads busy-wait between operators. Off by default here: the decode
   * workers share the same cores, and every millisecond an idle inference thread spins is taken
   * from decoding (measured on 2 cores: 10-35 % more CPU per image at batch 1-4 under load).
   * @default false
   */
  allowSpinning?: boolean;
  /** Tensors per inference for dynamic-batch models (fixed-batch models always use 1). @default 16 on CPU, 64 on a GPU */
  batchSize?: number;
  /**
   * How long the batcher waits to fill a batch once it has one image, in ms. When inference is the
   * bottleneck batches fill at once; when decoding is, inference would idle anyway, so waiting costs
   * no throughput and saves per-call overhead (thread-pool wake-ups, GPU launches). On the CPU the
   * wait is longer: inference and decoding share the cores, so an inference started on a part batch
   * takes CPU from the decoders and costs more per image than a full one (ResNet-50 on 2 cores: about
   * 150 CPU-ms per image at batch 4, 115-130 at batch 16).
   * @default 50 on a GPU, 1000 on the CPU
   */
  batchWaitMs?: number;
  /** Inferences in flight at once (2 lets a GPU overlap copies with compute). @default 1 on CPU, 2 on a GPU */
  inferConcurrency?: number;
  /**
   * Run onnxruntime in its own worker thread ({@link InferenceThread}). onnxruntime-node's `run`
   * holds its thread for the whole graph; on the main thread it starves the decode workers of jobs
   * (no dispatch while a batch runs), so decode and inference take turns instead of overlapping.
   * Off only for comparisons. Ignored when `classifier` is given. @default true
   */
  inferenceThread?: boolean;
  /** Decode/preprocess worker threads; 0 prepares in the main thread. @default one per core */
  workers?: number;
  /**
   * Niceness of the decode workers (Linux). On the CPU they share the cores with onnxruntime's
   * intra-op threads; at normal priority they preempt those mid-operator and the rest of the
   * operator waits. Niced, they fill the gaps and still take every idle core (when inference waits
   * for them it is idle). 0 turns it off. @default 19 (the lowest priority) on the CPU, 0 on a GPU
   */
  decodeNice?: number;
  /** Concurrent downloads (and result checks). @default 16 */
  downloads?: number;
  /** Concurrent result/tag writes. @default 8 */
  writers?: number;
  /** Labels per image (result and tags). @default 5 (env TOP_K) */
  top?: number;
  /** Ten-crop test-time augmentation. @default false */
  tenCrop?: boolean;
  /** Largest image in pixels. @default decoder default (env RESNET_MAX_PIXELS) */
  maxPixels?: number;
  /** Largest object downloaded, in bytes. @default 50 MiB */
  maxBytes?: number;
  /** Bucket for results. @default the source bucket (env RESULTS_BUCKET) */
  resultsBucket?: string;
  /** Results prefix. @default 'resnet-results/' (env RESULTS_PREFIX) */
  resultsPrefix?: string;
  /** Write S3 object tags. @default true */
  tags?: boolean;
  /** Output folder for results of a local-folder input. @default './resnet-results' */
  outDir?: string;
  /** Label again even when a current result exists. @default false */
  force?: boolean;
  /** This worker's shard. @default the whole backlog */
  shard?: Shard;
  /** Only keys with these extensions (lower case, no dot). @default all keys */
  extensions?: string[];
  /** Manifest file (JSONL, appended). @default no manifest */
  manifestPath?: string;
  /** Progress display. @default bar on a TTY, JSON lines every 10 s otherwise */
  progress?: ProgressOptions;
  /** Aborting stops taking new objects and drains those in flight (SIGTERM). */
  signal?: AbortSignal;
  /** After an abort, the run returns within this many milliseconds even if work is still in flight. @default 100000 */
  graceMs?: number;
  /** S3 client. @default one from the environment (AWS_ENDPOINT_URL_S3 etc.) */
  s3?: S3Client;
  /**
   * Worker threads for the S3 requests made per object (result read, download, tags, result
   * write); 0 runs them on the main thread. Threads build their client from the environment, as
   * the default client is built. @default 0 when `s3` is given (a client cannot cross threads), else `defaultIoThreads()`
   */
  ioThreads?: number;
  /** Retry budget of each S3 call. @default 8 attempts, 200 ms doubling to 5 s */
  retry?: RetryOptions;
  /** Human log lines. @default stderr */
  log?: (msg: string) => void;
}

/** Throughput of one stage. */
export interface StageStats {
  /** Images through the stage. */
  count: number;
  /** Milliseconds spent in the stage, summed over its parallel lanes. */
  busyMs: number;
  /** Lanes working in parallel (workers, concurrent downloads). */
  parallelism: number;
  /** Capacity of the stage in images per second: count / (busyMs / parallelism). */
  perSecond: number;
}

/** What a run did. */
export interface BatchSummary {
  model: string;
  /** Execution provider used. */
  ep: string;
  shard: Shard;
  /** Objects of this shard seen from the source. */
  listed: number;
  /** Labelled now (result written). */
  done: number;
  /** Already labelled for the same ETag and model, gone, or superseded. */
  skipped: number;
  /** Bad images (error result written) and objects that could not be processed (no result). */
  failed: number;
  /** Of `failed`, objects left without a result (storage unavailable, internal errors): a rerun retries them. */
  unfinished: number;
  /** Failures by code (`CORRUPT_IMAGE`, `STORAGE_UNAVAILABLE`, ...). */
  failuresByCode: Record<string, number>;
  /** Stopped by the signal before the source was exhausted. */
  interrupted: boolean;
  /** Whole run, model loading and worker start-up included, in ms. */
  wallMs: number;
  /** Model loading and worker start-up, in ms (not part of the rate). */
  setupMs: number;
  /** (done + failed) per second from the pipeline's start to its end (steady state, without `setupMs`). */
  imagesPerSecond: number;
  /**
   * CPU time of the whole process (every thread: decode workers, onnxruntime, the event loop) per
   * image processed, in ms, over the same span as `imagesPerSecond`. On a CPU-only machine
   * `cores * 1000 / cpuMsPerImage` is the most the pipeline can do, whatever the overlap.
   */
  cpuMsPerImage: number;
  /**
   * CPU time of the main thread (the event loop that lists, reads or downloads, dispatches,
   * batches and writes) per image, over the same span; its event loop's active time where the OS
   * does not report a thread's CPU time. Decoding and inference run on other threads and scale
   * with cores and the GPU; this part does not: `1000 / mainThreadMsPerImage` img/s is the most
   * the worker can do on any hardware.
   */
  mainThreadMsPerImage: number;
  /** Decode/preprocess mode: worker threads or in-thread fallback. */
  prepareMode: 'workers' | 'in-thread';
  /** Mean tensors per inference. */
  meanBatch: number;
  stages: { download: StageStats; decode: StageStats; preprocess: StageStats; inference: StageStats; write: StageStats };
  manifestPath?: string;
}

/** An object on its way through the pipeline. */
interface Work {
  obj: SourceObject;
  rk: string;
  t0: number;
  src?: SourceRef;
  bytes?: Uint8Array;
  downloadMs?: number;
  prepared?: Prepared;
  error?: { code: string; message: string };
  labels?: Label[];
  inferenceMs?: number;
  postprocessMs?: number;
}

class StageClock {
  count = 0;
  busyMs = 0;
  constructor(readonly parallelism: number) {}
  add(ms: number, n = 1): void {
    this.count += n;
    this.busyMs += ms;
  }
  stats(): StageStats {
    return {
      count: this.count,
      busyMs: Math.round(this.busyMs),
      parallelism: this.parallelism,
      perSecond: this.busyMs > 0 ? Number(((this.count * 1000 * this.parallelism) / this.busyMs).toFixed(2)) : 0,
    };
  }
}

function envNumber(name: string): number | undefined {
  const v = process.env[name];
  return v === undefined || v === '' || !Number.isFinite(Number(v)) ? undefined : Number(v);
}

/** The per-object S3 requests in `n` threads, or on this one (n = 0, or threads that cannot start). */
async function startObjectIo(s3: S3Client, n: number, log: (m: string) => void): Promise<ObjectIo> {
  if (n <= 0) return inlineObjectIo(s3);
  try {
    return await S3IoThreads.start(n);
  } catch (err) {
    log(`S3 I/O threads could not start (${err instanceof Error ? err.message : String(err)}); S3 requests run on the main thread`);
    return inlineObjectIo(s3);
  }
}

function codeOf(err: unknown): { code: string; message: string } {
  if (err instanceof ResnetError || err instanceof TransientStorageError) return { code: err.code, message: err.message };
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

/**
 * Labels every object of the input (this shard of it) that has no current result.
 * Resolves when the source is exhausted and everything in flight is written, or after an
 * abort once in-flight work drained (or `graceMs` passed).
 * @throws configuration errors (unknown model, bad input) before any object is processed
 */
export async function runBatch(opts: BatchOptions): Promise<BatchSummary> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`[batch] ${m}\n`));
  const started = performance.now();
  const spec = parseInput(opts.input, opts.inputKind ?? 'auto');
  const local = spec.kind === 'local';
  const s3 = local && !opts.s3 ? undefined : (opts.s3 ?? defaultS3Client());
  const retry: RetryOptions = {
    ...opts.retry,
    onRetry: (err, attempt, delay) => {
      retries++;
      if (retries <= 5 || retries % 100 === 0) log(`retry ${attempt} in ${Math.round(delay)} ms after ${codeOf(err).message.slice(0, 160)} (${retries} retries so far)`);
      opts.retry?.onRetry?.(err, attempt, delay);
    },
  };
  let retries = 0;

  // The model: given, or opened with the first execution provider that works.
  let classifier: BatchClassifier;
  // With a classifier handed in, `ep` only labels the run (the caller opened the session).
  let ep: string = opts.ep ?? 'given';
  if (opts.classifier) classifier = opts.classifier;
  else {
    if (!opts.model) throw new ResnetError('INVALID_ARGUMENT', 'No model: pass --model <zoo id | path.onnx> (or MODEL_ID / MODEL_DIR).');
    const model = opts.model;
    const opened = await openWithProvider(
      opts.ep ?? 'auto',
      async (eps) => {
        const load = (inThread: boolean): Promise<Classifier> =>
          Classifier.load({
            model,
            ...(opts.labels ? { labels: opts.labels } : {}),
            ...(opts.modelId ? { modelId: opts.modelId } : {}),
            ...(opts.cacheDir ? { cacheDir: opts.cacheDir } : {}),
            ...(opts.download ? { download: true } : {}),
            ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
            allowSpinning: opts.allowSpinning ?? false,
            ...(opts.maxPixels !== undefined ? { maxPixels: opts.maxPixels } : {}),
            ...(inThread ? { openSession: (p: string, o: SessionOptions) => InferenceThread.create(p, o) } : {}),
            executionProviders: eps,
          });
        if (opts.inferenceThread === false) return load(false);
        try {
          return await load(true);
        } catch (err) {
          // A provider that cannot start off the main thread must not silently cost the run its GPU:
          // the same provider is tried on the main thread before the next provider.
          log(`inference thread could not open ${eps.join(',')} (${err instanceof Error ? err.message.split('\n')[0] : String(err)}); trying the main thread`);
          return load(false);
        }
      },
      log,
    );
    classifier = opened.value;
    ep = opened.ep;
  }
  const gpu = ep === 'cuda' || ep === 'webgpu';
  const model = classifier.modelId;
  const maxBatch = classifier.maxBatch === null ? Math.max(1, opts.batchSize ?? (gpu ? 64 : 16)) : classifier.maxBatch;
  const downloads = Math.max(1, opts.downloads ?? 16);
  const writers = Math.max(1, opts.writers ?? 8);
  const inferConcurrency = Math.max(1, opts.inferConcurrency ?? (gpu ? 2 : 1));
  const top = opts.top ?? envNumber('TOP_K') ?? 5;
  const tenCrop = opts.tenCrop ?? false;
  const resultsPrefix = opts.resultsPrefix ?? process.env.RESULTS_PREFIX ?? DEFAULT_RESULTS_PREFIX;
  const outDir = opts.outDir ?? 'resnet-results';
  const tags = opts.tags ?? true;
  const shard = opts.shard ?? WHOLE;
  const extensions = opts.extensions?.map((e) => e.toLowerCase().replace(/^\./, ''));
  const producer = 'batch';

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
      `shard ${shard.index}/${shard.count}; input ${spec.kind} ${opts.input}`,
  );

  const clocks = {
    // A local folder's files are read by the decode workers.
    download: new StageClock(local ? Math.max(1, pool.size) : downloads),
    decode: new StageClock(Math.max(1, pool.size)),
    preprocess: new StageClock(Math.max(1, pool.size)),
    inference: new StageClock(inferConcurrency),
    write: new StageClock(writers),
  };
  const counts = { listed: 0, done: 0, skipped: 0, failed: 0 };
  let unfinished = 0;
  const failuresByCode: Record<string, number> = {};
  let batches = 0;
  let tensorsInferred = 0;
  let listingDone = false;
  let sourceExhausted = false;
  let hardStopped = false;

  const record = (w: Work, line: Omit<ManifestLine, 'at' | 'key' | 'bucket'>): void => {
    if (hardStopped) return;
    if (line.status === 'failed') failuresByCode[line.code ?? 'INTERNAL'] = (failuresByCode[line.code ?? 'INTERNAL'] ?? 0) + 1;
    counts[line.status]++;
    if (line.status === 'failed' && line.result === undefined) unfinished++;
    manifest?.append({ ...(w.obj.bucket ? { bucket: w.obj.bucket } : {}), key: w.obj.key, ...line });
  };

  const srcQ = new BoundedQueue<Work>(downloads * 2);
  const fetchedQ = new BoundedQueue<Work>(Math.max(4, pool.size * 3));
  const preparedQ = new BoundedQueue<Work>(maxBatch * (inferConcurrency + 1));
  const writeQ = new BoundedQueue<Work>(Math.max(writers * 2, maxBatch * 2));

  // Stage 0: the source, filtered to this shard; stops at abort.
  const feed = async (): Promise<void> => {
    try {
      const source = openSource(spec, {
        ...(s3 ? { s3 } : {}),
        ...(opts.bucket ? { defaultBucket: opts.bucket } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
        retry,
      });
      for await (const obj of source) {
        if (opts.signal?.aborted || hardStopped) return;
        if (!inShard(obj.key, shard)) continue;
        const resultsBucket = opts.resultsBucket ?? process.env.RESULTS_BUCKET ?? obj.bucket;
        // Never label our own output (the input prefix may contain the results prefix).
        if (!local && obj.bucket === resultsBucket && obj.key.startsWith(resultsPrefix)) continue;
        if (extensions && !extensions.includes(obj.key.slice(obj.key.lastIndexOf('.') + 1).toLowerCase())) continue;
        counts.listed++;
        const rk = resultKey(local ? '' : resultsPrefix, obj.bucket ?? LOCAL_BUCKET, obj.key, model);
        await srcQ.push({ obj, rk, t0: performance.now() });
      }
      sourceExhausted = !opts.signal?.aborted;
    } finally {
      listingDone = true;
      srcQ.close();
    }
  };

  // Stage 1: skip check and download.
  const fetchOne = async (w: Work): Promise<Work | undefined> => {
    if (hardStopped) return undefined;
    const t = performance.now();
    try {
      if (local) {
        if (!opts.force) {
          const prior = await readLocalResult(outDir, w.rk);
          if (prior && (await localResultIsCurrent(prior, w.obj.localPath!, model))) {
            record(w, { status: 'skipped', code: 'duplicate', etag: prior.etag });
            return undefined;
          }
        }
        // Read, hashed (its ETag) and decoded by a decode worker (prepareOne): the file's bytes
        // never reach this thread, and 4 ms of MD5 per 12 MP file stays off the event loop.
        return w;
      }
      const bucket = w.obj.bucket!;
      const resultsBucket = opts.resultsBucket ?? process.env.RESULTS_BUCKET ?? bucket;
      const prior = opts.force ? null : ((await withRetry(() => io!.readResult(resultsBucket, w.rk), retry))?.doc ?? null);
      if (prior && w.obj.etag && prior.model === model && prior.etag === w.obj.etag && (w.obj.versionId ?? null) === prior.versionId) {
        record(w, { status: 'skipped', code: 'duplicate', etag: prior.etag });
        return undefined;
      }
      const fetched = await withRetry(
        () =>
          io!.fetchObject(
            { bucket, key: w.obj.key, ...(w.obj.versionId ? { versionId: w.obj.versionId } : {}) },
            { maxBytes: opts.maxBytes ?? DEFAULT_MAX_BYTES, ...(prior && prior.model === model && !w.obj.versionId ? { ifNoneMatch: prior.etag } : {}) },
          ),
        retry,
      );
      const downloadMs = performance.now() - t;
      clocks.download.add(downloadMs);
      if (fetched.kind === 'missing') {
        record(w, { status: 'skipped', code: 'missing' });
        return undefined;
      }
      if (fetched.kind === 'not-modified') {
        record(w, { status: 'skipped', code: 'duplicate', ...(prior ? { etag: prior.etag } : {}) });
        return undefined;
      }
      if (!opts.force && decideWrite(prior, { ...fetched.src, model }) !== 'write') {
        record(w, { status: 'skipped', code: decideWrite(prior, { ...fetched.src, model }) === 'same' ? 'duplicate' : 'stale', etag: fetched.src.etag });
        return undefined;
      }
      if (fetched.kind === 'too-large') {
        const message = `Object is ${fetched.src.size} bytes, over the ${opts.maxBytes ?? DEFAULT_MAX_BYTES}-byte limit for labelling; raise --max-bytes.`;
        return { ...w, src: fetched.src, downloadMs, error: { code: 'IMAGE_TOO_LARGE', message } };
      }
      return { ...w, src: fetched.src, bytes: fetched.bytes, downloadMs };
    } catch (err) {
      const e = codeOf(err);
      record(w, { status: 'failed', ...e });
      return undefined;
    }
  };

  // Stage 2: decode + preprocess on the worker pool.
  const prepareOne = async (w: Work): Promise<Work | undefined> => {
    if (hardStopped) return undefined;
    if (w.error) return w;
    let { src, downloadMs } = w;
    let outcome: { ok: true; prepared: Prepared } | { ok: false; error: unknown };
    try {
      if (local) {
        const job = await pool.prepareFile(w.obj.localPath!);
        src = localSource(w.obj.key, job.file);
        downloadMs = job.file.readMs;
        clocks.download.add(downloadMs);
        outcome = job;
      } else outcome = { ok: true, prepared: await pool.prepare(w.bytes!) };
    } catch (err) {
      if (err instanceof UnreadableFileError) {
        // Gone since it was listed: as an S3 object deleted before its download, nothing to label.
        if (err.errno === 'ENOENT') record(w, { status: 'skipped', code: 'missing' });
        else record(w, { status: 'failed', ...codeOf(new FileNotFoundError(err.path, err)) });
        return undefined;
      }
      outcome = { ok: false, error: err };
    }
    const done = { ...w, src, bytes: undefined, ...(downloadMs !== undefined ? { downloadMs } : {}) };
    if (outcome.ok) {
      clocks.decode.add(outcome.prepared.decodeMs);
      clocks.preprocess.add(outcome.prepared.preprocessMs);
      return { ...done, prepared: outcome.prepared };
    }
    // An image that does not decode gets a result saying why; anything else fails the object.
    if (outcome.error instanceof ResnetError && !outcome.error.retryable) return { ...done, error: outcome.error.toJSON() };
    record(w, { status: 'failed', ...codeOf(outcome.error) });
    return undefined;
  };

  // Stage 3: fill a batch (up to maxBatch tensors, waiting at most batchWaitMs), infer, label.
  const batchWaitMs = opts.batchWaitMs ?? (gpu ? 50 : 1000);
  const inferLoop = async (): Promise<void> => {
    let carry: Work | undefined;
    for (;;) {
      const first = carry ?? (await preparedQ.take());
      carry = undefined;
      if (first === undefined) return;
      if (first.error) {
        await writeQ.push(first);
        continue;
      }
      const items = [first];
      let tensors = first.prepared!.tensors.length;
      const deadline = performance.now() + batchWaitMs;
      while (tensors < maxBatch) {
        const left = deadline - performance.now();
        const next = preparedQ.tryTake() ?? (left > 0 ? await preparedQ.takeWithin(left) : undefined);
        if (next === undefined || next === 'timeout') break;
        if (next.error) {
          await writeQ.push(next);
          continue;
        }
        if (tensors + next.prepared!.tensors.length > maxBatch) {
          // Ten-crop images do not split across batches: this one starts the next batch.
          carry = next;
          break;
        }
        items.push(next);
        tensors += next.prepared!.tensors.length;
      }
      if (hardStopped) return;
      const t = performance.now();
      try {
        const batchTensors = items.flatMap((w) => w.prepared!.tensors);
        const logits = await classifier.infer(batchTensors);
        pool.recycle(batchTensors);
        const ms = performance.now() - t;
        clocks.inference.add(ms, items.length);
        batches++;
        tensorsInferred += logits.length;
        let cursor = 0;
        for (const w of items) {
          const n = w.prepared!.tensors.length;
          const tp = performance.now();
          w.labels = classifier.labelsFor(logits.slice(cursor, cursor + n), top);
          w.postprocessMs = performance.now() - tp;
          cursor += n;
          w.inferenceMs = ms / items.length;
          w.prepared = { ...w.prepared!, tensors: [] };
          await writeQ.push(w);
        }
      } catch (err) {
        for (const w of items) record(w, { status: 'failed', ...codeOf(err) });
      }
    }
  };
  const inferStage = async (): Promise<void> => {
    try {
      await Promise.all(Array.from({ length: inferConcurrency }, inferLoop));
    } finally {
      writeQ.close();
    }
  };

  // Stage 4: tags, then the result object (the commit marker), then the manifest line.
  const writeOne = async (w: Work): Promise<undefined> => {
    if (hardStopped) return undefined;
    const t = performance.now();
    const timingsMs: ResultTimings = {
      download: w.downloadMs ?? 0,
      ...(w.prepared ? { decode: w.prepared.decodeMs, preprocess: w.prepared.preprocessMs } : {}),
      ...(w.inferenceMs !== undefined ? { inference: w.inferenceMs, postprocess: w.postprocessMs ?? 0 } : {}),
      total: t - w.t0,
    };
    const extra = { producer, timingsMs, labelledAt: new Date().toISOString() };
    const doc: ResultDoc = w.error ? buildErrorResult(w.src!, model, w.error, extra) : buildResult(w.src!, model, w.labels!, extra);
    try {
      let decision: 'write' | 'same' | 'stale' = 'write';
      let where: string;
      if (local) where = await writeLocalResult(outDir, w.rk, doc);
      else {
        const resultsBucket = opts.resultsBucket ?? process.env.RESULTS_BUCKET ?? w.obj.bucket!;
        const committed = await withRetry(
          () => io!.commitResult(doc, { resultsBucket, resultKey: w.rk, tags, maxLabels: top, ...(opts.force ? { force: true } : {}) }),
          retry,
        );
        decision = committed.decision;
        where = `s3://${resultsBucket}/${w.rk}`;
      }
      clocks.write.add(performance.now() - t);
      if (decision !== 'write') record(w, { status: 'skipped', code: decision === 'same' ? 'duplicate' : 'stale', etag: doc.etag });
      else if (w.error) record(w, { status: 'failed', code: w.error.code, message: w.error.message, etag: doc.etag, result: where });
      else record(w, { status: 'done', etag: doc.etag, label: w.labels![0]?.name ?? '', result: where });
    } catch (err) {
      record(w, { status: 'failed', ...codeOf(err) });
    }
    return undefined;
  };

  const progress = createProgress(opts.progress);
  const snapshot = (): ProgressSnapshot => ({ ...counts, listingDone, elapsedMs: Math.round(performance.now() - started) });
  const ticker = setInterval(() => progress.update(snapshot()), 250);
  ticker.unref();

  const pipelineStart = performance.now();
  const cpuStart = process.cpuUsage();
  const mainBusy = threadBusyMeter();
  // allSettled: a failing stage (a listing that keeps failing) must not leave the others running unwatched.
  const pipeline = Promise.allSettled([
    feed(),
    pumpStage(srcQ, fetchedQ, downloads, fetchOne),
    pumpStage(fetchedQ, preparedQ, Math.max(1, pool.size) * 2, prepareOne),
    inferStage(),
    pumpStage(writeQ, new BoundedQueue<never>(1), writers, writeOne),
  ]).then((settled) => {
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  });

  // After an abort, in-flight work gets until the grace deadline to drain.
  let graceTimer: NodeJS.Timeout | undefined;
  const graceExpired = new Promise<'grace'>((resolve) => {
    const arm = (): void => {
      const graceMs = opts.graceMs ?? 100_000;
      log(`stop requested: taking no new objects, draining in-flight work (grace ${Math.round(graceMs / 1000)} s)`);
      graceTimer = setTimeout(() => resolve('grace'), graceMs);
      graceTimer.unref();
    };
    if (opts.signal?.aborted) arm();
    else opts.signal?.addEventListener('abort', arm, { once: true });
  });

  let pipelineError: unknown;
  const outcome = await Promise.race([
    pipeline.then(
      () => 'drained' as const,
      (err: unknown) => {
        pipelineError = err;
        return 'error' as const;
      },
    ),
    graceExpired,
  ]);
  if (outcome === 'grace') {
    hardStopped = true;
    log('grace period over: abandoning in-flight objects (they have no result and are redone on the next run)');
  }
  const cpu = process.cpuUsage(cpuStart);
  const mainMs = mainBusy();
  clearTimeout(graceTimer);
  clearInterval(ticker);
  progress.stop(snapshot());
  await manifest?.close();
  await pool.close();
  await io?.close();
  if (!opts.classifier) await classifier.dispose();
  if (pipelineError !== undefined) throw pipelineError;

  const wallMs = performance.now() - started;
  const summary: BatchSummary = {
    model,
    ep,
    shard,
    ...counts,
    unfinished,
    failuresByCode,
    interrupted: !sourceExhausted || hardStopped,
    wallMs: Math.round(wallMs),
    setupMs: Math.round(pipelineStart - started),
    imagesPerSecond: Number((((counts.done + counts.failed) * 1000) / Math.max(1, performance.now() - pipelineStart)).toFixed(2)),
    cpuMsPerImage: Number(((cpu.user + cpu.system) / 1000 / Math.max(1, counts.done + counts.failed)).toFixed(1)),
    mainThreadMsPerImage: Number((mainMs / Math.max(1, counts.done + counts.failed)).toFixed(2)),
    prepareMode: pool.mode,
    meanBatch: batches ? Number((tensorsInferred / batches).toFixed(2)) : 0,
    stages: {
      download: clocks.download.stats(),
      decode: clocks.decode.stats(),
      preprocess: clocks.preprocess.stats(),
      inference: clocks.inference.stats(),
      write: clocks.write.stats(),
    },
    ...(manifest ? { manifestPath: manifest.path } : {}),
  };
  return summary;
}

/** A few lines for people: counts, failures by code, img/s by stage. */
export function formatSummary(s: BatchSummary): string {
  const stage = (name: string, st: StageStats): string =>
    `  ${name.padEnd(11)} ${String(st.count).padStart(7)} img  ${st.perSecond.toFixed(1).padStart(8)} img/s capacity  (${st.parallelism} lane${st.parallelism === 1 ? '' : 's'})`;
  const failures = Object.entries(s.failuresByCode)
    .sort((a, b) => b[1] - a[1])
    .map(([c, n]) => `${c} ${n}`)
    .join(', ');
  return [
    `${s.interrupted ? 'INTERRUPTED' : 'finished'}: ${s.listed} listed (shard ${s.shard.index}/${s.shard.count}), ${s.done} labelled, ${s.skipped} skipped, ${s.failed} failed (${s.unfinished} without a result) in ${(s.wallMs / 1000).toFixed(1)} s (${(s.setupMs / 1000).toFixed(1)} s set-up) = ${s.imagesPerSecond} img/s end to end`,
    `model ${s.model} on ${s.ep}, mean batch ${s.meanBatch}, ${s.cpuMsPerImage} CPU-ms per image, main thread ${s.mainThreadMsPerImage} ms per image (at most ${s.mainThreadMsPerImage > 0 ? Math.round(1000 / s.mainThreadMsPerImage) : '-'} img/s on any hardware), decoding ${s.prepareMode === 'workers' ? 'on worker threads' : 'in the main thread'}`,
    ...(failures ? [`failures: ${failures}`] : []),
    stage('download', s.stages.download),
    stage('decode', s.stages.decode),
    stage('preprocess', s.stages.preprocess),
    stage('inference', s.stages.inference),
    stage('write', s.stages.write),
    ...(s.manifestPath ? [`manifest: ${s.manifestPath}`] : []),
  ].join('\n');
}
