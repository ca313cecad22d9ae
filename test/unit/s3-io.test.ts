/**
 * S3 I/O threads: errors cross the thread boundary with what retries and the manifest read
 * (transient or not, code, HTTP status, message), and a real thread's failure arrives that way.
 */
import { describe, expect, test } from '@jest/globals';

import { defaultIoThreads, ioErrorFromWire, ioErrorToWire, S3IoThreads } from '../../batch/s3/s3-io.js';
import { ResnetError } from '../../core/errors.js';
import { isTransientS3Error, s3ErrorName, s3StatusOf, TransientStorageError } from '../../labelling/errors.js';
import { withEnv } from '../helpers/env.js';

/** What the SDK throws: an Error with a name, an HTTP status and maybe `$retryable`. */
function sdkError(name: string, status: number | undefined, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(`${name} happened`), { name, ...(status !== undefined ? { $metadata: { httpStatusCode: status } } : {}) }, extra);
}

const roundTrip = (err: unknown): Error => ioErrorFromWire(structuredClone(ioErrorToWire(err)));

describe('errors across the thread boundary', () => {
  test('a transient storage error stays transient, with the same message and code', () => {
    const original = new TransientStorageError('GetObject s3://b/k', Object.assign(sdkError('InternalError', 500), { code: 'ECONNRESET' }));
    const back = roundTrip(original);
    expect(back).toBeInstanceOf(TransientStorageError);
    expect(back.message).toBe(original.message);
    expect((back as TransientStorageError).code).toBe('STORAGE_UNAVAILABLE');
    expect((back as TransientStorageError).operation).toBe('GetObject s3://b/k');
    expect(isTransientS3Error(back)).toBe(true);
  });

  test('a typed error keeps its code and retryability', () => {
    const back = roundTrip(new ResnetError('IMAGE_TOO_LARGE', 'too big; raise --max-bytes', { retryable: false }));
    expect(back).toBeInstanceOf(ResnetError);
    expect(back).toMatchObject({ code: 'IMAGE_TOO_LARGE', message: 'too big; raise --max-bytes', retryable: false });
  });

  test.each([
    ['AccessDenied', 403, {}, false],
    ['PreconditionFailed', 412, {}, false],
    ['SlowDown', 503, {}, true],
    ['SomethingNew', undefined, { $retryable: { throttling: true } }, true],
    ['Whatever', undefined, { code: 'ECONNREFUSED' }, true],
  ])('an SDK error %s (status %s) keeps its name, status and whether it is transient', (name, status, extra, transient) => {
    const original = sdkError(name, status, extra);
    const back = roundTrip(original);
    expect(s3ErrorName(back)).toBe(name);
    expect(s3StatusOf(back)).toBe(status);
    expect(back.message).toBe(original.message);
    expect(isTransientS3Error(back)).toBe(transient);
    expect(isTransientS3Error(original)).toBe(transient);
  });

  test('something that is not an Error arrives as one with its text', () => {
    const back = roundTrip('a string was thrown');
    expect(back).toBeInstanceOf(Error);
    expect(back.message).toBe('a string was thrown');
    expect(isTransientS3Error(back)).toBe(false);
  });
});

describe('S3IoThreads', () => {
  test('defaultIoThreads: half the cores, at least 2, at most 8', () => {
    expect([1, 2, 4, 8, 16, 64].map((c) => defaultIoThreads(c))).toEqual([2, 2, 2, 4, 8, 8]);
  });

  test("a request the thread's client cannot deliver fails on the caller's side as transient (server down)", async () => {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    const io = await withEnv({ AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:1', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y' }, () => S3IoThreads.start(2));
    try {
      expect(io.threads).toBe(2);
      const errs = await Promise.all([io.readResult('bucket', 'a.json').catch((e: unknown) => e), io.fetchObject({ bucket: 'bucket', key: 'b.jpg' }, {}).catch((e: unknown) => e)]);
      for (const err of errs) {
        expect(err).toBeInstanceOf(TransientStorageError);
        expect(isTransientS3Error(err)).toBe(true);
        expect((err as Error).message).toMatch(/GetObject s3:\/\/bucket\/(a\.json|b\.jpg) failed transiently/);
      }
    } finally {
      await io.close();
    }
  });

  test('a thread that cannot start: start rejects (the worker then uses the main thread)', async () => {
    await expect(S3IoThreads.start(2, new URL('./no-such-io-worker.js', import.meta.url))).rejects.toThrow(/no-such-io-worker/);
  });

  test('after close, requests fail with an error instead of hanging', async () => {
    const io = await S3IoThreads.start(1);
    await io.close();
    await expect(io.readResult('bucket', 'k')).rejects.toThrow(/S3 I\/O thread exited/);
  });
});
