/**
 * Every AWS SDK client the project builds (S3, SQS, Batch) comes from here, each with a retry
 * strategy chosen for its caller instead of the SDK's default. The defaults moved under us once
 * (SDK v3 >= 3.1166.0, 2026-11-10: throttling errors such as S3 `503 SlowDown` back off from a
 * 1,000 ms base instead of 100 ms; transient ones from 50 ms; `x-amz-retry-after` is honoured),
 * so the mode and the attempt count are written down per caller. See docs/scale.md "Retries";
 * test/unit/aws-clients.test.ts fails if a client is built elsewhere or resolves to other values.
 *
 * - `interactive` (classify API): standard mode, 3 attempts. A person is waiting; a throttled call
 *   fails within about 3 s and the client retries the request.
 * - `event` (s3-tagger, sqs-worker, sweeper, `resnet sweep`): standard mode, 5 attempts. The event
 *   is retried again by Lambda or SQS after this, so the SDK spends at most about 15 s of the
 *   function's time on one call (1 + 2 + 4 + 8 s with the throttling base) before giving the event back.
 * - `bulk` (batch worker): adaptive mode, 3 attempts. Adaptive adds a client-side rate limiter that
 *   slows the sender after throttling answers, so hundreds of concurrent writes to one prefix ease
 *   off instead of hammering S3 at 3,500 writes/s; the worker's own per-call retry
 *   (batch/s3/retry.ts, 8 attempts) sits outside it.
 */
import { BatchClient } from '@aws-sdk/client-batch';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';

/** Who makes the calls, which sets the retry strategy (see the module comment). */
export type RetryProfile = 'interactive' | 'event' | 'bulk';

/** Retry mode and attempts (the first included) of each profile. */
export const RETRY_PROFILES: Readonly<Record<RetryProfile, { readonly retryMode: 'standard' | 'adaptive'; readonly maxAttempts: number }>> = {
  interactive: { retryMode: 'standard', maxAttempts: 3 },
  event: { retryMode: 'standard', maxAttempts: 5 },
  bulk: { retryMode: 'adaptive', maxAttempts: 3 },
};

/** Options of {@link createS3Client}. */
export interface S3ClientOptions {
  /** Retry strategy. @default 'event' */
  profile?: RetryProfile;
  /** A non-AWS endpoint (local S3, MinIO): path-style addressing, checksums only where required. */
  endpoint?: string;
  /** @default env AWS_REGION, AWS_DEFAULT_REGION, then 'us-east-1' when an endpoint is set */
  region?: string;
  /** Attempts instead of the profile's (tests of the retry path). */
  maxAttempts?: number;
  credentials?: S3ClientConfig['credentials'];
}

/** An S3 client with the profile's retry strategy. */
export function createS3Client(o: S3ClientOptions = {}, env: NodeJS.ProcessEnv = process.env): S3Client {
  const retry = RETRY_PROFILES[o.profile ?? 'event'];
  const region = o.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  return new S3Client({
    retryMode: retry.retryMode,
    maxAttempts: o.maxAttempts ?? retry.maxAttempts,
    ...(o.credentials ? { credentials: o.credentials } : {}),
    ...(region ? { region } : o.endpoint ? { region: 'us-east-1' } : {}),
    // Non-AWS endpoints (s3rver, MinIO) predate the SDK's default request checksums.
    ...(o.endpoint
      ? { endpoint: o.endpoint, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED' as const, responseChecksumValidation: 'WHEN_REQUIRED' as const }
      : {}),
  });
}

/** An SQS client (the sweeper's fan-out): `event` profile. */
export function createSqsClient(o: { endpoint?: string } = {}): SQSClient {
  const r = RETRY_PROFILES.event;
  return new SQSClient({ retryMode: r.retryMode, maxAttempts: r.maxAttempts, ...(o.endpoint ? { endpoint: o.endpoint } : {}) });
}

/** An AWS Batch client (the sweeper's SubmitJob, 50 TPS per account): `event` profile. */
export function createBatchClient(): BatchClient {
  const r = RETRY_PROFILES.event;
  return new BatchClient({ retryMode: r.retryMode, maxAttempts: r.maxAttempts });
}
