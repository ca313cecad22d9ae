/**
 * One Classifier per Lambda container, created on first use and reused by every invocation
 * (the onnxruntime session is the expensive part of a cold start). Where the model comes from,
 * in order:
 * 1. `MODEL_DIR` (the model layer, `/opt/model`): `model.optimized.onnx` (the graph optimised when
 *    the layer was built, layers/build-model-form.ts; loaded without optimising again) or
 *    `model.onnx`, + `labels.txt`;
 * 2. `MODEL_S3_URI` (+ `LABELS_S3_URI`): downloaded to `/tmp/model/` once per container,
 *    for models too big for a layer;
 * 3. `MODEL_ID` as a zoo id, from the cache (`RESNET_CACHE_DIR`, `/tmp/resnet-cache` in Lambda),
 *    downloaded when missing.
 * The results' model id is `MODEL_ID` (default `resnet50-v2`) in every case.
 */
import path from 'node:path';

import type { S3Client } from '@aws-sdk/client-s3';

import { Classifier, type ClassifierOptions } from '../../core/classifier.js';
import { InvalidArgumentError } from '../../core/errors.js';
import { createS3Client } from '../../labelling/aws-clients.js';
import { downloadOnce } from '../../labelling/download-once.js';
import { ModelSession, type ClassifierSession, type SessionOptions } from '../../core/session.js';
import { DEFAULT_MODEL_ID } from './config.js';
import { layerModelFromEnv, threadsFromEnv } from './layer-model.js';
import { takePreloadedSession } from './preload.js';

export { DEFAULT_MODEL_ID };

/**
 * Works out the ClassifierOptions from the environment, downloading S3-hosted models to /tmp.
 * @param s3 - client for MODEL_S3_URI downloads. @default a new client (`event` retry profile)
 */
export async function resolveModelOptions(env: NodeJS.ProcessEnv = process.env, s3?: S3Client): Promise<ClassifierOptions> {
  const modelId = env.MODEL_ID || DEFAULT_MODEL_ID;
  const threads = threadsFromEnv(env);
  const maxPixels = env.RESNET_MAX_PIXELS ? Number(env.RESNET_MAX_PIXELS) : undefined;
  const common = { ...(threads ? { threads } : {}), ...(maxPixels ? { maxPixels } : {}) };
  const layer = layerModelFromEnv(env);
  if (layer) return { model: layer.model, labels: layer.labels, modelId, ...layer.session, ...common };
  if (env.MODEL_S3_URI) {
    if (!env.LABELS_S3_URI) throw new InvalidArgumentError('MODEL_S3_URI is set but LABELS_S3_URI is not; both are needed.');
    const dir = path.join(env.MODEL_TMP_DIR ?? '/tmp', 'model');
    const client = s3 ?? createS3Client();
    const modelPath = path.join(dir, 'model.onnx');
    const labelsPath = path.join(dir, 'labels.txt');
    await Promise.all([downloadOnce(client, env.MODEL_S3_URI, modelPath), downloadOnce(client, env.LABELS_S3_URI, labelsPath)]);
    return { model: modelPath, labels: labelsPath, modelId, ...common };
  }
  const cacheDir = env.RESNET_CACHE_DIR ?? (env.AWS_LAMBDA_FUNCTION_NAME ? '/tmp/resnet-cache' : undefined);
  return { model: modelId, download: true, ...(cacheDir ? { cacheDir } : {}), ...common };
}

let current: Promise<Classifier> | undefined;

/**
 * Opens the session: the one preload.ts started in a thread during init when it is for this model
 * and these options, else (and when that thread failed) one on the main thread.
 */
function openSession(modelPath: string, opts: SessionOptions): Promise<ClassifierSession> {
  const thread = takePreloadedSession(modelPath, opts);
  if (!thread) return ModelSession.create(modelPath, opts);
  // The main-thread session names the cause (missing file, not a classifier) with its typed error.
  return thread.catch(() => ModelSession.create(modelPath, opts));
}

/**
 * The container's Classifier, loaded on first call. A failed load is not cached, so the next
 * invocation tries again (e.g. after a transient S3 error during the /tmp download).
 */
export function getClassifier(env: NodeJS.ProcessEnv = process.env): Promise<Classifier> {
  if (current === undefined) {
    const p = resolveModelOptions(env).then((o) => Classifier.load({ ...o, openSession }));
    current = p;
    p.catch(() => {
      if (current === p) current = undefined;
    });
  }
  return current;
}

/** Installs a ready Classifier (local stack, tests) instead of resolving one from the environment. */
export function setClassifier(c: Classifier | Promise<Classifier>): void {
  current = Promise.resolve(c);
}

/** Forgets the container's Classifier (tests). Does not dispose it. */
export function resetClassifier(): void {
  current = undefined;
}

// In Lambda, start loading during the init phase (outside the handler) so the first request
// does not pay for it twice; elsewhere (tests, local stack) loading waits for the first call.
if (process.env.AWS_LAMBDA_FUNCTION_NAME && process.env.RESNET_EAGER_LOAD !== '0') {
  getClassifier().catch(() => undefined);
}
