/** Stage 2: decode and preprocess on the worker pool. */
import { FileNotFoundError, ResnetError } from '../../core/errors.js';
import { codeOf } from '../error-code.js';
import { localSource } from '../sources/local-results.js';
import { UnreadableFileError, type Prepared } from '../threads/prepare-pool.js';
import { pumpStage, type BoundedQueue } from '../threads/queue.js';
import type { RunContext, Work } from './context.js';

/**
 * Takes objects from `input` on twice as many lanes as decode workers and puts them into `out`
 * with their tensors (a local file is read and hashed by the worker too); an image that does not
 * decode goes on with the error its result will say. Closes `out` when `input` is drained.
 */
export function prepareStage(run: RunContext, input: BoundedQueue<Work>, out: BoundedQueue<Work>): Promise<void> {
  const { state, local, pool, clocks, record } = run;
  const prepareOne = async (w: Work): Promise<Work | undefined> => {
    if (state.hardStopped) return undefined;
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
  return pumpStage(input, out, Math.max(1, pool.size) * 2, prepareOne);
}
