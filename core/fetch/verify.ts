/**
 * Verification of a downloaded or existing file against its sources' digests, and the
 * `<file>.verified` marker that lets later starts trust it without rehashing 100+ MB.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import { stat, writeFile } from 'node:fs/promises';

import { ChecksumMismatchError } from '../errors.js';
import type { FetchedFile, FileSource, FileSpec, VerifiedBy } from './types.js';

/** Written beside a verified file so later starts trust it without rehashing 100+ MB. */
interface VerifiedMarker {
  sha256: string;
  bytes: number;
  mtimeMs: number;
  verifiedBy: VerifiedBy;
  url: string;
}

export interface Digests {
  sha256: string;
  md5: string;
  bytes: number;
}

/** Checks digests against a source; returns the strongest check passed, throws on mismatch. */
export function checkDigests(name: string, src: FileSource, md5: string | undefined, d: Digests): VerifiedBy {
  if (src.bytes !== undefined && d.bytes !== src.bytes) {
    throw new ChecksumMismatchError(name, 'size', `${src.bytes} bytes`, `${d.bytes} bytes`);
  }
  if (src.sha256) {
    if (!d.sha256.startsWith(src.sha256)) throw new ChecksumMismatchError(name, 'sha256', src.sha256, d.sha256);
    return src.sha256.length === 64 ? 'sha256' : 'sha256-prefix';
  }
  if (md5) {
    if (d.md5 !== md5) throw new ChecksumMismatchError(name, 'md5', md5, d.md5);
    return 'md5';
  }
  return src.bytes !== undefined ? 'size' : 'content';
}

function readMarker(file: string): VerifiedMarker | null {
  try {
    const m = JSON.parse(readFileSync(`${file}.verified`, 'utf8')) as Partial<VerifiedMarker>;
    if (typeof m.sha256 !== 'string' || typeof m.bytes !== 'number' || typeof m.mtimeMs !== 'number') return null;
    return m as VerifiedMarker;
  } catch {
    return null;
  }
}

/** A marker still describes the file when size and mtime match and it satisfies one of the sources. */
function markerMatches(marker: VerifiedMarker, size: number, mtimeMs: number, sources: readonly FileSource[]): boolean {
  if (marker.bytes !== size || marker.mtimeMs !== mtimeMs) return false;
  if (marker.verifiedBy === 'md5') return sources.some((s) => s.url === marker.url);
  return sources.some((s) => (s.bytes === undefined || s.bytes === size) && (!s.sha256 || marker.sha256.startsWith(s.sha256)));
}

function hashFileSync(file: string): Digests {
  const sha = createHash('sha256');
  const md5 = createHash('md5');
  const buf = Buffer.allocUnsafe(1 << 20);
  const fd = openSync(file, 'r');
  let bytes = 0;
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      sha.update(buf.subarray(0, n));
      md5.update(buf.subarray(0, n));
      bytes += n;
    }
  } finally {
    closeSync(fd);
  }
  return { sha256: sha.digest('hex'), md5: md5.digest('hex'), bytes };
}

export async function writeMarker(file: string, d: Digests, verifiedBy: VerifiedBy, url: string): Promise<void> {
  const st = await stat(file);
  const marker: VerifiedMarker = { sha256: d.sha256, bytes: d.bytes, mtimeMs: st.mtimeMs, verifiedBy, url };
  await writeFile(`${file}.verified`, `${JSON.stringify(marker)}\n`);
}

/**
 * Whether an existing final file is verified: by its marker, or by rehashing it against the
 * sources that carry a size or sha256 (a hand-placed file). Never deletes anything. Files whose
 * sources carry no size or digest pass here and are left to FileSpec.validate.
 */
export function verifyExistingSync(file: string, sources: readonly FileSource[]): boolean {
  let st;
  try {
    st = statSync(file);
  } catch {
    return false;
  }
  const marker = readMarker(file);
  if (marker && markerMatches(marker, st.size, st.mtimeMs, sources)) return true;
  const checkable = sources.filter((s) => s.bytes !== undefined || s.sha256);
  // Nothing to compare digests with (labels): the spec's content check decides. An MD5 source
  // cannot be checked offline, so its files are trusted only through a marker.
  if (checkable.length === 0) return sources.every((s) => !s.md5 && !s.md5Url);
  if (!checkable.some((s) => s.bytes === undefined || s.bytes === st.size)) return false;
  const d = hashFileSync(file);
  for (const src of checkable) {
    try {
      const by = checkDigests(file, src, undefined, d);
      const m: VerifiedMarker = { sha256: d.sha256, bytes: d.bytes, mtimeMs: st.mtimeMs, verifiedBy: by, url: '' };
      try {
        // Best effort: a read-only cache (a Lambda layer) still works, it just rehashes next time.
        writeFileSync(`${file}.verified`, `${JSON.stringify(m)}\n`);
      } catch {
        /* see above */
      }
      return true;
    } catch {
      /* try the next source */
    }
  }
  return false;
}

/** `dest` verified as it is (no network), 'invalid' when it exists but does not verify, null when absent. */
export async function existingFile(spec: FileSpec, dest: string): Promise<FetchedFile | 'invalid' | null> {
  if (!existsSync(dest)) return null;
  if (verifyExistingSync(dest, spec.sources) && (!spec.validate || (await spec.validate(dest).then(() => true, () => false)))) {
    const marker = readMarker(dest);
    const size = (await stat(dest)).size;
    return { path: dest, bytes: size, sha256: marker?.sha256 ?? '', url: '', verifiedBy: marker?.verifiedBy ?? 'content', requests: 0, resumed: false };
  }
  return 'invalid';
}
