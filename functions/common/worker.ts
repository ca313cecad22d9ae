/**
 * The labelling step shared by the s3-tagger and the sqs-worker: recursion guard, labelObject
 * with the function's configuration, logs and metrics.
 */
import { isOwnOutput } from './config.js';
import type { FunctionDeps } from './deps.js';
import { labelObject, type LabelOutcome, type ObjectRef } from '../../labelling/label-object.js';
import { labelObserver, recordOutcome } from './middleware.js';

/**
 * Labels one object unless it is one of our own outputs (then returns null: the recursion guard).
 * @throws TransientStorageError (retry), or an unexpected error (a bug; retried then dead-lettered)
 */
export async function labelOne(ref: ObjectRef, deps: FunctionDeps, producer: string): Promise<LabelOutcome | null> {
  const { config, obs } = deps;
  if (isOwnOutput(ref.key, config)) {
    obs.logger.debug('skipped own output', { bucket: ref.bucket, key: ref.key });
    return null;
  }
  const classifier = await deps.classifier();
  const out = await labelObject({ s3: deps.s3, classifier, observer: labelObserver(obs) }, ref, {
    ...(config.resultsBucket ? { resultsBucket: config.resultsBucket } : {}),
    resultsPrefix: config.resultsPrefix,
    top: config.topK,
    minConfidence: config.minConfidence,
    tagParents: config.tagParents,
    maxBytes: config.maxObjectBytes,
    producer,
  });
  recordOutcome(obs, ref, out);
  return out;
}

/**
 * Labels several objects one after another; every object is attempted, then the first error
 * (if any) is thrown so the platform retries the event (finished ones are skipped as duplicates).
 */
export async function labelAll(refs: readonly ObjectRef[], deps: FunctionDeps, producer: string): Promise<Array<LabelOutcome | null>> {
  const outcomes: Array<LabelOutcome | null> = [];
  let firstError: unknown;
  for (const ref of refs) {
    try {
      outcomes.push(await labelOne(ref, deps, producer));
    } catch (err) {
      deps.obs.logger.error('labelling failed; the event will be retried', { bucket: ref.bucket, key: ref.key, error: err instanceof Error ? err.message : String(err) });
      firstError ??= err;
    }
  }
  if (firstError !== undefined) throw firstError;
  return outcomes;
}
