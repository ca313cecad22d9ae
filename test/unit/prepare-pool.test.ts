/**
 * The decode pool. Niceness: on Linux each worker thread lowers its own priority (setpriority on
 * its thread id), leaving the process and onnxruntime's threads at normal priority. Tensor reuse:
 * spent tensors given back are written into by later jobs. Local files: read, described and
 * hashed on the worker, with the same tensors as from their bytes.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { PreparePool, UnreadableFileError, type InThreadPrepare } from '../../batch/threads/prepare-pool.js';
import { decodeImage } from '../../core/decode.js';
import { ResnetError } from '../../core/errors.js';
import { preprocess } from '../../core/preprocess.js';
import { IMAGENET_PREPROCESS } from '../../core/types.js';
import { gradientJpeg } from '../integration/functions-harness.js';

/** Niceness of every thread of this process, from /proc (field 19 of each task's stat). */
function threadNiceness(): number[] {
  return readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    // Fields after the parenthesised command name; nice is field 19 overall.
    const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(after[16]);
  });
}

const linux = process.platform === 'linux';
const inThread = (): Promise<never> => Promise.reject(new Error('workers expected'));

(linux ? describe : describe.skip)('PreparePool nice', () => {
  it('lowers the priority of its worker threads only', async () => {
    const before = threadNiceness().filter((n) => n === 10).length;
    const pool = await PreparePool.start({ workers: 2, nice: 10, cfg: IMAGENET_PREPROCESS, inThread });
    try {
      expect(pool.mode).toBe('workers');
      expect(pool.niced).toBe(true);
      expect(threadNiceness().filter((n) => n === 10).length - before).toBe(2);
      expect(os.getPriority()).toBe(0);
    } finally {
      await pool.close();
    }
  });

  it('leaves them alone by default', async () => {
    const pool = await PreparePool.start({ workers: 1, cfg: IMAGENET_PREPROCESS, inThread });
    try {
      expect(pool.niced).toBe(false);
    } finally {
      await pool.close();
    }
  });
});

describe('PreparePool tensor reuse', () => {
  it('writes later tensors into recycled buffers, with the same values as fresh ones', async () => {
    const images = await Promise.all([1, 2, 3].map(async (seed) => new Uint8Array(await gradientJpeg(320, 240, seed))));
    const pool = await PreparePool.start({ workers: 1, cfg: IMAGENET_PREPROCESS, inThread });
    try {
      const fresh = [];
      for (const b of images) fresh.push((await pool.prepare(b.slice())).tensors[0]!.slice());
      const spent = (await pool.prepare(images[0]!.slice())).tensors;
      spent[0]!.fill(Number.NaN); // stale contents must be overwritten everywhere
      pool.recycle(spent);
      // Wrong sizes and views into a larger buffer are not kept (a worker could not fill them whole).
      pool.recycle([new Float32Array(10), new Float32Array(3 * 224 * 224 + 8).subarray(8)]);
      const reused = (await pool.prepare(images[1]!.slice())).tensors[0]!;
      expect(spent[0]!.length).toBe(0); // its buffer went to the worker (transferred)...
      expect(reused).toEqual(fresh[1]); // ...and came back holding the next image's tensor
      const next = (await pool.prepare(images[2]!.slice())).tensors[0]!;
      expect(next).toEqual(fresh[2]);
    } finally {
      await pool.close();
    }
  });
});

/** What `Classifier.prepare` does, for the pool's in-thread mode. */
const prepareHere: InThreadPrepare = async (bytes) => {
  const img = await decodeImage(bytes, { minShortSide: IMAGENET_PREPROCESS.resizeShortSide });
  return { tensors: [preprocess(img, IMAGENET_PREPROCESS)], decodeMs: 0, preprocessMs: 0 };
};

describe.each([
  ['a worker', 1],
  ['the calling thread (no workers)', 0],
])('PreparePool.prepareFile on %s', (_, workers) => {
  let dir: string;
  let pool: PreparePool;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'prepare-file-'));
    pool = await PreparePool.start({ workers, cfg: IMAGENET_PREPROCESS, inThread: prepareHere });
  });
  afterAll(async () => {
    await pool.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('reads, describes and hashes the file, with the tensors its bytes give', async () => {
    const bytes = await gradientJpeg(320, 240, 5);
    const file = path.join(dir, 'ok.jpg');
    await writeFile(file, bytes);
    const job = await pool.prepareFile(file);
    const st = await stat(file);
    expect(job.file).toMatchObject({ size: bytes.length, mtimeMs: st.mtimeMs, md5: createHash('md5').update(bytes).digest('hex') });
    expect(job.file.readMs).toBeGreaterThanOrEqual(0);
    if (!job.ok) throw job.error;
    expect(job.prepared.tensors[0]).toEqual((await pool.prepare(new Uint8Array(bytes))).tensors[0]);
  });

  it('describes a file that does not decode, and says why', async () => {
    const bytes = (await gradientJpeg(320, 240, 6)).subarray(0, 400);
    const file = path.join(dir, 'cut.jpg');
    await writeFile(file, bytes);
    const job = await pool.prepareFile(file);
    expect(job.ok).toBe(false);
    expect(job.file).toMatchObject({ size: 400, md5: createHash('md5').update(bytes).digest('hex') });
    if (job.ok) return;
    expect(job.error).toBeInstanceOf(ResnetError);
    expect((job.error as ResnetError).code).toBe('CORRUPT_IMAGE');
  });

  it('rejects a file it cannot read with its errno', async () => {
    const missing = pool.prepareFile(path.join(dir, 'gone.jpg'));
    await expect(missing).rejects.toBeInstanceOf(UnreadableFileError);
    await expect(missing).rejects.toMatchObject({ errno: 'ENOENT', path: path.join(dir, 'gone.jpg') });
    await expect(pool.prepareFile(dir)).rejects.toMatchObject({ errno: 'EISDIR' });
  });
});
