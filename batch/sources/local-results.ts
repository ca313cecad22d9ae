/**
 * Results for a local-folder input: the same documents as in S3 (same key layout under an
 * output folder, same bytes), written atomically (temporary file + rename) so a killed run
 * never leaves half a file. The source "bucket" of a local file is {@link LOCAL_BUCKET}; its
 * ETag is the MD5 of its bytes, which is what S3 reports for the same file uploaded in one part.
 */
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { parseResult, serializeResult, type ResultDoc, type SourceRef } from '../../labelling/results.js';
import { localLastModified, type LocalFileFacts } from './local-file.js';

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

/** Folders this process has made under an output folder: one `mkdir` per folder, not per result. */
const madeDirs = new Set<string>();

/** Writes a result document atomically. */
export async function writeLocalResult(outDir: string, key: string, doc: ResultDoc): Promise<string> {
  const file = path.join(outDir, key);
  const dir = path.dirname(file);
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  const body = serializeResult(doc);
  if (!madeDirs.has(dir)) {
    await mkdir(dir, { recursive: true });
    madeDirs.add(dir);
  }
  try {
    await writeFile(tmp, body);
  } catch (err) {
    // The folder was removed since this process made it: make it again, once.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await mkdir(dir, { recursive: true });
    await writeFile(tmp, body);
  }
  await rename(tmp, file);
  return file;
}

/** A local file described like an S3 object, from what its reader found (`readLocalFile`). */
export function localSource(key: string, facts: LocalFileFacts): SourceRef {
  return { bucket: LOCAL_BUCKET, key, versionId: null, etag: facts.md5, lastModified: localLastModified(facts.mtimeMs), size: facts.size };
}

/** Whether a stored result already describes this file (same size and modification second), without reading it. */
export async function localResultIsCurrent(doc: ResultDoc, localPath: string, model: string): Promise<boolean> {
  if (doc.model !== model) return false;
  const st = await stat(localPath);
  return doc.size === st.size && doc.lastModified === localLastModified(st.mtimeMs);
}
