/**
 * The batch worker's S3 client from the environment. Its own module so that the S3 I/O threads
 * build the same client without loading the rest of the worker (onnxruntime, the decode pool).
 */
import type { S3Client } from '@aws-sdk/client-s3';

import { createS3Client } from '../../labelling/aws-clients.js';

/**
 * An S3 client from the environment (region, credentials, `AWS_ENDPOINT_URL_S3`), with the
 * `bulk` retry strategy (adaptive mode: labelling/aws-clients.ts says why).
 */
export function defaultS3Client(): S3Client {
  const endpoint = process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
  return createS3Client({ profile: 'bulk', ...(endpoint ? { endpoint } : {}) });
}
