/**
 * Worker-thread entry of the inference thread ({@link InferenceThread}): owns the onnxruntime
 * session, so `session.run` — synchronous inside onnxruntime-node, it holds its thread for the
 * whole graph — never stalls the batch worker's event loop (downloads, decode dispatch, writes).
 */
import { parentPort, workerData } from 'node:worker_threads';

import { ModelSession, type SessionOptions } from '../../core/session.js';
import { toWire, type WireError } from './wire-error.js';

/** What the thread is started with. */
export interface InferWorkerData {
  modelPath: string;
  opts: SessionOptions;
}

/** A batch: `n` CHW tensors packed one after another in shared memory (the sender reuses it once answered). */
export interface InferRequest {
  id: number;
  data: Float32Array;
  n: number;
}

/** Messages from the thread. */
export type InferMessage =
  | { kind: 'ready'; inputSize: number; numClasses: number; maxBatch: number | null }
  | { kind: 'failed-to-open'; error: WireError }
  | { kind: 'result'; id: number; logits: Float32Array }
  | { kind: 'error'; id: number; error: WireError };

const port = parentPort;
if (port) {
  const { modelPath, opts } = workerData as InferWorkerData;
  void (async () => {
    let session: ModelSession;
    try {
      session = await ModelSession.create(modelPath, opts);
    } catch (err) {
      port.postMessage({ kind: 'failed-to-open', error: toWire(err) } satisfies InferMessage);
      return;
    }
    // One batch at a time, in arrival order: onnxruntime runs them one after another in this thread
    // anyway, and the batch buffer below is reused, so a second request must not overwrite it while
    // the first waits for its turn inside onnxruntime.
    let queue: Promise<void> = Promise.resolve();
    let local = new Float32Array(0);
    const runOne = async (req: InferRequest): Promise<void> => {
      try {
        const size = 3 * session.inputSize * session.inputSize;
        // onnxruntime-node refuses tensors over shared memory: one copy into a buffer kept for the next batches.
        if (local.length < req.n * size) local = new Float32Array(req.n * size);
        local.set(req.data.subarray(0, req.n * size));
        const views = Array.from({ length: req.n }, (_, i) => local.subarray(i * size, (i + 1) * size));
        const out = await session.run(views);
        const logits = new Float32Array(req.n * session.numClasses);
        out.forEach((l, i) => logits.set(l, i * session.numClasses));
        port.postMessage({ kind: 'result', id: req.id, logits } satisfies InferMessage, [logits.buffer]);
      } catch (err) {
        port.postMessage({ kind: 'error', id: req.id, error: toWire(err) } satisfies InferMessage);
      }
    };
    port.on('message', (req: InferRequest | 'dispose') => {
      if (req === 'dispose') {
        queue = queue.then(() => session.dispose()).then(() => port.close());
        return;
      }
      queue = queue.then(() => runOne(req));
    });
    port.postMessage({ kind: 'ready', inputSize: session.inputSize, numClasses: session.numClasses, maxBatch: session.maxBatch } satisfies InferMessage);
  })();
}
