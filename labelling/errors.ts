/**
 * Errors of the AWS adapters. Bad input is a `ResnetError` from the core (never retried);
 * a storage failure that may pass (5xx, throttling, network) is a `TransientStorageError`,
 * thrown so that Lambda / SQS / Batch retry it and finally dead-letter it.
 */

/** S3 error names that mean "try again later". */
const TRANSIENT_NAMES = new Set([
  'SlowDown',
  'ThrottlingException',
  'Throttling',
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
  'NetworkingError',
]);

/** Node socket error codes that mean the server could not be reached or dropped us. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH', 'UND_ERR_SOCKET']);

const NETWORK_MESSAGE = /\b(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EAI_AGAIN|EHOSTUNREACH|socket hang up)\b/;

/** A storage operation failed in a way that retrying may fix. `retryable` is always true. */
export class TransientStorageError extends Error {
  readonly code = 'STORAGE_UNAVAILABLE';
  readonly retryable = true;
  constructor(
    /** What we were doing, e.g. `GetObject s3://b/k`. */
    readonly operation: string,
    cause: unknown,
  ) {
    super(`${operation} failed transiently (${describeCause(cause)}); the event will be retried.`, { cause });
    this.name = 'TransientStorageError';
    this.failure = `${operation} failed transiently (${describeCause(cause)})`;
  }

  /** What failed and why, without what happens next (which depends on who runs it: Lambda retries, a batch run does not). */
  readonly failure: string;
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return `${cause.name}${typeof code === 'string' ? ` ${code}` : ''}: ${cause.message}`;
  }
  return String(cause);
}

interface SdkErrorShape {
  name?: string;
  code?: string;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number };
  cause?: unknown;
}

/**
 * Whether an error from the AWS SDK (or the socket below it) is worth retrying:
 * HTTP 5xx, 429/503 throttling, SDK-flagged `$retryable`, or a network failure.
 */
export function isTransientS3Error(err: unknown): boolean {
  if (err instanceof TransientStorageError) return true;
  if (typeof err !== 'object' || err === null) return false;
  const e = err as SdkErrorShape;
  if (e.$retryable) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  if (e.name !== undefined && TRANSIENT_NAMES.has(e.name)) return true;
  if (e.code !== undefined && NETWORK_CODES.has(e.code)) return true;
  // The SDK wraps a socket error it cannot recognise (e.g. from another realm) as
  // "AWS SDK error wrapper for Error: connect ECONNREFUSED ..."; no HTTP status means no answer.
  if (e.$metadata !== undefined && e.$metadata.httpStatusCode === undefined && err instanceof Object && 'message' in err) {
    if (NETWORK_MESSAGE.test(String((err as { message: unknown }).message))) return true;
  }
  // The SDK wraps socket errors; look one level down.
  if (e.cause !== undefined && e.cause !== err) return isTransientS3Error(e.cause);
  return false;
}

/** HTTP status of an SDK error, if the server answered at all. */
export function s3StatusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  return (err as SdkErrorShape).$metadata?.httpStatusCode;
}

/** Name of an SDK error (`NoSuchKey`, `PreconditionFailed`, ...). */
export function s3ErrorName(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  return (err as SdkErrorShape).name;
}

/**
 * Runs one S3 call and converts a transient failure into `TransientStorageError`;
 * other errors pass through unchanged (callers decide, e.g. NoSuchKey → skip).
 */
export async function s3Call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isTransientS3Error(err)) throw new TransientStorageError(operation, err);
    throw err;
  }
}
