/** How a batch run reports an error in a manifest line or a result document. */
import { ResnetError } from '../core/errors.js';
import { TransientStorageError } from '../labelling/errors.js';

/**
 * The error's stable code and message: a ResnetError's own, a TransientStorageError's in batch
 * wording (in a batch run nothing retries an object but a rerun), else INTERNAL.
 */
export function codeOf(err: unknown): { code: string; message: string } {
  if (err instanceof TransientStorageError) return { code: err.code, message: `${err.failure}; rerun the batch to retry it (objects that have a result are skipped).` };
  if (err instanceof ResnetError) return { code: err.code, message: err.message };
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
}
