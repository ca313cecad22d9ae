/**
 * Imported first by the classifying handlers, so that it runs before the rest of the bundle: in
 * Lambda, with the model in the layer (`MODEL_DIR`) and `RESNET_MODEL_THREAD=1`, it starts the
 * model's session in a worker thread ({@link SessionThread}) while the main thread goes on
 * importing. model.ts takes that session when it loads the Classifier. Imports nothing heavy:
 * node built-ins and constants.
 *
 * Off by default: the thread pays for one more inference (its warm-up) and a second JavaScript
 * environment, which only an idle second vCPU turns into a shorter cold start; on a busy 2-core
 * machine it made the cold start longer (docs/cold-start.md). `RESNET_EAGER_LOAD=0` turns it off too.
 */
import { isDeepStrictEqual } from 'node:util';

import { ortSessionOptions, type SessionOptions } from '../../core/session-contract.js';
import { layerModelFromEnv } from './layer-model.js';
import { SessionThread } from './session-thread.js';

let preloaded: { modelPath: string; opts: SessionOptions; thread: Promise<SessionThread> } | undefined;

/**
 * Starts the model thread for the layer's model, unless one was started already.
 * @returns whether a thread was started (false without `MODEL_DIR`)
 */
export function preloadModelSession(env: NodeJS.ProcessEnv = process.env): boolean {
  if (preloaded) return false;
  const layer = layerModelFromEnv(env);
  if (!layer) return false;
  const thread = SessionThread.start(layer.model, layer.session);
  // Unobserved until model.ts takes it; its failure is handled there (a main-thread session).
  thread.catch(() => undefined);
  preloaded = { modelPath: layer.model, opts: layer.session, thread };
  return true;
}

/**
 * The preloaded session, if one was started for this model with these options; handed out once
 * (the caller owns it). Undefined otherwise.
 */
export function takePreloadedSession(modelPath: string, opts: SessionOptions): Promise<SessionThread> | undefined {
  const p = preloaded;
  if (!p || p.modelPath !== modelPath || !isDeepStrictEqual(ortSessionOptions(p.opts), ortSessionOptions(opts))) return undefined;
  preloaded = undefined;
  return p.thread;
}

if (process.env.AWS_LAMBDA_FUNCTION_NAME && process.env.RESNET_EAGER_LOAD !== '0' && process.env.RESNET_MODEL_THREAD === '1') {
  preloadModelSession();
}
