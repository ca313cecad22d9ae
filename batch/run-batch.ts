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
 * (`labelling/`), so both produce the same bytes for the same image and model (apart from
 * the volatile fields: timings, time of writing, producer).
 */
import { performance } from 'node:perf_hooks';

import { FileNotFoundError, ResnetError } from '../core/errors.js';
import type { Label } from '../core/types.js';
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
import { codeOf } from './error-code.js';
import { openBatchClassifier } from './open-classifier.js';
import { createProgress, type ProgressSnapshot } from './progress.js';
import { withRetry, type RetryOptions } from './s3/retry.js';
import { defaultS3Client } from './s3/s3-client.js';
import { defaultIoThreads, startObjectIo } from './s3/s3-io.js';
import { LOCAL_BUCKET, localResultIsCurrent, localSource, readLocalResult, writeLocalResult } from './sources/local-results.js';
import { ManifestWriter, type ManifestLine } from './sources/manifest.js';
import { inShard, WHOLE } from './sources/shard.js';
import { openSource, parseInput, type SourceObject } from './sources/sources.js';
import { StageClock } from './summary.js';
import { PreparePool, UnreadableFileError, type Prepared } from './threads/prepare-pool.js';
import { BoundedQueue, pumpStage } from './threads/queue.js';
import { threadBusyMeter } from './threads/thread-cpu.js';
import type { BatchOptions, BatchSummary } from './types.js';

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

function envNumber(name: string): number | undefined {
  const v = process.env[name];
  return v === undefined || v === '' || !Number.isFinite(Number(v)) ? undefined : Number(v);
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
  const { classifier, ep } = await openBatchClassifier(opts, log);
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
