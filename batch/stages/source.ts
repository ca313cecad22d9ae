/** Stage 0: the source (listing, manifest, inventory or folder), filtered to this shard; stops at abort. */
import { performance } from 'node:perf_hooks';

import { resultKey } from '../../labelling/results.js';
import { LOCAL_BUCKET } from '../sources/local-results.js';
import { inShard } from '../sources/shard.js';
import { openSource } from '../sources/sources.js';
import type { BoundedQueue } from '../threads/queue.js';
import type { RunContext, Work } from './context.js';

/**
 * Pushes every object of the input in this shard (minus our own results and other extensions)
 * into `out`, with its result key; closes `out` at the end, after an abort, or on a failure.
 */
export async function sourceStage(run: RunContext, out: BoundedQueue<Work>): Promise<void> {
  const { opts, s3, retry, state, local, shard, resultsPrefix, extensions, model } = run;
  try {
    const source = openSource(run.spec, {
      ...(s3 ? { s3 } : {}),
      ...(opts.bucket ? { defaultBucket: opts.bucket } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      retry,
      shard,
    });
    for await (const obj of source) {
      if (opts.signal?.aborted || state.hardStopped) return;
      // A backlog part or an inventory file of its own is this child's share already; the rest is split by key hash.
      if (!obj.sharded && !inShard(obj.key, shard)) continue;
      const resultsBucket = opts.resultsBucket ?? process.env.RESULTS_BUCKET ?? obj.bucket;
      // Never label our own output (the input prefix may contain the results prefix).
      if (!local && obj.bucket === resultsBucket && obj.key.startsWith(resultsPrefix)) continue;
      if (extensions && !extensions.includes(obj.key.slice(obj.key.lastIndexOf('.') + 1).toLowerCase())) continue;
      state.counts.listed++;
      const rk = resultKey(local ? '' : resultsPrefix, obj.bucket ?? LOCAL_BUCKET, obj.key, model);
      await out.push({ obj, rk, t0: performance.now() });
    }
    state.sourceExhausted = !opts.signal?.aborted;
  } finally {
    state.listingDone = true;
    out.close();
  }
}
