/**
 * What every handler needs, built once per container. Handlers are created by factories over
 * these deps, so tests and the local stack inject a local S3 client and a loaded Classifier while
 * Lambda uses the defaults from the environment.
 */
import type { S3Client } from '@aws-sdk/client-s3';

import type { Classifier } from '../../core/classifier.js';
import type { RetryProfile } from '../../labelling/aws-clients.js';
import { s3ClientFromEnv } from './clients.js';
import { readConfig, type FunctionConfig } from './config.js';
import { createObservability, type Observability } from './middleware.js';
import { getClassifier } from './model.js';

/** The part of the core's Classifier the handlers use. */
export type HandlerClassifier = Pick<Classifier, 'modelId' | 'classify' | 'numClasses' | 'info' | 'rekognitionOptions' | 'toRekognition'>;

/** Injected dependencies of a handler. */
export interface FunctionDeps {
  s3: S3Client;
  /** Resolves the container's Classifier (loaded once; see model.ts). */
  classifier: () => Promise<HandlerClassifier>;
  config: FunctionConfig;
  obs: Observability;
}

/**
 * Deps for a deployed function: env config, SDK client, container-wide Classifier.
 * @param profile - the S3 client's retry strategy (labelling/aws-clients.ts). @default 'event'
 */
export function defaultDeps(service: string, profile: RetryProfile = 'event'): FunctionDeps {
  return { s3: s3ClientFromEnv(process.env, profile), classifier: () => getClassifier(), config: readConfig(), obs: createObservability(service) };
}
