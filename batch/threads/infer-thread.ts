/**
 * The batch worker's inference stage in its own thread. onnxruntime-node's `session.run` is
 * synchronous under its promise: on the main thread a one-second CPU batch (ResNet-50, 16 images)
 * freezes the event loop that feeds the decode workers, so they run dry and decode and inference
 * take turns instead of overlapping. Here the session lives in a worker thread; the main thread
 * only packs the batch into shared memory it reuses for later batches (a fresh ~10 MB buffer per
 * batch cost the event loop page faults and garbage collections) and gets the logits back.
 */
import { Worker } from 'node:worker_threads';

import { InvalidArgumentError } from '../../core/errors.js';
import type { ClassifierSession, SessionOptions } from '../../core/session.js';
import type { InferMessage, InferRequest, InferWorkerData } from './infer-worker.js';
import { fromWire } from './wire-error.js';
import { workerEntry } from './worker-entry.js';

type Pending = { resolve: (logits: Float32Array) => void; reject: (err: unknown) => void };

/** A {@link ClassifierSession} whose onnxruntime session runs in a worker thread. */
export class InferenceThread implements ClassifierSession {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  private failure: Error | undefined;
  /** Shared batch buffers not in use (one per batch in flight at most). */
  private readonly spare: SharedArrayBuffer[] = [];

  private constructor(
    private readonly worker: Worker,
    readonly inputSize: number,
    readonly numClasses: number,
    readonly maxBatch: number | null,
  ) {
    worker.on('message', (m: InferMessage) => {
      if (m.kind !== 'result' && m.kind !== 'error') return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.kind === 'result') p.resolve(m.logits);
      else p.reject(fromWire(m.error));
    });
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => this.fail(new Error(`the inference thread exited (code ${code})`)));
  }

  /**
   * Starts the thread and opens the model there with `opts` (the same options as `ModelSession.create`).
   * @throws what `ModelSession.create` throws (same error codes), or an Error when the thread cannot start
   */
  static async create(modelPath: string, opts: SessionOptions = {}): Promise<InferenceThread> {
    const entry = workerEntry(new URL('./infer-worker.js', import.meta.url));
    const worker = new Worker(entry.script, { eval: entry.eval, workerData: { modelPath, opts } satisfies InferWorkerData });
    const ready = await new Promise<Extract<InferMessage, { kind: 'ready' }>>((resolve, reject) => {
      const done = (err: Error | undefined, msg?: Extract<InferMessage, { kind: 'ready' }>): void => {
        worker.off('message', onMessage).off('error', onError).off('exit', onExit);
        if (err) reject(err);
        else resolve(msg!);
      };
      const onMessage = (m: InferMessage): void => {
        if (m.kind === 'ready') done(undefined, m);
        else if (m.kind === 'failed-to-open') done(fromWire(m.error));
      };
      const onError = (err: Error): void => done(err);
      const onExit = (code: number): void => done(new Error(`the inference thread exited while opening the model (code ${code})`));
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
    }).catch(async (err: unknown) => {
      await worker.terminate();
      throw err;
    });
    return new InferenceThread(worker, ready.inputSize, ready.numClasses, ready.maxBatch);
  }

  /** Logits per CHW input, in input order; the inputs are copied, not detached. */
  run(inputs: Float32Array[]): Promise<Float32Array[]> {
    if (this.closed) return Promise.reject(this.failure ?? new InvalidArgumentError('The model session was disposed; load the model again.'));
    const size = 3 * this.inputSize * this.inputSize;
    for (const [i, t] of inputs.entries()) {
      if (t.length !== size) return Promise.reject(new InvalidArgumentError(`Input ${i} has ${t.length} floats; the model expects 3x${this.inputSize}x${this.inputSize} = ${size} (CHW).`));
    }
    if (inputs.length === 0) return Promise.resolve([]);
    // Packed into shared memory kept for the next batches: a fresh batch-sized buffer per run
    // (~10 MB at 16 images) cost page faults and garbage collections on the event loop.
    const bytes = inputs.length * size * 4;
    const i0 = this.spare.findIndex((b) => b.byteLength >= bytes);
    const shared = i0 >= 0 ? this.spare.splice(i0, 1)[0]! : new SharedArrayBuffer(bytes);
    const data = new Float32Array(shared, 0, inputs.length * size);
    inputs.forEach((t, i) => data.set(t, i * size));
    const id = this.nextId++;
    const classes = this.numClasses;
    return new Promise<Float32Array>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, data, n: inputs.length } satisfies InferRequest);
    })
      .finally(() => this.spare.push(shared))
      .then((logits) => Array.from({ length: inputs.length }, (_, i) => logits.subarray(i * classes, (i + 1) * classes)));
  }

  private fail(err: Error): void {
    if (!this.closed) this.failure = err;
    this.closed = true;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /** Releases the session and stops the thread; pending runs reject. Safe to call twice. */
  async dispose(): Promise<void> {
    if (this.closed) {
      await this.worker.terminate();
      return;
    }
    this.closed = true;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.postMessage('dispose');
    // The thread releases the session and closes its port; terminate() is the backstop.
    const timer = setTimeout(() => void this.worker.terminate(), 5_000);
    await exited;
    clearTimeout(timer);
    for (const p of this.pending.values()) p.reject(new InvalidArgumentError('The model session was disposed; load the model again.'));
    this.pending.clear();
  }
}
