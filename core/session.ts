/**
 * The one place that talks to onnxruntime: loads an image classifier, reads its input/output contract
 * from the file, and runs CHW tensors through it in batches the model accepts.
 */
import { stat } from 'node:fs/promises';
import os from 'node:os';
import { performance } from 'node:perf_hooks';

import * as ort from 'onnxruntime-node';

import { FileNotFoundError, InvalidArgumentError, InvalidModelError } from './errors.js';
import { checkInputs, classifierShape, DEFAULT_MAX_DYNAMIC_BATCH, measureSince, ortSessionOptions, SESSION_MEASURES, type SessionOptions } from './session-contract.js';

export { classifierShape, measureSince, ortSessionOptions, SESSION_MEASURES, type ClassifierShape, type SessionOptions } from './session-contract.js';

/**
 * What a {@link Classifier} needs of a session: {@link ModelSession} (onnxruntime in this thread),
 * or one that runs it elsewhere (the batch worker's inference thread) with the same contract.
 */
export interface ClassifierSession {
  /** Side S of the square input, in pixels. */
  readonly inputSize: number;
  /** Length of each logits vector. */
  readonly numClasses: number;
  /** Batch size fixed in the file, or null when the batch dimension is dynamic. */
  readonly maxBatch: number | null;
  /** Logits per CHW input, in input order (see {@link ModelSession.run}). */
  run(inputs: Float32Array[]): Promise<Float32Array[]>;
  /** Releases the session; later `run` calls reject. Safe to call twice. */
  dispose(): Promise<void>;
}

/** Opens a {@link ClassifierSession} for a model file. */
export type SessionOpener = (modelPath: string, opts: SessionOptions) => Promise<ClassifierSession>;

/** A loaded classifier taking float32 [N,3,S,S] and returning logits [N,classes]. One instance, reused for every call. */
export class ModelSession implements ClassifierSession {
  private released = false;
  private ran = false;

  private constructor(
    private readonly session: ort.InferenceSession,
    /** Name of the model's image input (the zoo's is `data`). */
    readonly inputName: string,
    /** Name of the model's logits output. */
    readonly outputName: string,
    /** Side S of the square input, in pixels (224 for the zoo's ResNets). */
    readonly inputSize: number,
    /** Length of each logits vector. */
    readonly numClasses: number,
    /** Batch size fixed in the file (1 for the zoo's opset-7 files), or null when the batch dimension is dynamic. */
    readonly maxBatch: number | null,
    private readonly chunkSize: number,
  ) {}

  /**
   * Loads `modelPath` and checks it is an image classifier: one float32 input [N,3,S,S] and one float32
   * output [N,classes].
   * @throws FileNotFoundError when the file cannot be read; InvalidModelError when it is not ONNX or not
   *   shaped like a classifier; InvalidArgumentError for invalid options.
   */
  static async create(modelPath: string, opts: SessionOptions = {}): Promise<ModelSession> {
    const threads = opts.threads ?? os.availableParallelism();
    if (!Number.isInteger(threads) || threads < 1) throw new InvalidArgumentError(`threads must be a positive integer; got ${String(opts.threads)}.`);
    const maxDynamicBatch = opts.maxDynamicBatch ?? DEFAULT_MAX_DYNAMIC_BATCH;
    if (!Number.isInteger(maxDynamicBatch) || maxDynamicBatch < 1) throw new InvalidArgumentError(`maxDynamicBatch must be a positive integer; got ${String(opts.maxDynamicBatch)}.`);

    try {
      const info = await stat(modelPath);
      if (!info.isFile()) throw new Error('not a regular file');
    } catch (err) {
      throw new FileNotFoundError(modelPath, err);
    }

    let session: ort.InferenceSession;
    const createStart = performance.now();
    try {
      session = await ort.InferenceSession.create(modelPath, ortSessionOptions({ ...opts, threads }));
      measureSince(SESSION_MEASURES.create, createStart);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new InvalidModelError(`onnxruntime could not load ${modelPath} (${reason}); check it is an ONNX file and not truncated`, err);
    }

    try {
      const shape = classifierShape(session.inputMetadata, session.outputMetadata);
      return new ModelSession(session, shape.inputName, shape.outputName, shape.inputSize, shape.numClasses, shape.maxBatch, shape.maxBatch ?? maxDynamicBatch);
    } catch (err) {
      await session.release();
      throw err;
    }
  }

  /**
   * Runs CHW tensors (each `3*inputSize*inputSize` floats, normalised) in chunks of at most
   * {@link maxBatch} (or the dynamic-batch cap). A fixed batch larger than 1 is padded with zeros.
   * @returns one logits vector (a copy, `numClasses` floats) per input, in input order.
   * @throws InvalidArgumentError when a tensor has the wrong length or the session was disposed.
   */
  async run(inputs: Float32Array[]): Promise<Float32Array[]> {
    if (this.released) throw new InvalidArgumentError('The model session was disposed; load the model again.');
    checkInputs(inputs, this.inputSize);
    const size = 3 * this.inputSize * this.inputSize;

    const results: Float32Array[] = [];
    for (let start = 0; start < inputs.length; start += this.chunkSize) {
      const chunk = inputs.slice(start, start + this.chunkSize);
      const n = this.maxBatch ?? chunk.length;
      // A single image, or images already packed back to back in one buffer (the inference
      // thread receives a batch that way), is fed without copying; others are packed into one.
      const first = chunk[0];
      let data = first;
      const packed = n === chunk.length && chunk.every((t, i) => t.buffer === first.buffer && t.byteOffset === first.byteOffset + i * size * 4);
      if (n > 1 && packed) data = new Float32Array(first.buffer, first.byteOffset, n * size);
      else if (n > 1) {
        data = new Float32Array(n * size);
        chunk.forEach((t, i) => data.set(t, i * size));
      }
      const feeds = { [this.inputName]: new ort.Tensor('float32', data, [n, 3, this.inputSize, this.inputSize]) };
      const runStart = performance.now();
      const out = (await this.session.run(feeds, [this.outputName]))[this.outputName];
      if (!this.ran) {
        this.ran = true;
        measureSince(SESSION_MEASURES.firstRun, runStart);
      }
      if (!(out.data instanceof Float32Array) || out.data.length !== n * this.numClasses) {
        throw new InvalidModelError(`its output "${this.outputName}" returned ${out.dims.join('x')} ${out.type}, expected ${n}x${this.numClasses} float32`);
      }
      for (let i = 0; i < chunk.length; i++) results.push(out.data.slice(i * this.numClasses, (i + 1) * this.numClasses));
      out.dispose();
    }
    return results;
  }

  /** Releases the native session; later `run` calls throw. Safe to call twice. */
  async dispose(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.session.release();
  }
}
