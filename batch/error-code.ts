/** How a batch run reports an error in a manifest line or a result document. */
import { ResnetError } from '../core/errors.js';
import { TransientStorageError } from '../labelling/errors.js';

/** The error's stable code and message: a ResnetError's or TransientStorageError's own, else INTERNAL. */
export function codeOf(err: unknown): { code: string; message: string } {
  if (err instanceof ResnetError || err instanceof TransientStorageError) return { code: err.code, message: err.message };
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
}
