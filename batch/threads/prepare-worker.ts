/**
 * Worker-thread entry of the decode/preprocess pool: the same two calls as
 * `Classifier.prepare` (decodeImage with the recipe's short side as `minShortSide`, then
 * preprocess or tenCrop), so batch results equal the s3-tagger's bit for bit.
 */
import { readlinkSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';

import { decodeImage } from '../../core/decode.js';
import { preprocess, tenCrop } from '../../core/preprocess.js';
import type { PreprocessConfig } from '../../core/types.js';
import { readLocalFile, unreadable, type LocalFileFacts, type Unreadable } from '../sources/local-file.js';
import { toWire, type WireError } from './wire-error.js';

/** What a worker is started with. */
export interface PrepareWorkerData {
  /** Niceness for this thread (see PreparePoolOptions.nice). */
  nice: number;
}

/**
 * Sets this thread's niceness. Linux schedules threads as tasks, so setpriority on the thread's
 * own id (from /proc/thread-self) changes only this thread, not the process.
 * @returns whether it was set
 */
export function niceThisThread(nice: number): boolean {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0) return false;
    os.setPriority(tid, nice);
    return os.getPriority(tid) === nice;
  } catch {
    return false; // not Linux, or not allowed
  }
}

/** A job sent to a worker. */
export interface PrepareRequest {
  id: number;
  /** The image: its bytes, or `file`. */
  bytes?: Uint8Array;
  /**
   * A local file to read here (the event loop never touches its bytes); the answer describes it
   * (size, modification time, MD5), also when it does not decode.
   */
  file?: string;
  /** A spent tensor's buffer to write this one into (transferred; the pool recycles them). */
  out?: Float32Array;
  cfg: PreprocessConfig;
  maxPixels?: number;
  tenCrop: boolean;
}

/** A worker's answer. `file`: what was read (a `file` job whose file could be read). */
export type PrepareResponse =
  | { id: number; ok: true; tensors: Float32Array[]; decodeMs: number; preprocessMs: number; file?: LocalFileFacts }
  | { id: number; ok: false; error: WireError; file?: LocalFileFacts }
  /** A `file` job whose file could not be read. */
  | { id: number; ok: false; unreadable: Unreadable };

const port = parentPort;
if (port) {
  const { nice } = (workerData ?? { nice: 0 }) as PrepareWorkerData;
  const niced = nice > 0 && niceThisThread(nice);
  port.on('message', (req: PrepareRequest) => {
    void (async () => {
      let file: LocalFileFacts | undefined;
      try {
        let bytes = req.bytes ?? new Uint8Array(0);
        if (req.file !== undefined) {
          try {
            ({ bytes, facts: file } = readLocalFile(req.file));
          } catch (err) {
            return port.postMessage({ id: req.id, ok: false, unreadable: unreadable(err) } satisfies PrepareResponse);
          }
        }
        const t0 = performance.now();
        const img = await decodeImage(bytes, {
          minShortSide: req.cfg.resizeShortSide,
          ...(req.maxPixels !== undefined ? { maxPixels: req.maxPixels } : {}),
        });
        const t1 = performance.now();
        const tensors = req.tenCrop ? tenCrop(img, req.cfg) : [preprocess(img, req.cfg, req.out)];
        const t2 = performance.now();
        const res: PrepareResponse = { id: req.id, ok: true, tensors, decodeMs: t1 - t0, preprocessMs: t2 - t1, ...(file ? { file } : {}) };
        port.postMessage(res, tensors.map((t) => t.buffer as ArrayBuffer));
      } catch (err) {
        const res: PrepareResponse = { id: req.id, ok: false, error: toWire(err), ...(file ? { file } : {}) };
        port.postMessage(res);
      }
    })();
  });
  port.postMessage({ ready: true, niced });
}
