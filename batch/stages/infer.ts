/** Stage 3: the batcher and inference, then the labels. */
import { performance } from 'node:perf_hooks';

import { codeOf } from '../error-code.js';
import type { BoundedQueue } from '../threads/queue.js';
import type { RunContext, Work } from './context.js';

/**
 * Runs `run.inferConcurrency` loops that fill a batch from `input` (up to `run.maxBatch` tensors,
 * waiting at most `run.batchWaitMs` once they hold one image), infer it and label each image into
 * `out`; an image with an error goes straight on to its result. Closes `out` when all loops end.
 */
export async function inferStage(run: RunContext, input: BoundedQueue<Work>, out: BoundedQueue<Work>): Promise<void> {
  const { state, classifier, pool, clocks, record, maxBatch, batchWaitMs, top, parentSettings } = run;
  const inferLoop = async (): Promise<void> => {
    let carry: Work | undefined;
    for (;;) {
      const first = carry ?? (await input.take());
      carry = undefined;
      if (first === undefined) return;
      if (first.error) {
        await out.push(first);
        continue;
      }
      const items = [first];
      let tensors = first.prepared!.tensors.length;
      const deadline = performance.now() + batchWaitMs;
      while (tensors < maxBatch) {
        const left = deadline - performance.now();
        const next = input.tryTake() ?? (left > 0 ? await input.takeWithin(left) : undefined);
        if (next === undefined || next === 'timeout') break;
        if (next.error) {
          await out.push(next);
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
      if (state.hardStopped) return;
      const t = performance.now();
      try {
        const batchTensors = items.flatMap((w) => w.prepared!.tensors);
        const logits = await classifier.infer(batchTensors);
        pool.recycle(batchTensors);
        const ms = performance.now() - t;
        clocks.inference.add(ms, items.length);
        state.batches++;
        state.tensorsInferred += logits.length;
        let cursor = 0;
        for (const w of items) {
          const n = w.prepared!.tensors.length;
          const tp = performance.now();
          const answer = classifier.answerFor(logits.slice(cursor, cursor + n), top, { minParentConfidence: parentSettings.minConfidence });
          w.labels = answer.labels;
          w.parents = answer.parents;
          w.postprocessMs = performance.now() - tp;
          cursor += n;
          w.inferenceMs = ms / items.length;
          w.prepared = { ...w.prepared!, tensors: [] };
          await out.push(w);
        }
      } catch (err) {
        for (const w of items) record(w, { status: 'failed', ...codeOf(err) });
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: run.inferConcurrency }, inferLoop));
  } finally {
    out.close();
  }
}
