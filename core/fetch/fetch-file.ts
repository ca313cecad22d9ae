/**
 * Downloads one file into place, verified: the cache hit, the lock, the sources tried in order with
 * retries and back-off.
 */
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';

import { DownloadFailedError, ResnetError } from '../errors.js';
import { PermanentHttpError, readMd5, TransientError, UnreachableError } from './http.js';
import { acquireDownloadLock } from './lock.js';
import { attempt, removePart } from './resume.js';
import { backoff, sleep } from './retry.js';
import type { FetchFileOptions, FetchedFile, FileSource, FileSpec, TransferOptions, VerifiedBy } from './types.js';
import { checkDigests, existingFile, writeMarker } from './verify.js';

/** "download <url> and save it as <dest> (sha256 …, N bytes; check with `sha256sum <dest>`)" */
function placeOne(spec: FileSpec, dest: string): string {
  const src = spec.sources[0];
  const checks: string[] = [];
  if (src?.sha256) checks.push(src.sha256.length === 64 ? `sha256 ${src.sha256}` : `sha256 starting ${src.sha256}`);
  if (src?.bytes !== undefined) checks.push(`${src.bytes} bytes`);
  if (spec.expect) checks.push(spec.expect);
  if (src?.sha256) checks.push(`check with \`sha256sum ${dest}\``);
  return `download ${src?.url ?? 'the file'} and save it as ${dest}${checks.length > 0 ? ` (${checks.join('; ')})` : ''}`;
}

function placeHint(spec: FileSpec, dest: string): string {
  const files = [placeOne(spec, dest), ...(spec.alsoNeeded ?? []).map((f) => placeOne(f.spec, f.dest))];
  return (
    `To install by hand, on a machine with internet access ${files.join('; then ')}. ` +
    `Or set RESNET_MODEL_BASE_URL to a server holding ${files.length > 1 ? 'these files' : 'the file'} under the same names.`
  );
}

/**
 * Downloads one file to `dest`, verified, via `<dest>.part` and an atomic rename; resumes an
 * interrupted `.part` with HTTP Range, restarts cleanly when the server ignores Range, retries
 * transient failures with exponential backoff, then falls back to the next source.
 * An existing `dest` that verifies is returned without network access.
 * @throws ChecksumMismatchError (the bytes are deleted), DownloadFailedError (every source failed;
 *   the message names the URLs, the destination path and the checksum to verify by hand).
 */
export async function fetchFile(spec: FileSpec, dest: string, opts: FetchFileOptions = {}): Promise<FetchedFile> {
  const o = {
    maxAttempts: opts.maxAttempts ?? 5,
    retryDelayMs: opts.retryDelayMs ?? 500,
    stallTimeoutMs: opts.stallTimeoutMs ?? 30_000,
    maxRedirects: opts.maxRedirects ?? 5,
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  };
  const cached = await existingFile(spec, dest);
  if (cached !== null && cached !== 'invalid') return cached;
  await mkdir(path.dirname(dest), { recursive: true });

  // One downloader per file across processes: the others wait, then use its verified result.
  const lock = await acquireDownloadLock(spec, dest, opts.lockWaitMs ?? 30 * 60_000);
  if ('done' in lock) return lock.done;
  try {
    return await download(spec, dest, o);
  } finally {
    await lock.release();
  }
}

/** The download itself, under the lock. */
async function download(spec: FileSpec, dest: string, o: TransferOptions): Promise<FetchedFile> {
  // Re-checked under the lock: another process may have finished it since the first look.
  const cached = await existingFile(spec, dest);
  if (cached !== null && cached !== 'invalid') return cached;
  let discarded = '';
  if (cached === 'invalid') {
    // A stale version or a bad hand-placed copy: replace it, and say so if replacing fails.
    discarded = ` The existing ${dest} did not verify and was deleted.`;
    await rm(dest, { force: true });
    await rm(`${dest}.verified`, { force: true });
  }
  const part = `${dest}.part`;
  const failures: string[] = [];
  // The error names the first URL; later sources are prefixed so each failure is attributable.
  const where = (src: FileSource): string => (src === spec.sources[0] ? '' : `${src.url}: `);
  let requests = 0;

  for (const src of spec.sources) {
    let md5 = src.md5?.toLowerCase();
    let restartedAfterMismatch = false;
    for (let n = 1; n <= o.maxAttempts; n++) {
      try {
        if (src.md5Url && !md5) md5 = await readMd5(src.md5Url, o);
        requests++;
        const got = await attempt(src, part, o);
        let verifiedBy: VerifiedBy;
        try {
          verifiedBy = checkDigests(`${spec.name} from ${src.url}`, src, md5, got);
        } catch (err) {
          await removePart(part);
          // A resumed body may splice two versions of a file whose server gave no validator:
          // one clean download decides whether the bytes themselves are wrong.
          if (got.resumed && !restartedAfterMismatch) {
            restartedAfterMismatch = true;
            failures.push(`${where(src)}checksum mismatch after resume, restarted`);
            continue;
          }
          throw err;
        }
        if (spec.validate) {
          try {
            await spec.validate(part);
          } catch (err) {
            await removePart(part);
            throw err;
          }
        }
        await rename(part, dest);
        await rm(`${part}.json`, { force: true });
        await writeMarker(dest, got, verifiedBy, src.url);
        return { path: dest, bytes: got.bytes, sha256: got.sha256, url: src.url, verifiedBy, requests, resumed: got.resumed };
      } catch (err) {
        if (err instanceof ResnetError) throw err;
        if (err instanceof TransientError) {
          failures.push(`${where(src)}${err.message}`);
          if (n < o.maxAttempts && !err.immediate) await sleep(backoff(o.retryDelayMs, n));
          continue;
        }
        if (err instanceof PermanentHttpError || err instanceof UnreachableError) {
          failures.push(`${where(src)}${err.message}`);
          break;
        }
        throw err;
      }
    }
  }
  // Keep a partial file only if it may be resumed by the next run (transient failures).
  const primary = spec.sources[0]?.url ?? dest;
  throw new DownloadFailedError(primary, summarise(failures) || 'no source', placeHint(spec, dest) + discarded);
}

/** Collapses repeats ("HTTP 503" ×5) so the message stays one readable line. */
function summarise(failures: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const f of failures) counts.set(f, (counts.get(f) ?? 0) + 1);
  return [...counts].map(([f, n]) => (n > 1 ? `${f} (×${n})` : f)).join('; ');
}
