/** How a batch run reports an error in a manifest line or a result document. */
import { ResnetError } from '../core/errors.js';
import { TransientStorageError } from '../labelling/errors.js';

/**
 * The error's stable code and message: a ResnetError's own, a TransientStorageError's in batch
 * wording (in a batch run nothing retries an object but a rerun), NO_CREDENTIALS when the SDK
 * found no credentials, else INTERNAL.
 */
export function codeOf(err: unknown): { code: string; message: string } {
  // The SDK's credential chain found nothing (no environment keys, profile, SSO, container or instance role).
  if (err instanceof Error && err.name === 'CredentialsProviderError') {
    return { code: 'NO_CREDENTIALS', message: `No AWS credentials were found (${err.message.split('\n')[0]}). Set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, run \`aws sso login\`, or pass --endpoint for a local S3 server.` };
  }
  if (err instanceof TransientStorageError) return { code: err.code, message: `${err.failure}; rerun the batch to retry it (objects that have a result are skipped).` };
  if (err instanceof ResnetError) return { code: err.code, message: err.message };
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
}
