/**
 * Two places where s3rver (the local stack's S3) lists unlike S3, fixed for the server it runs:
 *
 * - Order: S3 lists keys in UTF-8 binary order; s3rver walks its folders in `readdir` order and
 *   recurses into a "folder" where it meets it, so `a/b` can come before `a-b` and `a`, and a page
 *   boundary can skip keys. Listings without a delimiter (all this project makes) are sorted here.
 * - Paging: s3rver encrypts its ListObjectsV2 continuation tokens with DES, which OpenSSL 3
 *   (Node.js 17 and later) no longer offers: every listing longer than one page answered 500
 *   `ERR_OSSL_EVP_UNSUPPORTED`. The tokens only round-trip through s3rver, so its DES calls are
 *   mapped onto AES-128-CBC (key and IV zero-padded to 16 bytes); other ciphers are untouched.
 *
 * The sorted listing reads every key's metadata under the prefix for each page (s3rver's store
 * has no cheaper way), which is fine for a local bucket of thousands of objects.
 */
import crypto from 'node:crypto';

import type S3rver from 's3rver';

let cipherPatched = false;

function widen(b: crypto.BinaryLike | null): Buffer | null {
  if (b === null) return null;
  const out = Buffer.alloc(16);
  Buffer.from(b as Buffer).copy(out, 0, 0, 16);
  return out;
}

function patchDes(): void {
  if (cipherPatched) return;
  cipherPatched = true;
  const cipher = crypto.createCipheriv.bind(crypto) as (alg: string, key: unknown, iv: unknown) => crypto.Cipheriv;
  const decipher = crypto.createDecipheriv.bind(crypto) as (alg: string, key: unknown, iv: unknown) => crypto.Decipheriv;
  const des = (alg: string): boolean => alg.toLowerCase() === 'des';
  Object.assign(crypto, {
    createCipheriv: (alg: string, key: crypto.BinaryLike, iv: crypto.BinaryLike | null) =>
      des(alg) ? cipher('aes-128-cbc', widen(key), widen(iv)) : cipher(alg, key, iv),
    createDecipheriv: (alg: string, key: crypto.BinaryLike, iv: crypto.BinaryLike | null) =>
      des(alg) ? decipher('aes-128-cbc', widen(key), widen(iv)) : decipher(alg, key, iv),
  });
}

interface ListOptions {
  delimiter?: string;
  startAfter?: string;
  prefix?: string;
  maxKeys?: number;
}
interface ListResult {
  objects: { key: string }[];
  commonPrefixes: string[];
  isTruncated: boolean;
}
interface Store {
  listObjects(bucket: string, options: ListOptions): Promise<ListResult>;
}

const utf8 = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

/** Makes `server` list in S3's order and page past 1,000 keys on this Node.js. Call before `run()`. */
export function s3rverCompat<T extends S3rver>(server: T): T {
  patchDes();
  const store = (server as unknown as { store: Store }).store;
  const original = store.listObjects.bind(store);
  store.listObjects = async (bucket, options) => {
    if (options.delimiter) return original(bucket, options);
    const all = await original(bucket, { prefix: options.prefix ?? '', maxKeys: Infinity });
    const after = options.startAfter ?? '';
    const sorted = all.objects.filter((o) => utf8(o.key, after) > 0).sort((a, b) => utf8(a.key, b.key));
    const max = options.maxKeys ?? Infinity;
    return { objects: sorted.slice(0, max), commonPrefixes: [], isTruncated: sorted.length > max };
  };
  return server;
}
