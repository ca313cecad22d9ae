/**
 * The download lock `<file>.lock`: one process downloads a file while others wait for it, and a
 * holder that stops refreshing the lock is taken over.
 */
import lockfile from 'proper-lockfile';

import { DownloadFailedError } from '../errors.js';
import { sleep } from './retry.js';
import type { FetchedFile, FileSpec } from './types.js';
import { existingFile } from './verify.js';

/**
 * A download lock whose holder stops refreshing it (killed, frozen) for this long is taken over.
 * proper-lockfile refreshes the lock's mtime every half of this while the download runs.
 */
const LOCK_STALE_MS = 20_000;

/**
 * Takes `<dest>.lock` (proper-lockfile: an atomic mkdir, refreshed while held, taken over when
 * stale), or waits while another holder downloads and returns its result once `dest` verifies.
 */
export async function acquireDownloadLock(spec: FileSpec, dest: string, waitMs: number): Promise<{ release: () => Promise<void> } | { done: FetchedFile }> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const release = await lockfile.lock(dest, {
        realpath: false,
        stale: LOCK_STALE_MS,
        // Losing the lock (this process was frozen past `stale`) must not crash it: the bytes are
        // still verified before they are renamed into place.
        onCompromised: () => undefined,
      });
      return { release: () => release().catch(() => undefined) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
    }
    const done = await existingFile(spec, dest);
    if (done !== null && done !== 'invalid') return { done };
    if (Date.now() > deadline) {
      throw new DownloadFailedError(
        spec.sources[0]?.url ?? dest,
        `another process has held ${dest}.lock for over ${Math.round(waitMs / 1000)} s`,
        ` If no download is running, delete ${dest}.lock and retry.`,
      );
    }
    await sleep(250);
  }
}
