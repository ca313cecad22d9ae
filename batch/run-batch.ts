/**
 * The batch worker: labels a backlog of images with bounded memory, keeping the accelerator
 * busy. Stages (`stages/`), each joined to the next by a bounded queue (backpressure all the way
 * up to the listing):
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

import { createProgress, type ProgressSnapshot } from './progress.js';
import { openRun, type Work } from './stages/context.js';
import { fetchStage } from './stages/fetch.js';
import { inferStage } from './stages/infer.js';
import { prepareStage } from './stages/prepare.js';
import { sourceStage } from './stages/source.js';
import { writeStage } from './stages/write.js';
import { summarise } from './summary.js';
import { BoundedQueue } from './threads/queue.js';
import { threadBusyMeter } from './threads/thread-cpu.js';
import type { BatchOptions, BatchSummary } from './types.js';

/**
 * Labels every object of the input (this shard of it) that has no current result.
 * Resolves when the source is exhausted and everything in flight is written, or after an
 * abort once in-flight work drained (or `graceMs` passed).
 * @throws configuration errors (unknown model, bad input) before any object is processed
 */
export async function runBatch(opts: BatchOptions): Promise<BatchSummary> {
  const run = await openRun(opts);
  const { log, state, pool, manifest, io, classifier } = run;

  const srcQ = new BoundedQueue<Work>(run.downloads * 2);
  const fetchedQ = new BoundedQueue<Work>(Math.max(4, pool.size * 3));
  const preparedQ = new BoundedQueue<Work>(run.maxBatch * (run.inferConcurrency + 1));
  const writeQ = new BoundedQueue<Work>(Math.max(run.writers * 2, run.maxBatch * 2));

  const progress = createProgress(opts.progress);
  const snapshot = (): ProgressSnapshot => ({ ...state.counts, listingDone: state.listingDone, elapsedMs: Math.round(performance.now() - run.started) });
  const ticker = setInterval(() => progress.update(snapshot()), 250);
  ticker.unref();

  const pipelineStart = performance.now();
  const cpuStart = process.cpuUsage();
  const mainBusy = threadBusyMeter();
  // allSettled: a failing stage (a listing that keeps failing) must not leave the others running unwatched.
  const pipeline = Promise.allSettled([
    sourceStage(run, srcQ),
    fetchStage(run, srcQ, fetchedQ),
    prepareStage(run, fetchedQ, preparedQ),
    inferStage(run, preparedQ, writeQ),
    writeStage(run, writeQ),
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
    state.hardStopped = true;
    log('grace period over: abandoning in-flight objects (they have no result and are redone on the next run)');
  }
  // Bulk results: the open part is written now (after a drain, an abort or a failed stage: its
  // lines are final). After the grace period it is dropped: its objects are redone next run.
  if (outcome !== 'grace') await run.bulk?.close();
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
  return summarise(run, { pipelineStart, cpu, mainMs });
}
