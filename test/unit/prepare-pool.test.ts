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
