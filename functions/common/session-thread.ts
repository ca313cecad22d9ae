/**
 * The Lambda functions' model session in a worker thread, started before the bundle has loaded
 * anything else (functions/common/preload.ts). onnxruntime-node creates a session and runs it
 * synchronously on the calling thread, so on the main thread a cold start pays module import,
 * session creation and the first inference (which pages in the mapped weights) one after another.
 * In a thread, creation and a warm-up inference run on the second vCPU while the main thread
 * imports the AWS SDK, Powertools and the core; the first request finds a warm session.
 *
 * The thread's code is a short CommonJS script evaluated in the worker: the Lambda bundle is a
 * single file, and this one needs nothing but onnxruntime-node (the layer's, found through
 * NODE_PATH). What the session must look like is checked here, on the main thread, with the
 * core's {@link classifierShape}; the results are the same as a main-thread session's (the same
 * options, the same graph, the same kernels).
 */
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';

import type * as ort from 'onnxruntime-node';

import { InvalidArgumentError, InvalidModelError } from '../../core/errors.js';
import { checkInputs, classifierShape, DEFAULT_MAX_DYNAMIC_BATCH, ortSessionOptions, SESSION_MEASURES, type ClassifierShape, type SessionOptions } from '../../core/session-contract.js';
import type { ClassifierSession } from '../../core/session.js';

/** A span measured in the thread: its start as a Unix epoch in ms (threads have their own time origin) and its length. */
interface Span {
  readonly at: number;
  readonly ms: number;
}

type ThreadMessage =
  | { kind: 'ready'; inputs: ort.InferenceSession.ValueMetadata[]; outputs: ort.InferenceSession.ValueMetadata[]; create: Span }
  | { kind: 'failed'; message: string }
  | { kind: 'warm'; run: Span }
  | { kind: 'result'; id: number; logits: Float32Array }
  | { kind: 'error'; id: number; message: string };

const THREAD_SOURCE = String.raw`'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { performance } = require('node:perf_hooks');
const epoch = () => performance.timeOrigin + performance.now();
(async () => {
  const { modelPath, options } = workerData;
  let ort, session;
  const at = epoch();
  try {
    ort = require('onnxruntime-node');
    session = await ort.InferenceSession.create(modelPath, options);
  } catch (e) {
    parentPort.postMessage({ kind: 'failed', message: String((e && e.message) || e) });
    return;
  }
  const inputName = session.inputNames[0], outputName = session.outputNames[0];
  const run = async (data, dims) => {
    const out = (await session.run({ [inputName]: new ort.Tensor('float32', data, dims) }, [outputName]))[outputName];
    const logits = out.data.slice();
    out.dispose();
    return logits;
  };
  let queue = Promise.resolve();
  parentPort.on('message', (m) => {
    queue = queue.then(async () => {
      if (m === 'dispose') { await session.release(); parentPort.close(); return; }
      try {
        const logits = await run(m.data, m.dims);
        parentPort.postMessage({ kind: 'result', id: m.id, logits }, [logits.buffer]);
      } catch (e) {
        parentPort.postMessage({ kind: 'error', id: m.id, message: String((e && e.message) || e) });
      }
    });
  });
  parentPort.postMessage({ kind: 'ready', inputs: session.inputMetadata, outputs: session.outputMetadata, create: { at, ms: epoch() - at } });
  // The warm-up: the first run allocates the buffers and pages in the weights onnxruntime mapped.
  // Zeros of the input's shape (a symbolic dimension as 1); what it returns is dropped.
  const shape = session.inputMetadata[0] && session.inputMetadata[0].shape;
  if (Array.isArray(shape) && shape.length === 4) {
    const dims = shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1));
    queue = queue.then(async () => {
      const t = epoch();
      try {
        await run(new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);
        parentPort.postMessage({ kind: 'warm', run: { at: t, ms: epoch() - t } });
      } catch {
        // A model that cannot run zeros fails the first request instead, with its own error.
      }
    });
  }
})();
`;

/** Records a span measured in the thread as a `performance.measure` of this thread. */
function measureSpan(name: string, span: Span): void {
  performance.measure(name, { start: span.at - performance.timeOrigin, duration: span.ms });
}

type Pending = { resolve: (logits: Float32Array) => void; reject: (err: Error) => void };

/** A {@link ClassifierSession} whose onnxruntime session lives in a worker thread. */
export class SessionThread implements ClassifierSession {
  readonly inputSize: number;
  readonly numClasses: number;
  readonly maxBatch: number | null;
  private readonly chunkSize: number;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  private constructor(
    private readonly worker: Worker,
    shape: ClassifierShape,
    maxDynamicBatch: number,
  ) {
    this.inputSize = shape.inputSize;
    this.numClasses = shape.numClasses;
    this.maxBatch = shape.maxBatch;
    this.chunkSize = shape.maxBatch ?? maxDynamicBatch;
    worker.on('message', (m: ThreadMessage) => {
      if (m.kind === 'warm') measureSpan(SESSION_MEASURES.firstRun, m.run);
      if (m.kind !== 'result' && m.kind !== 'error') return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) worker.unref();
      if (m.kind === 'result') p.resolve(m.logits);
      else p.reject(new InvalidModelError(`onnxruntime could not run it (${m.message})`));
    });
    worker.on('error', (err) => this.rejectAll(err));
    worker.on('exit', (code) => this.rejectAll(new Error(`the model thread exited (code ${code}); the next cold start loads the model again`)));
  }

  /**
   * Starts the thread and opens `modelPath` there with the options `ModelSession.create` would use.
   * Called during Lambda's init; the promise settles once the session exists (its warm-up inference
   * follows in the thread, before any request's).
   * @throws InvalidModelError when the thread could not open the model or it is not a classifier
   *   (callers fall back to `ModelSession.create`, which names the cause), Error when the thread dies
   */
  static start(modelPath: string, opts: SessionOptions = {}): Promise<SessionThread> {
    const options = ortSessionOptions(opts);
    const worker = new Worker(THREAD_SOURCE, { eval: true, workerData: { modelPath, options } });
    return new Promise<SessionThread>((resolve, reject) => {
      const onMessage = (m: ThreadMessage): void => {
        if (m.kind !== 'ready' && m.kind !== 'failed') return;
        worker.off('message', onMessage);
        if (m.kind === 'failed') {
          reject(new InvalidModelError(`onnxruntime could not load ${modelPath} in the model thread (${m.message})`));
          void worker.terminate();
          return;
        }
        try {
          const shape = classifierShape(m.inputs, m.outputs);
          measureSpan(SESSION_MEASURES.create, m.create);
          // No request waits on it now: an idle thread must not keep a process alive.
          worker.unref();
          resolve(new SessionThread(worker, shape, opts.maxDynamicBatch ?? DEFAULT_MAX_DYNAMIC_BATCH));
        } catch (err) {
          void worker.terminate();
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      };
      worker.on('message', onMessage);
      worker.once('error', (err) => reject(err));
      worker.once('exit', (code) => reject(new Error(`the model thread exited while opening ${modelPath} (code ${code})`)));
    });
  }

  /** Logits per CHW input, in input order, as {@link ModelSession.run} returns them (the inputs are copied). */
  async run(inputs: Float32Array[]): Promise<Float32Array[]> {
    checkInputs(inputs, this.inputSize);
    const size = 3 * this.inputSize * this.inputSize;
    const batches = Array.from({ length: Math.ceil(inputs.length / this.chunkSize) }, (_, b) => inputs.slice(b * this.chunkSize, (b + 1) * this.chunkSize));
    const logits: Float32Array[] = [];
    for (const batch of batches) {
      // Always copied (the copy is transferred to the thread); a fixed batch larger than the
      // images is padded with zeros, as ModelSession pads it.
      const fed = this.maxBatch ?? batch.length;
      const packed = new Float32Array(fed * size);
      batch.forEach((t, i) => packed.set(t, i * size));
      const out = await this.send(packed, [fed, 3, this.inputSize, this.inputSize]);
      if (out.length !== fed * this.numClasses) throw new InvalidModelError(`its output returned ${out.length} floats, expected ${fed}x${this.numClasses}`);
      batch.forEach((_, i) => logits.push(out.subarray(i * this.numClasses, (i + 1) * this.numClasses)));
    }
    return logits;
  }

  private send(data: Float32Array<ArrayBuffer>, dims: number[]): Promise<Float32Array> {
    if (this.closed) return Promise.reject(new InvalidArgumentError('The model session was disposed; load the model again.'));
    const id = this.nextId++;
    return new Promise<Float32Array>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Referenced while a request waits, so that the process stays up for the answer.
      this.worker.ref();
      this.worker.postMessage({ id, data, dims }, [data.buffer]);
    });
  }

  /** Releases the session and stops the thread; later `run` calls reject. Safe to call twice. */
  async dispose(): Promise<void> {
    if (this.closed) return;
    this.rejectAll(new InvalidArgumentError('The model session was disposed; load the model again.'));
    // The thread releases the session, then closes its port and ends.
    const exited = once(this.worker, 'exit');
    this.worker.postMessage('dispose');
    await exited;
  }

  /** Marks the session closed and rejects every request still waiting. */
  private rejectAll(err: Error): void {
    this.closed = true;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
