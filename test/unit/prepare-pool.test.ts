/**
 * Decode-worker niceness: on Linux each worker thread lowers its own priority (setpriority on its
 * thread id), leaving the process and onnxruntime's threads at normal priority.
 */
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

import { PreparePool } from '../../batch/prepare-pool.js';
import { IMAGENET_PREPROCESS } from '../../core/types.js';

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
  /** A small photo-like JPEG (gradients and a little noise). */
  async function jpeg(seed: number): Promise<Uint8Array> {
    const sharp = (await import('sharp')).default;
    const [w, h] = [320, 240];
    const px = Buffer.alloc(w * h * 3);
    for (let i = 0; i < w * h; i++) {
      px[i * 3] = ((i % w) * 255) / w;
      px[i * 3 + 1] = (Math.floor(i / w) * 255) / h;
      px[i * 3 + 2] = (i * seed * 2654435761) >>> 24;
    }
    return new Uint8Array(await sharp(px, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 85 }).toBuffer());
  }

  it('writes later tensors into recycled buffers, with the same values as fresh ones', async () => {
    const images = await Promise.all([1, 2, 3].map(jpeg));
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
