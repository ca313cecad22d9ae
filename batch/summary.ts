/** A run's summary (counts, rates, the stage clocks' statistics) and its lines for people. */
import { performance } from 'node:perf_hooks';

import type { RunContext } from './stages/context.js';
import type { BatchSummary, StageStats } from './types.js';

/** What the pipeline measured around its stages (all from `performance.now()` and `process.cpuUsage()`). */
export interface PipelineMeasures {
  /** When the stages started, in ms. */
  pipelineStart: number;
  /** The process's CPU time while they ran. */
  cpu: NodeJS.CpuUsage;
  /** The main thread's busy time while they ran, in ms. */
  mainMs: number;
}

/** The summary of a finished run: its counts, rates and stage statistics, wall time up to now. */
export function summarise(run: RunContext, m: PipelineMeasures): BatchSummary {
  const { state, clocks, manifest } = run;
  const { counts } = state;
  const wallMs = performance.now() - run.started;
  return {
    model: run.model,
    ep: run.ep,
    shard: run.shard,
    ...counts,
    unfinished: state.unfinished,
    failuresByCode: state.failuresByCode,
    interrupted: !state.sourceExhausted || state.hardStopped,
    wallMs: Math.round(wallMs),
    setupMs: Math.round(m.pipelineStart - run.started),
    imagesPerSecond: Number((((counts.done + counts.failed) * 1000) / Math.max(1, performance.now() - m.pipelineStart)).toFixed(2)),
    cpuMsPerImage: Number(((m.cpu.user + m.cpu.system) / 1000 / Math.max(1, counts.done + counts.failed)).toFixed(1)),
    mainThreadMsPerImage: Number((m.mainMs / Math.max(1, counts.done + counts.failed)).toFixed(2)),
    prepareMode: run.pool.mode,
    meanBatch: state.batches ? Number((state.tensorsInferred / state.batches).toFixed(2)) : 0,
    stages: {
      download: clocks.download.stats(),
      decode: clocks.decode.stats(),
      preprocess: clocks.preprocess.stats(),
      inference: clocks.inference.stats(),
      write: clocks.write.stats(),
    },
    ...(manifest ? { manifestPath: manifest.path } : {}),
    results: run.results,
    ...(run.bulk ? { bulk: { location: run.bulk.location, partsWritten: run.bulk.partsWritten, partsFound: run.bulk.partsFound } } : {}),
  };
}

/** A few lines for people: counts, failures by code, img/s by stage. */
export function formatSummary(s: BatchSummary): string {
  const stage = (name: string, st: StageStats): string =>
    `  ${name.padEnd(11)} ${String(st.count).padStart(7)} img  ${st.perSecond.toFixed(1).padStart(8)} img/s capacity  (${st.parallelism} lane${st.parallelism === 1 ? '' : 's'})`;
  const failures = Object.entries(s.failuresByCode)
    .sort((a, b) => b[1] - a[1])
    .map(([c, n]) => `${c} ${n}`)
    .join(', ');
  const bulk = s.bulk ? [`results: ${s.bulk.partsWritten} part${s.bulk.partsWritten === 1 ? '' : 's'} written under ${s.bulk.location} (${s.bulk.partsFound} from earlier runs)`] : [];
  const head = `${s.interrupted ? 'INTERRUPTED' : 'finished'}: ${s.listed} listed (shard ${s.shard.index}/${s.shard.count}), ${s.done} labelled, ${s.skipped} skipped, ${s.failed} failed (${s.unfinished} without a result)`;
  // Rates of a run that inferred nothing (all skipped, or nothing listed) would be meaningless.
  if (s.done + s.failed === 0) {
    return [`${head} in ${(s.wallMs / 1000).toFixed(1)} s: nothing to label${s.skipped ? (s.bulk ? ' (every object is already in a part of this run; a new --run-id labels them again)' : ' (every object already has a result for this model; --force labels them again)') : ''}`, ...bulk, ...(s.manifestPath ? [`manifest: ${s.manifestPath}`] : [])].join('\n');
  }
  return [
    `${head} in ${(s.wallMs / 1000).toFixed(1)} s (${(s.setupMs / 1000).toFixed(1)} s set-up) = ${s.imagesPerSecond} img/s end to end`,
    `model ${s.model} on ${s.ep}, mean batch ${s.meanBatch}, ${s.cpuMsPerImage} CPU-ms per image, main thread ${s.mainThreadMsPerImage} ms per image (at most ${s.mainThreadMsPerImage > 0 ? Math.round(1000 / s.mainThreadMsPerImage) : '-'} img/s on any hardware), decoding ${s.prepareMode === 'workers' ? 'on worker threads' : 'in the main thread'}`,
    ...(failures ? [`failures: ${failures}`] : []),
    stage('download', s.stages.download),
    stage('decode', s.stages.decode),
    stage('preprocess', s.stages.preprocess),
    stage('inference', s.stages.inference),
    stage('write', s.stages.write),
    ...bulk,
    ...(s.manifestPath ? [`manifest: ${s.manifestPath}`] : []),
  ].join('\n');
}
