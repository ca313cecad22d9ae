/**
 * The decode/preprocess stage: a pool of worker threads (one per core by default), so JPEG
 * decoding runs in parallel with inference instead of on the event loop that feeds it.
 *
 * Worker file resolution (compiled JS vs TypeScript sources): from `dist/` the pool starts
 * `prepare-worker.js` directly. From the TypeScript sources (jest, `npx tsx`) it starts
 * `prepare-worker.ts` through a bootstrap that registers tsx's ESM hooks in the worker. If the workers cannot
 * start at all, the pool falls back to preparing in the calling thread with
 * `Classifier.prepare` (same code path, no parallelism) and says so in `mode`.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';

import type { PreprocessConfig } from '../../core/types.js';
import type { PrepareRequest, PrepareResponse, PrepareWorkerData } from './prepare-worker.js';
import { readLocalFile, unreadable, type LocalFileFacts, type Unreadable } from '../sources/local-file.js';
import { isWholeBuffer, transferableBytes } from './transfer.js';
import { fromWire } from './wire-error.js';
import { workerEntry } from './worker-entry.js';

/** Tensors for one image and the time spent making them. */
export interface Prepared {
  tensors: Float32Array[];
  decodeMs: number;
  preprocessMs: number;
}

/**
 * A local file's job ({@link PreparePool.prepareFile}): what was read, and its tensors or why the
 * image did not decode (the error a result records).
 */
export type PreparedFile = { file: LocalFileFacts } & ({ ok: true; prepared: Prepared } | { ok: false; error: Error });

/** A local file that could not be read (gone since it was listed, no permission, a folder...). */
export class UnreadableFileError extends Error {
  /** Node's error code (ENOENT, EACCES, ...), when there is one. */
  readonly errno: string | undefined;

  constructor(
    readonly path: string,
    why: Unreadable,
  ) {
    super(why.message);
    this.name = 'UnreadableFileError';
    this.errno = why.code;
  }
}

/** What the in-thread fallback calls (the core's `Classifier.prepare`). */
export type InThreadPrepare = (bytes: Uint8Array, opts: { tenCrop?: boolean }) => Promise<Prepared>;

/** Options of {@link PreparePool.start}. */
export interface PreparePoolOptions {
  /** Worker threads; 0 prepares in the calling thread. @default os.availableParallelism() */
  workers?: number;
  /** Preprocessing recipe (the classifier's `preprocessConfig`). */
  cfg: PreprocessConfig;
  /** Largest image in pixels. @default the decoder's default (env RESNET_MAX_PIXELS) */
  maxPixels?: number;
  /** Ten-crop tensors per image. @default false */
  tenCrop?: boolean;
  /** Fallback when workers are disabled or cannot start. */
  inThread: InThreadPrepare;
  /**
   * Scheduling niceness of the worker threads (Linux; 0-19, higher yields more). When decoding and
   * inference share the cores, decoders at normal priority preempt onnxruntime's intra-op threads
   * mid-operator and the others wait at the operator's barrier; niced decoders run in the gaps and
   * still get every idle core. Ignored where a thread's priority cannot be set. @default 0
   */
  nice?: number;
  /** Startup timeout per worker, in milliseconds. @default 30000 */
  startTimeoutMs?: number;
  /** Log line sink. */
  log?: (msg: string) => void;
}

/** The tensors and timings of a successful answer. */
function preparedOf(m: Extract<PrepareResponse, { ok: true }>): Prepared {
  return { tensors: m.tensors, decodeMs: m.decodeMs, preprocessMs: m.preprocessMs };
}

/** Spent tensors kept for reuse: more than the jobs in flight plus a batch is never needed. */
const SPARE_LIMIT = 256;

interface Slot {
  worker: Worker;
  inflight: number;
}

/** A job waiting for its worker's answer. */
type Pending = { answer: (m: PrepareResponse) => void; reject: (e: unknown) => void };

/** A pool of decode/preprocess workers with per-job promises. */
export class PreparePool {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  /**
   * Buffers of spent tensors, handed to the workers to write the next ones into: a fresh 600 kB
   * tensor per image otherwise arrives on the event loop as external memory and drives its
   * garbage collections.
   */
  private readonly spare: Float32Array[] = [];

  private constructor(
    private readonly slots: Slot[],
    private readonly opts: PreparePoolOptions,
    /** `workers` or `in-thread` (no workers asked for, or they failed to start). */
    readonly mode: 'workers' | 'in-thread',
    /** Every worker runs at the asked-for niceness (false when none was asked for or it could not be set). */
    readonly niced = false,
  ) {
    for (const s of slots) {
      s.worker.on('message', (m: PrepareResponse) => this.settle(s, m));
      s.worker.on('error', (err) => this.failAll(err));
    }
  }

  /** Number of worker threads (0 in-thread). */
  get size(): number {
    return this.slots.length;
  }

  /** Starts the workers and waits until each has loaded the decoder. */
  static async start(opts: PreparePoolOptions): Promise<PreparePool> {
    const n = opts.workers ?? os.availableParallelism();
    if (n <= 0) return new PreparePool([], opts, 'in-thread');
    const entry = workerEntry(new URL('./prepare-worker.js', import.meta.url));
    const workers: Worker[] = [];
    let niced = (opts.nice ?? 0) > 0;
    try {
      await Promise.all(
        Array.from({ length: n }, async () => {
          const w = new Worker(entry.script, { eval: entry.eval, workerData: { nice: opts.nice ?? 0 } satisfies PrepareWorkerData });
          workers.push(w);
          await new Promise<void>((resolve, reject) => {
            // Only our own listeners come off afterwards: removeAllListeners() would also drop the
            // Worker's internal ones that keep its message port referenced, and replies stop arriving.
            const done = (err?: unknown): void => {
              clearTimeout(timer);
              w.off('message', onReady).off('error', done).off('exit', onExit);
              if (err === undefined) resolve();
              else reject(err instanceof Error ? err : new Error(String(err)));
            };
            const onReady = (m: { niced?: boolean }): void => {
              if (!m.niced) niced = false;
              done();
            };
            const onExit = (code: number): void => done(new Error(`worker exited with code ${code}`));
            const timer = setTimeout(() => done(new Error('worker did not start in time')), opts.startTimeoutMs ?? 30_000);
            w.on('message', onReady).on('error', done).on('exit', onExit);
          });
        }),
      );
    } catch (err) {
      await Promise.all(workers.map((w) => w.terminate()));
      opts.log?.(`decode workers could not start (${err instanceof Error ? err.message : String(err)}); preparing in the main thread`);
      return new PreparePool([], opts, 'in-thread');
    }
    return new PreparePool(
      workers.map((worker) => ({ worker, inflight: 0 })),
      opts,
      'workers',
      niced,
    );
  }

  /**
   * Decodes and preprocesses one image on the least busy worker.
   * @throws the decoder's typed errors (EmptyInputError, CorruptImageError, ...) as `ResnetError` with the same code
   */
  prepare(bytes: Uint8Array): Promise<Prepared> {
    if (this.closed) return Promise.reject(new Error('prepare pool is closed'));
    if (this.slots.length === 0) return this.opts.inThread(bytes, { tenCrop: this.opts.tenCrop ?? false });
    const payload = transferableBytes(bytes);
    return new Promise<Prepared>((resolve, reject) => {
      const answer = (m: PrepareResponse): void => {
        if (m.ok) resolve(preparedOf(m));
        else reject('error' in m ? fromWire(m.error) : new Error(m.unreadable.message));
      };
      this.post({ bytes: payload }, [payload.buffer as ArrayBuffer], { answer, reject });
    });
  }

  /**
   * Reads a local file on a worker, hashes it (its ETag) and decodes and preprocesses it there:
   * the file's bytes never reach the calling thread.
   * @throws UnreadableFileError when the file cannot be read; an image that does not decode resolves with `ok: false`
   */
  prepareFile(file: string): Promise<PreparedFile> {
    if (this.closed) return Promise.reject(new Error('prepare pool is closed'));
    if (this.slots.length === 0) return this.prepareFileInThread(file);
    return new Promise<PreparedFile>((resolve, reject) => {
      const answer = (m: PrepareResponse): void => {
        if (m.ok) resolve({ file: m.file!, ok: true, prepared: preparedOf(m) });
        else if ('unreadable' in m) reject(new UnreadableFileError(file, m.unreadable));
        else if (m.file) resolve({ file: m.file, ok: false, error: fromWire(m.error) });
        else reject(fromWire(m.error));
      };
      this.post({ file }, [], { answer, reject });
    });
  }

  private async prepareFileInThread(file: string): Promise<PreparedFile> {
    let read: ReturnType<typeof readLocalFile>;
    try {
      read = readLocalFile(file);
    } catch (err) {
      throw new UnreadableFileError(file, unreadable(err));
    }
    try {
      return { file: read.facts, ok: true, prepared: await this.opts.inThread(read.bytes, { tenCrop: this.opts.tenCrop ?? false }) };
    } catch (err) {
      return { file: read.facts, ok: false, error: err instanceof Error ? err : new Error(String(err)) };
    }
  }

  /** Sends a job to the least busy worker, with a spent tensor to write into when there is one. */
  private post(input: Pick<PrepareRequest, 'bytes' | 'file'>, transfer: ArrayBuffer[], pending: Pending): void {
    let slot = this.slots[0]!;
    for (const s of this.slots) if (s.inflight < slot.inflight) slot = s;
    const id = this.nextId++;
    slot.inflight++;
    const out = this.opts.tenCrop ? undefined : this.spare.pop();
    const req: PrepareRequest = {
      id,
      ...input,
      ...(out ? { out } : {}),
      cfg: this.opts.cfg,
      tenCrop: this.opts.tenCrop ?? false,
      ...(this.opts.maxPixels !== undefined ? { maxPixels: this.opts.maxPixels } : {}),
    };
    this.pending.set(id, pending);
    slot.worker.postMessage(req, out ? [...transfer, out.buffer as ArrayBuffer] : transfer);
  }

  /**
   * Gives back tensors this pool made once nothing reads them any more (after inference); later
   * jobs write into their buffers. Only whole, single-tensor buffers of the model's size are kept.
   */
  recycle(tensors: readonly Float32Array[]): void {
    if (this.slots.length === 0) return; // in-thread: nothing to hand buffers to
    const size = 3 * this.opts.cfg.cropSize * this.opts.cfg.cropSize;
    for (const t of tensors) {
      if (this.spare.length >= SPARE_LIMIT) return;
      if (t.length === size && isWholeBuffer(t)) this.spare.push(t);
    }
  }

  private settle(slot: Slot, m: PrepareResponse): void {
    slot.inflight--;
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    p.answer(m);
  }

  private failAll(err: unknown): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /** Stops the workers; pending jobs are rejected. */
  async close(): Promise<void> {
    this.closed = true;
    this.failAll(new Error('prepare pool closed'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
