/**
 * Where the model layer's model is (`MODEL_DIR`, `/opt/model`) and how to open it, from the
 * environment alone: model.ts and preload.ts (which runs before anything else is imported) both read it here.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

import type { SessionOptions } from '../../core/session-contract.js';
import { OPTIMIZED_MODEL_FILE } from '../../layers/model-form.js';

/** The layer's model, labels and session options. */
export interface LayerModel {
  /** `model.optimized.onnx` (the graph optimised when the layer was built) or `model.onnx`. */
  readonly model: string;
  readonly labels: string;
  /** `threads` from `ORT_THREADS`; `preOptimized` for the optimised form. */
  readonly session: Pick<SessionOptions, 'threads' | 'preOptimized'>;
}

/** onnxruntime intra-op threads from `ORT_THREADS`; undefined when unset (onnxruntime's default). */
export function threadsFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  return env.ORT_THREADS ? Number(env.ORT_THREADS) : undefined;
}

/** The layer's model when `MODEL_DIR` is set, else undefined. */
export function layerModelFromEnv(env: NodeJS.ProcessEnv): LayerModel | undefined {
  if (!env.MODEL_DIR) return undefined;
  const threads = threadsFromEnv(env);
  const labels = path.join(env.MODEL_DIR, 'labels.txt');
  const optimized = path.join(env.MODEL_DIR, OPTIMIZED_MODEL_FILE);
  const session = threads ? { threads } : {};
  if (existsSync(optimized)) return { model: optimized, labels, session: { ...session, preOptimized: true } };
  return { model: path.join(env.MODEL_DIR, 'model.onnx'), labels, session };
}
