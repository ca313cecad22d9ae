/**
 * What an onnxruntime session is created with, and what a model must look like to be an image
 * classifier. No onnxruntime import at run time: a Lambda function starts its model thread
 * (functions/common/session-thread.ts) with these before its bundle has loaded onnxruntime.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';

import type * as ort from 'onnxruntime-node';

import { InvalidArgumentError, InvalidModelError } from './errors.js';

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

/** The default of {@link SessionOptions.maxDynamicBatch}. */
export const DEFAULT_MAX_DYNAMIC_BATCH = 32;

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

/** What a classifier's input and output say about it. */
export interface ClassifierShape {
  /** Name of the image input (the zoo's is `data`). */
  readonly inputName: string;
  /** Name of the logits output. */
  readonly outputName: string;
  /** Side S of the square input, in pixels. */
  readonly inputSize: number;
  /** Length of each logits vector. */
  readonly numClasses: number;
  /** Batch size fixed in the file, or null when the batch dimension is dynamic. */
  readonly maxBatch: number | null;
}

/**
 * Checks a session's metadata is an image classifier's: one float32 input [N,3,S,S] and one float32
 * output [N,classes].
 * @throws InvalidModelError naming what does not fit
 */
export function classifierShape(inputs: readonly ort.InferenceSession.ValueMetadata[], outputs: readonly ort.InferenceSession.ValueMetadata[]): ClassifierShape {
  const input = tensorMetadata(inputs, 'input');
  const output = tensorMetadata(outputs, 'output');
  const [n, c, h, w] = input.shape;
  if (input.shape.length !== 4 || fixedDim(c) !== 3 || fixedDim(h) === null || fixedDim(h) !== fixedDim(w)) {
    throw new InvalidModelError(`its input "${input.name}" has shape [${input.shape.join(',')}], expected [N,3,S,S] (an RGB image, channels first)`);
  }
  if (output.shape.length !== 2 || fixedDim(output.shape[1]) === null) {
    throw new InvalidModelError(`its output "${output.name}" has shape [${output.shape.join(',')}], expected [N,classes]`);
  }
  return { inputName: input.name, outputName: output.name, inputSize: fixedDim(h) ?? 0, numClasses: fixedDim(output.shape[1]) ?? 0, maxBatch: fixedDim(n) };
}

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
 * Checks every input is one CHW image of `inputSize` (what `ClassifierSession.run` takes).
 * @throws InvalidArgumentError naming the first input of the wrong length
 */
export function checkInputs(inputs: readonly Float32Array[], inputSize: number): void {
  const size = 3 * inputSize * inputSize;
  inputs.forEach((t, i) => {
    if (t.length !== size) throw new InvalidArgumentError(`Input ${i} has ${t.length} floats; the model expects 3x${inputSize}x${inputSize} = ${size} (CHW).`);
  });
}
