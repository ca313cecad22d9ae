/**
 * A local file as the batch worker sees it: its bytes, size, modification time and ETag (the MD5
 * of its bytes, as S3 reports for a one-part upload). In a module of its own (node:crypto and
 * node:fs only) so the decode workers, which read and hash local files themselves, load neither
 * the results module nor the AWS SDK behind it.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** A local file's ETag: the MD5 of its bytes (hex), as S3 reports for a one-part upload. */
function localEtag(bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('hex');
}

/** What a result records about a local file (its bytes aside). */
export interface LocalFileFacts {
  size: number;
  /** Modification time, epoch milliseconds. */
  mtimeMs: number;
  /** MD5 of the bytes (hex): the file's ETag. */
  md5: string;
  /** Time spent opening and reading it. */
  readMs: number;
}

/**
 * Reads a local file with its size and modification time from the same open descriptor (a file
 * replaced between a `stat` and a read could otherwise be described by the other file's facts).
 * Synchronous: it runs on a decode worker, whose next step needs the bytes anyway, and `readMs`
 * is then the read alone, not the read plus the decode it would otherwise wait behind.
 * @throws Node's fs errors (`code` ENOENT, EACCES, EISDIR, ...)
 */
export function readLocalFile(file: string): { bytes: Buffer; facts: LocalFileFacts } {
  const t0 = performance.now();
  const fd = openSync(file, 'r');
  try {
    const st = fstatSync(fd);
    const bytes = readFileSync(fd);
    const readMs = performance.now() - t0;
    return { bytes, facts: { size: bytes.length, mtimeMs: st.mtimeMs, md5: localEtag(bytes), readMs } };
  } finally {
    closeSync(fd);
  }
}

/** Why a local file could not be read: Node's error code (ENOENT, EACCES, EISDIR...) when it has one. */
export interface Unreadable {
  code?: string;
  message: string;
}

/** The {@link Unreadable} for an error {@link readLocalFile} threw (it crosses threads as is). */
export function unreadable(err: unknown): Unreadable {
  const e = err as NodeJS.ErrnoException;
  return { ...(typeof e.code === 'string' ? { code: e.code } : {}), message: e instanceof Error ? e.message : String(err) };
}

/** A modification time as results record it: ISO 8601, whole seconds (what S3's LastModified has). */
export function localLastModified(mtimeMs: number): string {
  return new Date(Math.floor(mtimeMs / 1000) * 1000).toISOString();
}
