/** Options and summary of a batch run ({@link runBatch}), and what it needs from a classifier. */
import type { S3Client } from '@aws-sdk/client-s3';

import type { Classifier } from '../core/classifier.js';
import type { ResultsMode } from './bulk/bulk-results.js';
import type { EpChoice } from './gpu/ep.js';
import type { ProgressOptions } from './progress.js';
import type { RetryOptions } from './s3/retry.js';
import type { Shard } from './sources/shard.js';
import type { InputSpec } from './sources/sources.js';

/** What {@link runBatch} needs from the core's `Classifier` (structural, so benches can wrap it). */
export type BatchClassifier = Pick<Classifier, 'modelId' | 'maxBatch' | 'preprocessConfig' | 'prepare' | 'infer' | 'answerFor' | 'dispose'>;

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
  /** Write S3 object tags (per-object results only). @default true */
  tags?: boolean;
  /**
   * Where results go: `per-object`, a result object and tags per image (what the sweep, `GET
   * /results` and tag searches read); `shard`, gzip JSONL parts per array child under
   * `<resultsPrefix>_bulk/<model>/<runId>/` for Athena, no per-object writes (`batch/bulk/bulk-results.ts`).
   * @default 'per-object' (env RESULTS_MODE)
   */
  results?: ResultsMode;
  /** Bulk run id (`results: 'shard'`); a rerun with the same id continues the run. @default env RESULTS_RUN_ID, else a hash of the input and the array size */
  runId?: string;
  /** Objects per bulk part (`results: 'shard'`). @default 100000 */
  partObjects?: number;
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
  /** Where the results went. */
  results: ResultsMode;
  /** Bulk results (`results: 'shard'`): the run's folder and its parts. */
  bulk?: { location: string; partsWritten: number; partsFound: number };
}
