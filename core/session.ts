/**
 * The one place that talks to onnxruntime: loads an image classifier, reads its input/output contract
 * from the file, and runs CHW tensors through it in batches the model accepts.
 */
import { stat } from 'node:fs/promises';
import os from 'node:os';
import { performance } from 'node:perf_hooks';

import * as ort from 'onnxruntime-node';

import { FileNotFoundError, InvalidArgumentError, InvalidModelError } from './errors.js';

/** How the session is created. */
export interface SessionOptions {
  /** Intra-op threads for one inference. @default all cores (`os.availableParallelism()`) */
  threads?: number;
  /** onnxruntime execution providers in preference order, e.g. `['cuda', 'cpu']`. @default ['cpu'] */
  executionProviders?: string[];
  /**
   * Largest batch sent in one `session.run` when the model's batch dimension is dynamic; bounds memory
   * (a ResNet-50 batch of 32 needs about 1.5 GB of activations). @default 32
   */
  maxDynamicBatch?: number;
  /**
   * Whether onnxruntime's intra-op threads busy-wait for the next parallel section instead of
   * sleeping (`session.intra_op.allow_spinning`). Spinning shaves microseconds per operator when the
   * process has the cores to itself; turn it off when other threads (decode workers) share the cores,
   * or the spinning steals their CPU. @default true (onnxruntime's default)
   */
  allowSpinning?: boolean;
  /**
   * Whether the graph was already optimised offline at a portable level (the model layer's
   * `optimized` form, layers/build-model-form.ts): the session then loads it with graph
   * optimisation disabled, which skips most of the cost of creating it. @default false
   */
  preOptimized?: boolean;
}

const DEFAULT_MAX_DYNAMIC_BATCH = 32;

/**
 * Names of the `performance.measure` entries recorded once per model load: the labels and header
 * read (core/classifier.ts), session creation and first inference (here). bench:artifacts reads
 * them from a sandboxed Lambda process.
 */
export const SESSION_MEASURES = {
  layerRead: 'resnet:layer-read',
  create: 'resnet:session-create',
  firstRun: 'resnet:first-inference',
} as const;

/** Records a `performance.measure` from `start` (a `performance.now()` value) to now. */
export function measureSince(name: string, start: number): void {
  performance.measure(name, { start, end: performance.now() });
}

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

/**
 * The onnxruntime options {@link ModelSession.create} uses, for callers that need an identical bare
 * session (the benchmark's `session.run` floor).
 * @default threads all cores; executionProviders ['cpu']; allowSpinning true
 */
export function ortSessionOptions(opts: Pick<SessionOptions, 'threads' | 'executionProviders' | 'allowSpinning' | 'preOptimized'> = {}): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: opts.executionProviders ?? ['cpu'],
    intraOpNumThreads: opts.threads ?? os.availableParallelism(),
    // Requests are parallelised across images by callers; one graph runs its ops in order.
    interOpNumThreads: 1,
    executionMode: 'sequential',
    // A pre-optimised graph would only be searched again for rewrites already made, at the cost
    // of a copy of every weight; `all` on top of it would add the CPU-specific NCHWc layout,
    // faster per image but the bulk of a cold start (docs/cold-start.md).
    graphOptimizationLevel: opts.preOptimized ? 'disabled' : 'all',
    // Session config entry; the Node binding takes string values only.
    ...(opts.allowSpinning === false ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
  };
}

type TensorMetadata = Extract<ort.InferenceSession.ValueMetadata, { isTensor: true }>;

function tensorMetadata(meta: readonly ort.InferenceSession.ValueMetadata[], kind: string): TensorMetadata {
  if (meta.length !== 1) throw new InvalidModelError(`it has ${meta.length} ${kind}s, an image classifier has exactly one`);
  const m = meta[0];
  if (!m.isTensor) throw new InvalidModelError(`its ${kind} "${m.name}" is not a tensor`);
  if (m.type !== 'float32') throw new InvalidModelError(`its ${kind} "${m.name}" is ${m.type}, expected float32`);
  return m;
}

/** A fixed dimension's size, or null for a symbolic/unknown one (onnxruntime reports those as strings or -1). */
function fixedDim(d: number | string | undefined): number | null {
  return typeof d === 'number' && d > 0 ? d : null;
}

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
      const input = tensorMetadata(session.inputMetadata, 'input');
      const output = tensorMetadata(session.outputMetadata, 'output');
      const [n, c, h, w] = input.shape;
      if (input.shape.length !== 4 || fixedDim(c) !== 3 || fixedDim(h) === null || fixedDim(h) !== fixedDim(w)) {
        throw new InvalidModelError(`its input "${input.name}" has shape [${input.shape.join(',')}], expected [N,3,S,S] (an RGB image, channels first)`);
      }
      if (output.shape.length !== 2 || fixedDim(output.shape[1]) === null) {
        throw new InvalidModelError(`its output "${output.name}" has shape [${output.shape.join(',')}], expected [N,classes]`);
      }
      const batch = fixedDim(n);
      return new ModelSession(session, input.name, output.name, fixedDim(h) ?? 0, fixedDim(output.shape[1]) ?? 0, batch, batch ?? maxDynamicBatch);
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
    const size = 3 * this.inputSize * this.inputSize;
    inputs.forEach((t, i) => {
      if (t.length !== size) throw new InvalidArgumentError(`Input ${i} has ${t.length} floats; the model expects 3x${this.inputSize}x${this.inputSize} = ${size} (CHW).`);
    });

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
