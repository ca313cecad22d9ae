/**
 * One transfer attempt into `<file>.part`, continuing a partial body with Range/If-Range when its
 * validators (`<file>.part.json`) still match.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';

import { ChecksumMismatchError } from '../errors.js';
import { errnoCode, get, Meter, OversizeError, PermanentHttpError, TRANSIENT_STATUS, TransientError } from './http.js';
import type { FileSource, TransferOptions } from './types.js';
import type { Digests } from './verify.js';

interface PartMeta {
  url: string;
  etag?: string;
  lastModified?: string;
}

async function hashInto(file: string, hashes: Hash[]): Promise<number> {
  let bytes = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    const b = chunk as Buffer;
    bytes += b.length;
    for (const h of hashes) h.update(b);
  }
  return bytes;
}

export async function removePart(part: string): Promise<void> {
  await rm(part, { force: true });
  await rm(`${part}.json`, { force: true });
}

async function readPartMeta(part: string): Promise<PartMeta | null> {
  try {
    return JSON.parse(await readFile(`${part}.json`, 'utf8')) as PartMeta;
  } catch {
    return null;
  }
}

interface AttemptResult extends Digests {
  resumed: boolean;
}

/**
 * One HTTP request: continues `<dest>.part` with Range when it belongs to this URL, else
 * starts it over. Resolves when the body is complete (not yet verified).
 */
export async function attempt(src: FileSource, part: string, o: TransferOptions): Promise<AttemptResult> {
  let offset = 0;
  const meta = await readPartMeta(part);
  if (meta && meta.url === src.url && existsSync(part)) offset = (await stat(part)).size;
  else await removePart(part);
  if (src.bytes !== undefined && offset > src.bytes) {
    await removePart(part);
    offset = 0;
  }

  const headers: Record<string, string> = {};
  if (offset > 0) {
    headers.range = `bytes=${offset}-`;
    // If-Range needs a strong validator; without one the server may splice two versions,
    // which the final checksum catches (and the caller then restarts from zero).
    const validator = meta?.etag && !meta.etag.startsWith('W/') ? meta.etag : meta?.lastModified;
    if (validator) headers['if-range'] = validator;
  }
  const { res, req } = await get(src.url, headers, o);
  const status = res.statusCode ?? 0;
  let append = false;
  if (status === 206 && offset > 0) {
    const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(res.headers['content-range'] ?? '');
    if (!m || Number(m[1]) !== offset) {
      res.resume();
      await removePart(part);
      throw new TransientError(`unexpected Content-Range "${res.headers['content-range'] ?? ''}" for offset ${offset}`, true);
    }
    append = true;
  } else if (status === 416 && offset > 0) {
    res.resume();
    // Nothing after our offset: the part may already be whole; otherwise it is stale.
    if (src.bytes !== undefined && offset === src.bytes) {
      const sha = createHash('sha256');
      const md5 = createHash('md5');
      const bytes = await hashInto(part, [sha, md5]);
      return { sha256: sha.digest('hex'), md5: md5.digest('hex'), bytes, resumed: true };
    }
    await removePart(part);
    throw new TransientError('range not satisfiable; restarting from zero', true);
  } else if (status === 200 || status === 206) {
    // 200 to a ranged request: the server ignored Range (or If-Range failed) — clean restart.
    offset = 0;
  } else {
    res.resume();
    if (TRANSIENT_STATUS.has(status)) throw new TransientError(`HTTP ${status}`);
    throw new PermanentHttpError(status);
  }

  const partMeta: PartMeta = { url: src.url };
  const etag = res.headers.etag;
  const lastModified = res.headers['last-modified'];
  if (etag) partMeta.etag = etag;
  if (lastModified) partMeta.lastModified = lastModified;
  await writeFile(`${part}.json`, JSON.stringify(partMeta));

  const sha = createHash('sha256');
  const md5 = createHash('md5');
  if (append) await hashInto(part, [sha, md5]);
  const length = Number(res.headers['content-length']);
  const total = src.bytes ?? (Number.isFinite(length) && length > 0 ? offset + length : 0);
  o.onProgress?.(offset, total);
  const meter = new Meter(sha, md5, offset, total, src.bytes, o.onProgress);
  try {
    await pipeline(res, meter, createWriteStream(part, { flags: append ? 'a' : 'w' }));
  } catch (err) {
    req.destroy();
    if (err instanceof OversizeError) {
      await removePart(part);
      throw new ChecksumMismatchError(src.url, 'size', `${err.max} bytes`, `more than ${err.max} bytes`);
    }
    if (err instanceof TransientError) throw err;
    throw new TransientError(`transfer broke off after ${meter.done} bytes (${errnoCode(err) ?? (err as Error).message})`, false, { cause: err });
  }
  if (Number.isFinite(length) && meter.done - offset < length) {
    throw new TransientError(`body ended after ${meter.done - offset} of ${length} bytes`);
  }
  if (src.bytes !== undefined && meter.done < src.bytes) {
    throw new TransientError(`body ended after ${meter.done} of ${src.bytes} bytes`);
  }
  return { sha256: sha.digest('hex'), md5: md5.digest('hex'), bytes: meter.done, resumed: append };
}
