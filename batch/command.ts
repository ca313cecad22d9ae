/**
 * `resnet batch` — the batch worker's command line (also the container's entry point). The lead
 * mounts it in cli/ with `registerBatchCommand(program)`; `batch/main.ts` runs it standalone.
 *
 * Exit codes: 0 every object has a result (labels, or an error result for a bad image) or was skipped;
 * 3 some objects were left without a result, or storage was unreachable for the whole run
 *   (STORAGE_UNAVAILABLE; see the manifest, rerun);
 * 143 stopped by SIGTERM/SIGINT before the end (rerun to finish: finished work is kept);
 * 2 bad arguments or no AWS credentials (NO_CREDENTIALS); 1 any other error.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { PutObjectCommand } from '@aws-sdk/client-s3';
import { Command, InvalidArgumentError as CommanderArgError, Option } from 'commander';

import { describeError, ResnetError } from '../core/errors.js';
import { isTransientS3Error, TransientStorageError } from '../labelling/errors.js';
import { RESULTS_MODES, resultsModeFromEnv, type ResultsMode } from './bulk/bulk-results.js';
import { codeOf } from './error-code.js';
import { EP_CHOICES, parseEp } from './gpu/ep.js';
import { formatPlan, planBacklog, plannerOptionsFromEnv } from '../labelling/planner.js';
import { runBatch } from './run-batch.js';
import { formatSummary } from './summary.js';
import type { BatchOptions } from './types.js';
import { defaultS3Client } from './s3/s3-client.js';
import { inShard, resolveShard, WHOLE } from './sources/shard.js';
import { downloadOnce, parseS3Uri as parseModelS3Uri } from '../labelling/download-once.js';
import { openSource, parseInput, parseS3Uri } from './sources/sources.js';

/** Exit code of a run that some objects failed in. */
export const EXIT_SOME_FAILED = 3;
/** Exit code of a run stopped by a signal (128 + SIGTERM). */
export const EXIT_INTERRUPTED = 143;

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new CommanderArgError('must be a whole number >= 1');
  return n;
}

function nonNegativeInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new CommanderArgError('must be a whole number >= 0');
  return n;
}

/** Raw flags as commander parses them. */
interface BatchFlags {
  model?: string;
  labels?: string;
  modelId?: string;
  cacheDir?: string;
  download?: boolean;
  ep: string;
  threads?: number;
  batchSize?: number;
  batchWaitMs?: number;
  workers?: number;
  downloads?: number;
  ioThreads?: number;
  writers?: number;
  top?: number;
  tenCrop?: boolean;
  maxPixels?: number;
  maxBytes?: number;
  inputKind: string;
  bucket?: string;
  resultsBucket?: string;
  resultsPrefix?: string;
  tags: boolean;
  results?: string;
  runId?: string;
  partObjects?: number;
  out?: string;
  force?: boolean;
  shard?: string;
  ext?: string;
  manifest?: string;
  manifestUpload?: string;
  progress: string;
  progressInterval: number;
  grace: number;
  endpoint?: string;
  dryRun?: boolean;
  json?: boolean;
}

/** The model flags, with MODEL_DIR (`model.onnx` + `labels.txt`) and MODEL_ID as fallbacks. */
function modelFromFlags(flags: BatchFlags): Pick<BatchOptions, 'model' | 'labels' | 'modelId'> {
  if (flags.model) return { model: flags.model, ...(flags.labels ? { labels: flags.labels } : {}), ...(flags.modelId ? { modelId: flags.modelId } : {}) };
  const dir = process.env.MODEL_DIR;
  if (dir && existsSync(path.join(dir, 'model.onnx'))) {
    return {
      model: path.join(dir, 'model.onnx'),
      labels: flags.labels ?? path.join(dir, 'labels.txt'),
      ...(flags.modelId || process.env.MODEL_ID ? { modelId: flags.modelId ?? process.env.MODEL_ID! } : {}),
    };
  }
  return { model: process.env.MODEL_ID ?? 'resnet50-v2', ...(flags.labels ? { labels: flags.labels } : {}), ...(flags.modelId ? { modelId: flags.modelId } : {}) };
}

/**
 * MODEL_S3_URI / LABELS_S3_URI (models too big to bake into the image): downloads both once to
 * `dir` and points the options at them. No-op when --model or MODEL_DIR already named a model.
 */
async function modelFromS3(opts: BatchOptions, flags: BatchFlags, dir = os.tmpdir()): Promise<void> {
  const modelUri = process.env.MODEL_S3_URI;
  if (flags.model || !modelUri || (process.env.MODEL_DIR && existsSync(path.join(process.env.MODEL_DIR, 'model.onnx')))) return;
  const s3 = defaultS3Client();
  opts.model = path.join(dir, 'resnet-batch-model.onnx');
  await downloadOnce(s3, modelUri, opts.model);
  if (process.env.LABELS_S3_URI) {
    opts.labels = path.join(dir, 'resnet-batch-labels.txt');
    await downloadOnce(s3, process.env.LABELS_S3_URI, opts.labels);
  }
  opts.modelId ??= process.env.MODEL_ID ?? path.basename(parseModelS3Uri(modelUri).key, '.onnx');
}

/** Turns parsed flags into {@link BatchOptions}. */
export function batchOptionsFromFlags(input: string, flags: BatchFlags): BatchOptions {
  const results = (flags.results as ResultsMode | undefined) ?? resultsModeFromEnv();
  if (flags.endpoint) process.env.AWS_ENDPOINT_URL_S3 = flags.endpoint;
  const kind = flags.inputKind as BatchOptions['inputKind'];
  const progress: BatchOptions['progress'] =
    flags.progress === 'off' ? { tty: 'off' } : flags.progress === 'bar' ? { tty: true } : flags.progress === 'json' ? { tty: false } : {};
  return {
    input,
    ...modelFromFlags(flags),
    inputKind: kind ?? 'auto',
    ep: parseEp(flags.ep),
    shard: resolveShard(flags.shard),
    tags: flags.tags,
    results,
    ...(flags.runId ? { runId: flags.runId } : {}),
    ...(flags.partObjects !== undefined ? { partObjects: flags.partObjects } : {}),
    graceMs: flags.grace * 1000,
    progress: { ...progress, intervalSeconds: flags.progressInterval },
    ...(flags.cacheDir ? { cacheDir: flags.cacheDir } : {}),
    ...(flags.download ? { download: true } : {}),
    ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
    ...(flags.batchSize !== undefined ? { batchSize: flags.batchSize } : {}),
    ...(flags.batchWaitMs !== undefined ? { batchWaitMs: flags.batchWaitMs } : {}),
    ...(flags.workers !== undefined ? { workers: flags.workers } : {}),
    ...(flags.downloads !== undefined ? { downloads: flags.downloads } : {}),
    ...(flags.ioThreads !== undefined ? { ioThreads: flags.ioThreads } : {}),
    ...(flags.writers !== undefined ? { writers: flags.writers } : {}),
    ...(flags.top !== undefined ? { top: flags.top } : {}),
    ...(flags.tenCrop ? { tenCrop: true } : {}),
    ...(flags.maxPixels !== undefined ? { maxPixels: flags.maxPixels } : {}),
    ...(flags.maxBytes !== undefined ? { maxBytes: flags.maxBytes } : {}),
    ...(flags.bucket ? { bucket: flags.bucket } : {}),
    ...(flags.resultsBucket ? { resultsBucket: flags.resultsBucket } : {}),
    ...(flags.resultsPrefix !== undefined ? { resultsPrefix: flags.resultsPrefix } : {}),
    ...(flags.out ? { outDir: flags.out } : {}),
    ...(flags.force ? { force: true } : {}),
    ...(flags.ext ? { extensions: flags.ext.split(',').map((e) => e.trim()).filter(Boolean) } : {}),
    ...(flags.manifest ? { manifestPath: flags.manifest } : {}),
  };
}

/** `--dry-run`: counts this shard's objects and prints the sweeper's plan for them. */
async function dryRun(opts: BatchOptions, json: boolean): Promise<void> {
  const spec = parseInput(opts.input, opts.inputKind ?? 'auto');
  const s3 = spec.kind === 'local' ? undefined : defaultS3Client();
  let count = 0;
  const shard = opts.shard ?? WHOLE;
  for await (const o of openSource(spec, { ...(s3 ? { s3 } : {}), ...(opts.bucket ? { defaultBucket: opts.bucket } : {}), shard })) {
    if (o.sharded || inShard(o.key, shard)) count++;
  }
  const plan = planBacklog(count, plannerOptionsFromEnv());
  console.log(json ? JSON.stringify(plan) : formatPlan(plan));
}

/**
 * Adds `batch <input>` to a commander program (the `resnet` CLI, or `batch/main.ts`).
 * @returns the new sub-command
 */
export function registerBatchCommand(program: Command): Command {
  return program
    .command('batch')
    .description(
      'label a backlog: an S3 prefix (s3://bucket/prefix/), a manifest of keys (.jsonl/.csv, local or s3://), ' +
        'a sweeper\'s backlog.json (an array child reads only its part), an S3 Inventory manifest.json, or a local folder; resumable, shardable, writes the s3-tagger\'s tags and results',
    )
    .argument('<input>', 's3://bucket/prefix/ | keys.jsonl | keys.csv | backlog.json | inventory/manifest.json | ./folder')
    .option('-m, --model <id|path>', 'zoo model id or .onnx path (default: $MODEL_DIR/model.onnx, else $MODEL_ID, else resnet50-v2)')
    .option('-l, --labels <file>', 'labels file for a user model ("<id> <name>" per line)')
    .option('--model-id <id>', 'model id written into results and tags (default: zoo id or file name)')
    .option('--cache-dir <dir>', 'zoo model cache (default: $RESNET_CACHE_DIR or ~/.cache/resnet-serverless)')
    .option('--download', 'download a zoo model that is not cached')
    .addOption(new Option('--ep <provider>', 'execution provider').choices([...EP_CHOICES]).default('auto'))
    .option('--threads <n>', 'onnxruntime intra-op threads (default: all cores)', positiveInt)
    .option('--batch-size <n>', 'tensors per inference for dynamic-batch models (default: 16 on CPU, 64 on GPU)', positiveInt)
    .option('--batch-wait-ms <ms>', 'longest wait to fill a batch', nonNegativeInt)
    .option('--workers <n>', 'decode/preprocess worker threads, 0 = main thread (default: one per core)', nonNegativeInt)
    .option('--downloads <n>', 'concurrent downloads (default 16)', positiveInt)
    .option('--io-threads <n>', 'threads for the per-object S3 requests, 0 = main thread (default: half the cores, 2 to 8)', nonNegativeInt)
    .option('--writers <n>', 'concurrent result writes (default 8)', positiveInt)
    .option('--top <n>', 'labels per image (default: $TOP_K or 5)', positiveInt)
    .option('--ten-crop', 'ten-crop test-time augmentation')
    .option('--max-pixels <n>', 'largest image in pixels (default: $RESNET_MAX_PIXELS or 100e6)', positiveInt)
    .option('--max-bytes <n>', 'largest object downloaded, in bytes (default 50 MiB)', positiveInt)
    .addOption(new Option('--input-kind <kind>', 'input kind instead of guessing').choices(['auto', 's3-prefix', 'manifest', 'inventory', 'backlog', 'local']).default('auto'))
    .option('--bucket <name>', 'bucket of manifest lines that name none')
    .option('--results-bucket <name>', 'bucket for results (default: $RESULTS_BUCKET, else the source bucket)', process.env.RESULTS_BUCKET)
    .option('--results-prefix <prefix>', 'results prefix (default: $RESULTS_PREFIX or resnet-results/)')
    .option('--no-tags', 'do not write S3 object tags')
    .addOption(
      new Option('--results <mode>', 'per-object: a result object and tags per image (the sweep and GET /results read them); shard: gzip JSONL parts per child under <results prefix>_bulk/<model>/<run id>/ for Athena, one GET per image and no per-object writes (default: $RESULTS_MODE or per-object)')
        .choices([...RESULTS_MODES]),
    )
    .option('--run-id <id>', 'bulk run to write or continue with --results shard (default: $RESULTS_RUN_ID, else a hash of the input and the array size)')
    .option('--part-objects <n>', 'objects per result part with --results shard (default 100000; a part is also written at 64 MiB of JSON)', positiveInt)
    .option('--out <dir>', 'results folder for a local-folder input (default ./resnet-results)')
    .option('--force', 'label again even objects with a current result')
    .option('--shard <i/n>', 'process shard i of n (0-based; default: $AWS_BATCH_JOB_ARRAY_INDEX of $AWS_BATCH_JOB_ARRAY_SIZE)')
    .option('--ext <list>', 'only keys with these extensions, e.g. jpg,jpeg,png')
    .option('--manifest <file>', 'append a JSONL line per object (done/skipped/failed) to this file')
    .option('--manifest-upload <s3uri>', 'upload the manifest file to this s3:// URI at the end (also after SIGTERM)')
    .addOption(new Option('--progress <mode>', 'progress display').choices(['auto', 'bar', 'json', 'off']).default('auto'))
    .option('--progress-interval <s>', 'seconds between JSON progress lines', positiveInt, 10)
    .option('--grace <s>', 'after SIGTERM, seconds to drain in-flight work before exiting (Spot gives 120)', positiveInt, 100)
    .option('--endpoint <url>', 'S3 endpoint (local S3 server, MinIO); path-style addressing')
    .option('--dry-run', 'count the objects of this shard and print the plan (Lambda fan-out or Batch array size); label nothing')
    .option('--json', 'print the summary (or the plan) as JSON on stdout')
    .action(async (input: string, flags: BatchFlags) => {
      let opts: BatchOptions;
      try {
        opts = batchOptionsFromFlags(input, flags);
      } catch (err) {
        console.error(describeError(err).message);
        process.exitCode = 2;
        return;
      }
      if (flags.dryRun) {
        await dryRun(opts, Boolean(flags.json));
        return;
      }
      await modelFromS3(opts, flags);
      if (flags.manifestUpload && !flags.manifest) opts.manifestPath = `resnet-batch-manifest-${process.pid}.jsonl`;

      const stop = new AbortController();
      let signals = 0;
      const onSignal = (sig: NodeJS.Signals): void => {
        signals++;
        if (signals > 1) {
          console.error(`[batch] second ${sig}: exiting now; unfinished objects are redone by the next run`);
          process.exit(EXIT_INTERRUPTED);
        }
        console.error(`[batch] ${sig}: stopping`);
        stop.abort();
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      try {
        const summary = await runBatch({ ...opts, signal: stop.signal });
        if (flags.manifestUpload && opts.manifestPath) {
          const dest = parseS3Uri(flags.manifestUpload);
          if (!dest) throw new ResnetError('INVALID_ARGUMENT', `--manifest-upload must be an s3:// URI, got ${flags.manifestUpload}.`);
          await defaultS3Client().send(new PutObjectCommand({ Bucket: dest.bucket, Key: dest.key, Body: await readFile(opts.manifestPath), ContentType: 'application/x-ndjson' }));
        }
        if (flags.json) console.log(JSON.stringify(summary));
        else console.error(formatSummary(summary));
        process.exitCode = summary.interrupted ? EXIT_INTERRUPTED : summary.unfinished > 0 ? EXIT_SOME_FAILED : 0;
        // Abandoned in-flight work (after the grace period) may hold the event loop open.
        if (summary.interrupted) process.exit(process.exitCode);
      } catch (err) {
        // Storage that stayed down for the whole run (listing, the manifest) is the documented
        // STORAGE_UNAVAILABLE / exit 3 (a rerun retries), not an internal error.
        const e = codeOf(isTransientS3Error(err) && !(err instanceof TransientStorageError) ? new TransientStorageError(`the run's S3 requests (${flags.endpoint ?? 'AWS'})`, err) : err);
        console.error(`[batch] ${e.code}: ${e.message}`);
        process.exitCode = e.code === 'INVALID_ARGUMENT' || e.code === 'NO_CREDENTIALS' ? 2 : e.code === 'STORAGE_UNAVAILABLE' ? EXIT_SOME_FAILED : 1;
      } finally {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
      }
    });
}
