/**
 * Application-level retries around S3 calls. The SDK's own retry quota (a token bucket shared
 * by the client) drains within a second when a local or regional S3 endpoint drops out under
 * 16 concurrent downloads; the batch worker would then fail hundreds of objects that a rerun
 * has to redo. Here each call gets its own budget with exponential backoff and jitter.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { isTransientS3Error } from '../../labelling/errors.js';

/** Retry budget of one S3 call. */
export interface RetryOptions {
  /** Attempts in all, the first included. @default 8 */
  attempts?: number;
  /** Delay before the first retry, in milliseconds (doubles each time, ±50 % jitter). @default 200 */
  baseMs?: number;
  /** Longest delay between attempts, in milliseconds. @default 5000 */
  maxMs?: number;
  /** Called before each retry (for logs and counters). */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

/**
 * Calls `fn` until it succeeds, fails with a non-transient error (see `isTransientS3Error`),
 * or the budget is spent; the last error is rethrown.
 */
export async function withRetry<T>(fn: () => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const attempts = opts.attempts ?? 8;
  const base = opts.baseMs ?? 200;
  const max = opts.maxMs ?? 5000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= attempts || !isTransientS3Error(err)) throw err;
      const delay = Math.min(max, base * 2 ** (attempt - 1)) * (0.5 + Math.random());
      opts.onRetry?.(err, attempt, delay);
      await sleep(delay);
    }
  }
}
