/**
 * The batch worker's S3 requests for each object — the skip check's result read, the download,
 * and the commit (tags, then the result object) — on the main thread or spread over worker threads.
 *
 * The AWS SDK spends about 2 ms of CPU per request on this machine (middleware, endpoint
 * resolution, signing, XML) and an object takes five or six requests (the skip check's result
 * read, unless forced; the download; in the commit a fresh result read, the tag read and write, the
 * result write): on the main thread that was ~11–14 ms per image, a ceiling of ~70–100 img/s for
 * an S3 backlog whatever the GPU. In threads the cost spreads over the cores and the main thread
 * only passes messages.
 *
 * Both kinds call the same shared functions as the s3-tagger (`fetchObject`, `readResult`,
 * `commitResult`), so what is written is the same byte for byte; errors come back with what
 * retries and the manifest need (transient or not, code, HTTP status).
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';

import type { S3Client } from '@aws-sdk/client-s3';

import { ResnetError } from '../../core/errors.js';
import { TransientStorageError } from '../../labelling/errors.js';
import { commitResult, fetchObject, type FetchedObject, type ObjectRef } from '../../labelling/label-object.js';
import { readResult, type ResultDoc, type StoredResult } from '../../labelling/results.js';
import { fromWire, toWire, type WireError } from '../threads/wire-error.js';
import { workerEntry } from '../threads/worker-entry.js';

/** Options of one download (see `fetchObject`). */
export interface FetchOptions {
  maxBytes?: number;
  ifNoneMatch?: string;
}

/** Options of one commit (see `commitResult`; observers cannot cross a thread). */
export type CommitOptions = Omit<Parameters<typeof commitResult>[2], 'observer'>;

/** What a commit decided and wrote. */
export type CommitOutcome = Awaited<ReturnType<typeof commitResult>>;

/** The S3 requests the batch worker makes per object. */
export interface ObjectIo {
  readResult(bucket: string, key: string): Promise<StoredResult | null>;
  fetchObject(ref: ObjectRef, opts: FetchOptions): Promise<FetchedObject>;
  commitResult(doc: ResultDoc, opts: CommitOptions): Promise<CommitOutcome>;
  /** Threads the requests run on; 0: the calling thread. */
  readonly threads: number;
  close(): Promise<void>;
}

/** The requests on the calling thread, with the given client. */
export function inlineObjectIo(s3: S3Client): ObjectIo {
  return {
    readResult: (bucket, key) => readResult(s3, bucket, key),
    fetchObject: (ref, opts) => fetchObject(s3, ref, opts),
    commitResult: (doc, opts) => commitResult(s3, doc, opts),
    threads: 0,
    close: () => Promise.resolve(),
  };
}

/** One of the requests an I/O thread runs. */
type IoCall =
  | { op: 'readResult'; bucket: string; key: string }
  | { op: 'fetchObject'; ref: ObjectRef; opts: FetchOptions }
  | { op: 'commitResult'; doc: ResultDoc; opts: CommitOptions };

/** A request posted to an I/O thread. */
export type IoRequest = IoCall & { id: number };

/** An error as posted back by an I/O thread: enough to rebuild what `isTransientS3Error`, `s3StatusOf` and the manifest read. */
export type IoWireError =
  | { kind: 'transient'; operation: string; cause: { name: string; message: string; code?: string } }
  | { kind: 'typed'; error: WireError }
  | { kind: 'other'; name: string; message: string; code?: string; status?: number; retryable: boolean };

/** An I/O thread's answer. */
export type IoResponse = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: IoWireError };

interface SdkErrorLike {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** Serialises an error thrown by the shared S3 functions. */
export function ioErrorToWire(err: unknown): IoWireError {
  if (err instanceof TransientStorageError) {
    const c = (err.cause ?? {}) as SdkErrorLike;
    const code = str(c.code);
    return { kind: 'transient', operation: err.operation, cause: { name: str(c.name) ?? 'Error', message: str(c.message) ?? String(err.cause), ...(code ? { code } : {}) } };
  }
  if (err instanceof ResnetError) return { kind: 'typed', error: toWire(err) };
  const e = (typeof err === 'object' && err !== null ? err : {}) as SdkErrorLike;
  const code = str(e.code);
  const status = typeof e.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : undefined;
  return {
    kind: 'other',
    name: str(e.name) ?? 'Error',
    message: str(e.message) ?? String(err),
    ...(code ? { code } : {}),
    ...(status !== undefined ? { status } : {}),
    retryable: Boolean(e.$retryable),
  };
}

/** The error to throw on the main thread: the same class, message, code and status as in the thread. */
export function ioErrorFromWire(w: IoWireError): Error {
  if (w.kind === 'transient') {
    const cause = Object.assign(new Error(w.cause.message), { name: w.cause.name }, w.cause.code ? { code: w.cause.code } : {});
    return new TransientStorageError(w.operation, cause);
  }
  if (w.kind === 'typed') return fromWire(w.error);
  return Object.assign(
    new Error(w.message),
    { name: w.name },
    w.code ? { code: w.code } : {},
    w.status !== undefined ? { $metadata: { httpStatusCode: w.status } } : {},
    w.retryable ? { $retryable: {} } : {},
  );
}

/** I/O threads for a machine: enough that the SDK's CPU never queues behind one core, at most 8. */
export function defaultIoThreads(cores = os.availableParallelism()): number {
  return Math.max(2, Math.min(8, Math.ceil(cores / 2)));
}

interface Slot {
  worker: Worker;
  pending: Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>;
  dead?: Error;
}

/**
 * Worker threads that each hold an S3 client from the environment (`defaultS3Client`: the same
 * endpoint, region and credentials as the main thread's) and run the requests. A request goes to
 * the thread with the fewest in flight. A thread that dies fails its requests with an error and
 * takes no more; with none left, requests fail.
 */
export class S3IoThreads implements ObjectIo {
  private nextId = 1;

  private constructor(private readonly slots: Slot[]) {}

  get threads(): number {
    return this.slots.length;
  }

  /**
   * Starts `n` threads and waits until each has its client.
   * @param script - the threads' entry (tests start a broken one)
   * @throws an Error when a thread cannot start, with none left running (the caller may fall back to {@link inlineObjectIo})
   */
  static async start(n = defaultIoThreads(), script = new URL('./s3-io-worker.js', import.meta.url)): Promise<S3IoThreads> {
    const entry = workerEntry(script);
    // The environment as this module sees it (Node's default reads the process's own, which a
    // sandbox such as jest's does not change): the threads build their clients from it.
    const workers = Array.from({ length: Math.max(1, n) }, () => new Worker(entry.script, { eval: entry.eval, env: { ...process.env } }));
    const started = await Promise.allSettled(workers.map((w) => S3IoThreads.ready(w)));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      // None is left running: the caller falls back to the main thread.
      await Promise.all(workers.map((w) => w.terminate()));
      throw failed.reason;
    }
    return new S3IoThreads(workers.map((worker) => S3IoThreads.slot(worker)));
  }

  /** Resolves when the thread has its client; rejects when it fails or exits first. */
  private static ready(worker: Worker): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onMessage = (m: unknown): void => {
        if ((m as { ready?: boolean }).ready) done();
      };
      const onError = (err: Error): void => done(err);
      const onExit = (code: number): void => done(new Error(`an S3 I/O thread exited while starting (code ${code})`));
      const done = (err?: Error): void => {
        worker.off('message', onMessage).off('error', onError).off('exit', onExit);
        if (err) reject(err);
        else resolve();
      };
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
    });
  }

  /** Wires a started thread's answers to its pending requests; its death fails them. */
  private static slot(worker: Worker): Slot {
    const slot: Slot = { worker, pending: new Map() };
    worker.on('message', (m: IoResponse) => {
      const p = slot.pending.get(m.id);
      if (!p) return;
      slot.pending.delete(m.id);
      if (m.ok) p.resolve(m.value);
      else p.reject(ioErrorFromWire(m.error));
    });
    const die = (err: Error): void => {
      slot.dead ??= err;
      for (const p of slot.pending.values()) p.reject(err);
      slot.pending.clear();
    };
    worker.on('error', die);
    worker.on('exit', (code) => die(new Error(`an S3 I/O thread exited (code ${code})`)));
    return slot;
  }

  private call<T>(req: IoCall): Promise<T> {
    let best: Slot | undefined;
    for (const s of this.slots) if (!s.dead && (!best || s.pending.size < best.pending.size)) best = s;
    if (!best) return Promise.reject(this.slots[0]?.dead ?? new Error('no S3 I/O thread is running'));
    const id = this.nextId++;
    const slot = best;
    return new Promise<T>((resolve, reject) => {
      slot.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      slot.worker.postMessage({ ...req, id } satisfies IoRequest);
    });
  }

  readResult(bucket: string, key: string): Promise<StoredResult | null> {
    return this.call({ op: 'readResult', bucket, key });
  }

  fetchObject(ref: ObjectRef, opts: FetchOptions): Promise<FetchedObject> {
    return this.call({ op: 'fetchObject', ref, opts });
  }

  commitResult(doc: ResultDoc, opts: CommitOptions): Promise<CommitOutcome> {
    return this.call({ op: 'commitResult', doc, opts });
  }

  /** Stops the threads; requests still in flight fail (an abandoned run's: S3 writes are whole or absent). */
  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}

/** The per-object S3 requests in `n` threads, or on this one (n = 0, or threads that cannot start). */
export async function startObjectIo(s3: S3Client, n: number, log: (m: string) => void): Promise<ObjectIo> {
  if (n <= 0) return inlineObjectIo(s3);
  try {
    return await S3IoThreads.start(n);
  } catch (err) {
    log(`S3 I/O threads could not start (${err instanceof Error ? err.message : String(err)}); S3 requests run on the main thread`);
    return inlineObjectIo(s3);
  }
}
