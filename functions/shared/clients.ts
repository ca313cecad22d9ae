/** AWS SDK clients built from the environment (no model import: the sweeper uses this without onnxruntime). */
import { S3Client } from '@aws-sdk/client-s3';

/**
 * S3 client from the environment. `S3_ENDPOINT` (or the SDK's own `AWS_ENDPOINT_URL_S3`) points
 * it at a local server, with path-style addressing and checksums only where S3 requires them
 * (s3rver predates the SDK's default CRC headers).
 */
export function s3ClientFromEnv(env: NodeJS.ProcessEnv = process.env): S3Client {
  const endpoint = env.S3_ENDPOINT;
  if (!endpoint) return new S3Client({});
  return new S3Client({
    endpoint,
    forcePathStyle: true,
    region: env.AWS_REGION ?? 'us-east-1',
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

