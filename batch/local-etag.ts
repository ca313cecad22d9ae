/**
 * A local file's ETag, in a module of its own (node:crypto only) so the decode workers can compute
 * it without loading the results module and the AWS SDK behind it.
 */
import { createHash } from 'node:crypto';

/** A local file's ETag: the MD5 of its bytes (hex), as S3 reports for a one-part upload. */
export function localEtag(bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('hex');
}
