/**
 * Results for a local-folder input: the same documents as in S3 (same key layout under an
 * output folder, same bytes), written atomically (temporary file + rename) so a killed run
 * never leaves half a file. The source "bucket" of a local file is {@link LOCAL_BUCKET}; its
 * ETag is the MD5 of its bytes, which is what S3 reports for the same file uploaded in one part.
 */
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { parseResult, serializeResult, type ResultDoc, type SourceRef } from '../functions/shared/results.js';
import { localEtag } from './local-etag.js';

/** Bucket name recorded for local files. */
export const LOCAL_BUCKET = 'local';

/** Reads a stored local result, or null when there is none (or it is unreadable). */
export async function readLocalResult(outDir: string, key: string): Promise<ResultDoc | null> {
  try {
    return parseResult(await readFile(path.join(outDir, key), 'utf8'));
  } catch {
    return null;
  }
}

/** Writes a result document atomically. */
export async function writeLocalResult(outDir: string, key: string, doc: ResultDoc): Promise<string> {
  const file = path.join(outDir, key);
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, serializeResult(doc));
  await rename(tmp, file);
  return file;
}

/**
 * Reads a local file and describes it like an S3 object. With `etag: false` the ETag is left
 * empty for the caller to fill in (the batch worker hashes on its decode threads, not the event loop).
 */
export async function readLocalObject(localPath: string, key: string, opts: { etag?: boolean } = {}): Promise<{ src: SourceRef; bytes: Uint8Array }> {
  const [bytes, st] = await Promise.all([readFile(localPath), stat(localPath)]);
  const lastModified = new Date(Math.floor(st.mtimeMs / 1000) * 1000).toISOString();
  const etag = opts.etag === false ? '' : localEtag(bytes);
  return { src: { bucket: LOCAL_BUCKET, key, versionId: null, etag, lastModified, size: st.size }, bytes };
}

/** Whether a stored result already describes this file (same size and modification second), without reading it. */
export async function localResultIsCurrent(doc: ResultDoc, localPath: string, model: string): Promise<boolean> {
  if (doc.model !== model) return false;
  const st = await stat(localPath);
  return doc.size === st.size && doc.lastModified === new Date(Math.floor(st.mtimeMs / 1000) * 1000).toISOString();
}
