/** AWS SDK clients built from the environment (no model import: the sweeper uses this without onnxruntime). */
import type { S3Client } from '@aws-sdk/client-s3';

import { createS3Client, type RetryProfile } from '../../labelling/aws-clients.js';

/**
 * S3 client from the environment, with the retry strategy of `profile` (labelling/aws-clients.ts).
 * `S3_ENDPOINT` (or the SDK's own `AWS_ENDPOINT_URL_S3`) points it at a local server, with
 * path-style addressing and checksums only where S3 requires them (s3rver predates the SDK's
 * default CRC headers).
 * @param profile - `interactive` for the classify API. @default 'event'
 */
export function s3ClientFromEnv(env: NodeJS.ProcessEnv = process.env, profile: RetryProfile = 'event'): S3Client {
  const endpoint = env.S3_ENDPOINT;
  return createS3Client({ profile, ...(endpoint ? { endpoint } : {}) }, env);
}
