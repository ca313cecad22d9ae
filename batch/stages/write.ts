/** Stage 4: tags, then the result object (the commit marker), then the manifest line; or, with `--results shard`, a line in the child's open part. */
import { performance } from 'node:perf_hooks';

import { buildErrorResult, buildResult, type ResultDoc, type ResultTimings } from '../../labelling/results.js';
import { codeOf } from '../error-code.js';
import { withRetry } from '../s3/retry.js';
import { writeLocalResult } from '../sources/local-results.js';
import { BoundedQueue, pumpStage } from '../threads/queue.js';
import type { RunContext, Work } from './context.js';

/**
 * Takes labelled (or failed-to-decode) objects from `input` on `run.writers` lanes and writes each
 * one's result: to S3 through `commitResult` (never over a newer one), or into `run.outDir`.
 */
export function writeStage(run: RunContext, input: BoundedQueue<Work>): Promise<void> {
  const { opts, state, local, outDir, model, producer, io, retry, tags, top, parentSettings, clocks, record } = run;
  const writeOne = async (w: Work): Promise<undefined> => {
    if (state.hardStopped) return undefined;
    const t = performance.now();
    const timingsMs: ResultTimings = {
      download: w.downloadMs ?? 0,
      ...(w.prepared ? { decode: w.prepared.decodeMs, preprocess: w.prepared.preprocessMs } : {}),
      ...(w.inferenceMs !== undefined ? { inference: w.inferenceMs, postprocess: w.postprocessMs ?? 0 } : {}),
      total: t - w.t0,
    };
    const extra = { producer, timingsMs, labelledAt: new Date().toISOString() };
    const doc: ResultDoc = w.error ? buildErrorResult(w.src!, model, w.error, extra) : buildResult(w.src!, model, { labels: w.labels!, parents: w.parents ?? [] }, extra);
    try {
      if (run.bulk) {
        // One line in this child's open part; the outcome is recorded when the part is written.
        await run.bulk.add(doc, (where, err) => {
          if (where === null) record(w, { status: 'failed', ...codeOf(err) });
          else if (w.error) record(w, { status: 'failed', code: w.error.code, message: w.error.message, etag: doc.etag, result: where });
          else record(w, { status: 'done', etag: doc.etag, label: w.labels![0]?.name ?? '', result: where });
        });
        clocks.write.add(performance.now() - t);
        return undefined;
      }
      let decision: 'write' | 'same' | 'stale' = 'write';
      let where: string;
      if (local) where = await writeLocalResult(outDir, w.rk, doc);
      else {
        const resultsBucket = opts.resultsBucket ?? process.env.RESULTS_BUCKET ?? w.obj.bucket!;
        const committed = await withRetry(
          () => io!.commitResult(doc, { resultsBucket, resultKey: w.rk, tags, maxLabels: top, maxParents: parentSettings.tagParents, ...(opts.force ? { force: true } : {}) }),
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
  return pumpStage(input, new BoundedQueue<never>(1), run.writers, writeOne);
}
