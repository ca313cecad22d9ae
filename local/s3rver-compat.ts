/**
 * Where s3rver (the local stack's S3) answers unlike S3, fixed for the server it runs:
 *
 * - Order: S3 lists keys in UTF-8 binary order; s3rver walks its folders in `readdir` order and
 *   recurses into a "folder" where it meets it, so `a/b` can come before `a-b` and `a`, and a page
 *   boundary can skip keys. Listings without a delimiter (all this project makes) are sorted here.
 * - Paging: s3rver encrypts its ListObjectsV2 continuation tokens with DES, which OpenSSL 3
 *   (Node.js 17 and later) no longer offers: every listing longer than one page answered 500
 *   `ERR_OSSL_EVP_UNSUPPORTED`. The tokens only round-trip through s3rver, so its DES calls are
 *   mapped onto AES-128-CBC (key and IV zero-padded to 16 bytes); other ciphers are untouched.
 *
 * - POST uploads: s3rver stores a browser POST whatever its policy says. Here the form is read
 *   first and checked as S3 checks it ({@link checkPostPolicy}: conditions, expiry, file size),
 *   then handed on to s3rver unchanged; a refused upload stores nothing and answers S3's error.
 *
 * The sorted listing reads every key's metadata under the prefix for each page (s3rver's store
 * has no cheaper way), which is fine for a local bucket of thousands of objects.
 */
import crypto from 'node:crypto';
import { once } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';

import type S3rver from 's3rver';

import { checkPostPolicy, policyMaxBytes } from './post-policy.js';

// s3rver's own modules (and its multipart parser), resolved from its main file so that these are
// the instances its router calls.
const fromS3rver = createRequire(createRequire(import.meta.url).resolve('s3rver'));

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

/** The part of s3rver's Koa context its POST controller reads. */
interface PostContext {
  is(type: string): string | false | null;
  params: { bucket: string };
  headers: IncomingHttpHeaders;
  req: Readable;
}
type S3ErrorClass = new (code: string, message: string, detail?: Record<string, string | number>) => Error;
interface FileStream extends Readable {
  truncated?: boolean;
}
interface BusboyParser extends NodeJS.WritableStream {
  on(event: 'field', listener: (name: string, value: string) => void): this;
  on(event: 'file', listener: (name: string, stream: FileStream) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
}
type BusboyClass = new (opts: { headers: IncomingHttpHeaders }) => BusboyParser;

interface ReadForm {
  fields: Map<string, string>;
  /** Bytes of the first `file` part; undefined when there is none (s3rver then answers its error). */
  fileSize: number | undefined;
  /** The request body as received, to hand on; empty once the file passed the policy's maximum. */
  raw: Buffer[];
}

/** Reads a multipart POST: its fields up to the file, the file's size, and the raw body. */
async function readForm(req: Readable, busboy: BusboyParser): Promise<ReadForm> {
  const form: ReadForm = { fields: new Map(), fileSize: undefined, raw: [] };
  let keep = true;
  let limit = Infinity;
  const startFile = (): void => {
    form.fileSize = 0;
    // Past the policy's maximum the upload is refused, so its bytes need not be held.
    limit = form.fields.has('policy') ? (policyMaxBytes(form.fields.get('policy')) ?? Infinity) : 0;
  };
  const counted = (n: number): void => {
    form.fileSize! += n;
    if (form.fileSize! > limit) {
      keep = false;
      form.raw.length = 0;
    }
  };
  busboy.on('field', (name, value) => {
    if (form.fileSize !== undefined) return;
    // busboy reports a file part without a filename as a field, as s3rver's controller knows.
    if (name === 'file') {
      startFile();
      counted(Buffer.byteLength(value));
    } else {
      form.fields.set(name.toLowerCase(), value);
    }
  });
  busboy.on('file', (name, stream) => {
    if (name !== 'file' || form.fileSize !== undefined) return void stream.resume();
    startFile();
    stream.on('data', (chunk: Buffer) => counted(chunk.length));
  });
  req.on('data', (chunk: Buffer) => {
    if (keep) form.raw.push(chunk);
  });
  const finished = once(busboy, 'finish');
  req.pipe(busboy);
  await finished;
  return form;
}

let postPatched = false;

/** Puts S3's POST policy checks in front of s3rver's POST Object controller. */
function patchPostPolicy(): void {
  if (postPatched) return;
  postPatched = true;
  const controller = fromS3rver('./controllers/object.js') as { postObject(ctx: PostContext): Promise<void> };
  const S3Error = fromS3rver('./models/error.js') as S3ErrorClass;
  const Busboy = fromS3rver('busboy') as BusboyClass;
  const original = controller.postObject.bind(controller);
  controller.postObject = async (ctx) => {
    if (!ctx.is('multipart/form-data')) return original(ctx);
    let busboy: BusboyParser;
    try {
      busboy = new Busboy({ headers: ctx.headers });
    } catch {
      return original(ctx); // a malformed multipart header: s3rver's own answer
    }
    const form = await readForm(ctx.req, busboy);
    if (form.fileSize !== undefined) {
      const refused = checkPostPolicy({ bucket: ctx.params.bucket, fields: form.fields, fileSize: form.fileSize });
      if (refused !== null) throw new S3Error(refused.code, refused.message, refused.detail);
    }
    ctx.req = Readable.from(form.raw);
    return original(ctx);
  };
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

/**
 * Makes `server` list in S3's order, page past 1,000 keys on this Node.js and hold POST uploads to
 * their policy. Call before `run()`.
 */
export function s3rverCompat<T extends S3rver>(server: T): T {
  patchDes();
  patchPostPolicy();
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
