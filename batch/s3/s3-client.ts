/**
 * The batch worker's S3 client from the environment. Its own module so that the S3 I/O threads
 * build the same client without loading the rest of the worker (onnxruntime, the decode pool).
 */
import { S3Client } from '@aws-sdk/client-s3';

/** An S3 client from the environment (region, credentials, `AWS_ENDPOINT_URL_S3`). */
export function defaultS3Client(): S3Client {
  const endpoint = process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
  return new S3Client({
    ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
    region: process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    maxAttempts: 3,
    // Non-AWS endpoints (s3rver, MinIO) predate the SDK's default request checksums.
    ...(endpoint ? { requestChecksumCalculation: 'WHEN_REQUIRED' as const, responseChecksumValidation: 'WHEN_REQUIRED' as const } : {}),
  });
}
