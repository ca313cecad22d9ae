/** Stage 1: the skip check (a current result exists) and the download. */
import { performance } from 'node:perf_hooks';

import { DEFAULT_MAX_BYTES } from '../../labelling/label-object.js';
import { decideWrite, type ResultDoc } from '../../labelling/results.js';
import { codeOf } from '../error-code.js';
import { withRetry } from '../s3/retry.js';
import { localResultIsCurrent, readLocalResult } from '../sources/local-results.js';
import { pumpStage, type BoundedQueue } from '../threads/queue.js';
import type { RunContext, Work } from './context.js';

/**
 * Takes objects from `input` on `run.downloads` lanes: records the ones with a current result as
 * skipped, downloads the others into `out` (a local file goes on as it is: a decode worker reads it).
 * Closes `out` when `input` is drained.
 */
export function fetchStage(run: RunContext, input: BoundedQueue<Work>, out: BoundedQueue<Work>): Promise<void> {
  const { opts, state, local, outDir, model, record, io, retry, clocks } = run;
  const fetchOne = async (w: Work): Promise<Work | undefined> => {
    if (state.hardStopped) return undefined;
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
        // Read, hashed (its ETag) and decoded by a decode worker (prepareStage): the file's bytes
        // never reach this thread, and 4 ms of MD5 per 12 MP file stays off the event loop.
        return w;
      }
      const bucket = w.obj.bucket!;
      let prior: ResultDoc | null = null;
      if (run.bulk) {
        // --results shard: an object in one of this child's finished parts is skipped without a
        // request; no per-object result is read (and --force is refused for this mode).
        if (run.bulk.isFinished(bucket, w.obj.key)) {
          record(w, { status: 'skipped', code: 'duplicate', ...(w.obj.etag ? { etag: w.obj.etag } : {}) });
          return undefined;
        }
      } else if (!opts.force) {
        const resultsBucket = opts.resultsBucket ?? process.env.RESULTS_BUCKET ?? bucket;
        prior = (await withRetry(() => io!.readResult(resultsBucket, w.rk), retry))?.doc ?? null;
        if (prior && w.obj.etag && prior.model === model && prior.etag === w.obj.etag && (w.obj.versionId ?? null) === prior.versionId) {
          record(w, { status: 'skipped', code: 'duplicate', etag: prior.etag });
          return undefined;
        }
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
  return pumpStage(input, out, run.downloads, fetchOne);
}
