/** The batch run's model: the classifier handed in, or opened with the first execution provider that works. */
import { Classifier } from '../core/classifier.js';
import { ResnetError } from '../core/errors.js';
import type { SessionOptions } from '../core/session.js';
import { openWithProvider } from './gpu/ep.js';
import { InferenceThread } from './threads/infer-thread.js';
import type { BatchClassifier, BatchOptions } from './types.js';

/**
 * Opens the run's classifier: on an inference thread unless `opts.inferenceThread` is false, falling
 * back to the main thread for a provider that cannot start off it.
 * @returns the classifier and the execution provider it runs on ('given' for `opts.classifier`
 *   without `opts.ep`)
 * @throws ResnetError INVALID_ARGUMENT without a model
 */
export async function openBatchClassifier(opts: BatchOptions, log: (m: string) => void): Promise<{ classifier: BatchClassifier; ep: string }> {
  let classifier: BatchClassifier;
  // With a classifier handed in, `ep` only labels the run (the caller opened the session).
  let ep: string = opts.ep ?? 'given';
  if (opts.classifier) classifier = opts.classifier;
  else {
    if (!opts.model) throw new ResnetError('INVALID_ARGUMENT', 'No model: pass --model <zoo id | path.onnx> (or MODEL_ID / MODEL_DIR).');
    const model = opts.model;
    const opened = await openWithProvider(
      opts.ep ?? 'auto',
      async (eps) => {
        const load = (inThread: boolean): Promise<Classifier> =>
          Classifier.load({
            model,
            ...(opts.labels ? { labels: opts.labels } : {}),
            ...(opts.modelId ? { modelId: opts.modelId } : {}),
            ...(opts.cacheDir ? { cacheDir: opts.cacheDir } : {}),
            ...(opts.download ? { download: true } : {}),
            ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
            allowSpinning: opts.allowSpinning ?? false,
            ...(opts.maxPixels !== undefined ? { maxPixels: opts.maxPixels } : {}),
            ...(inThread ? { openSession: (p: string, o: SessionOptions) => InferenceThread.create(p, o) } : {}),
            executionProviders: eps,
          });
        if (opts.inferenceThread === false) return load(false);
        try {
          return await load(true);
        } catch (err) {
          // A provider that cannot start off the main thread must not silently cost the run its GPU:
          // the same provider is tried on the main thread before the next provider. Said only when
          // that works (a provider that fails on both is reported once, by openWithProvider).
          const onMain = await load(false);
          log(`inference thread could not open ${eps.join(',')} (${err instanceof Error ? err.message.split('\n')[0] : String(err)}); running it on the main thread`);
          return onMain;
        }
      },
      log,
    );
    classifier = opened.value;
    ep = opened.ep;
  }
  return { classifier, ep };
}
