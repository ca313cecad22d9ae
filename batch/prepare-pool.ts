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

import type { PreprocessConfig } from '../core/types.js';
import type { PrepareRequest, PrepareResponse, PrepareWorkerData } from './prepare-worker.js';
import { localEtag } from './local-etag.js';
import { isWholeBuffer, transferableBytes } from './transfer.js';
import { fromWire } from './wire-error.js';
import { workerEntry } from './worker-entry.js';

/** Tensors for one image and the time spent making them. */
export interface Prepared {
  tensors: Float32Array[];
  decodeMs: number;
  preprocessMs: number;
  /** MD5 of the input bytes (hex), when asked for. */
  md5?: string;
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

/** Spent tensors kept for reuse: more than the jobs in flight plus a batch is never needed. */
const SPARE_LIMIT = 256;

interface Slot {
  worker: Worker;
  inflight: number;
}

type Pending = { resolve: (p: Prepared) => void; reject: (e: unknown) => void };

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
   * Decodes and preprocesses one image on the least busy worker (`md5`: and hashes its bytes there).
   * @throws the decoder's typed errors (EmptyInputError, CorruptImageError, ...) as `ResnetError` with the same code
   */
  prepare(bytes: Uint8Array, opts: { md5?: boolean } = {}): Promise<Prepared> {
    if (this.closed) return Promise.reject(new Error('prepare pool is closed'));
    if (this.slots.length === 0) {
      const md5 = opts.md5 ? localEtag(bytes) : undefined;
      return this.opts.inThread(bytes, { tenCrop: this.opts.tenCrop ?? false }).then((p) => (md5 !== undefined ? { ...p, md5 } : p));
    }
    let slot = this.slots[0]!;
    for (const s of this.slots) if (s.inflight < slot.inflight) slot = s;
    const id = this.nextId++;
    slot.inflight++;
    const payload = transferableBytes(bytes);
    const out = this.opts.tenCrop ? undefined : this.spare.pop();
    const req: PrepareRequest = {
      id,
      bytes: payload,
      ...(opts.md5 ? { md5: true } : {}),
      ...(out ? { out } : {}),
      cfg: this.opts.cfg,
      tenCrop: this.opts.tenCrop ?? false,
      ...(this.opts.maxPixels !== undefined ? { maxPixels: this.opts.maxPixels } : {}),
    };
    return new Promise<Prepared>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      slot.worker.postMessage(req, out ? [payload.buffer as ArrayBuffer, out.buffer as ArrayBuffer] : [payload.buffer as ArrayBuffer]);
    });
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
    if (m.ok) p.resolve({ tensors: m.tensors, decodeMs: m.decodeMs, preprocessMs: m.preprocessMs, ...(m.md5 !== undefined ? { md5: m.md5 } : {}) });
    else p.reject(fromWire(m.error));
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
