/**
 * Downloads zoo models and their labels into a local cache, verified.
 *
 * Cache layout (`defaultCacheDir()`: env RESNET_CACHE_DIR, else ~/.cache/resnet-serverless):
 *   <cache>/<model id>/model.onnx            the model, renamed into place only once verified
 *   <cache>/<model id>/model.onnx.verified   JSON {sha256, bytes, mtimeMs, verifiedBy, url}
 *   <cache>/labels/synset.txt                ImageNet labels, shared by all zoo models
 *   <cache>/labels/synset.txt.verified
 *   <file>.part, <file>.part.json            an interrupted download and its validators (resume)
 *   <file>.lock                              held while one process downloads <file>; others wait
 *
 * Transfers use node:http(s) directly: explicit control over Range/If-Range, redirects
 * (GitHub raw → Git LFS media host) and early-closed bodies, which are what resume needs.
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, existsSync, openSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { ChecksumMismatchError, DownloadFailedError, InvalidLabelsError, ResnetError } from './errors.js';
import { parseLabels } from './labels.js';
import lockfile from 'proper-lockfile';
import { getZooModel, LABELS_SPEC, type ZooModel } from './registry.js';

/** Called as bytes arrive: `done` bytes of `total` (0 when the size is unknown). */
export type ProgressCallback = (done: number, total: number) => void;

/** One place a file can be downloaded from, with what the bytes there must match. */
export interface FileSource {
  /** http(s) URL; redirects are followed. */
  readonly url: string;
  /** Exact size in bytes, when known. */
  readonly bytes?: number;
  /** Expected sha256, lower-case hex: 64 digits, or a prefix of them (compared as a prefix). */
  readonly sha256?: string;
  /** Expected MD5, 32 hex digits. */
  readonly md5?: string;
  /** URL of a text file whose first token is the MD5 (the zoo's `-md5.txt`); read before the download. */
  readonly md5Url?: string;
}

/** A file to download: sources tried in order, plus an optional content check. */
export interface FileSpec {
  /** What the file is, for messages (`resnet50-v2 model`). */
  readonly name: string;
  readonly sources: readonly FileSource[];
  /** Extra check of the downloaded file (e.g. labels parse to 1000 classes); throws to reject it. */
  readonly validate?: (filePath: string) => Promise<void>;
  /** What `validate` expects, for the manual-placement hint (`1000 lines "<wnid> <name>"`). */
  readonly expect?: string;
  /** Files that must be placed along with this one, named in the same hint (labels → model). */
  readonly alsoNeeded?: readonly { spec: FileSpec; dest: string }[];
}

/** Transfer tuning; the defaults suit a 100–250 MB file over a flaky link. */
export interface FetchFileOptions {
  onProgress?: ProgressCallback;
  /** Attempts per source for transient failures (connection reset, 5xx, stall, truncation). @default 5 */
  maxAttempts?: number;
  /** First backoff delay in ms, doubled per retry, capped at 8 s, ±25 % jitter. @default 500 */
  retryDelayMs?: number;
  /** Abort an attempt when no byte arrives for this many ms. @default 30000 */
  stallTimeoutMs?: number;
  /** Redirect hops followed per request. @default 5 */
  maxRedirects?: number;
  /**
   * How long to wait while another process (or call) downloads the same file; it holds
   * `<dest>.lock`, and its result is used when it finishes. @default 1800000 (30 min)
   */
  lockWaitMs?: number;
}

/**
 * A download lock whose holder stops refreshing it (killed, frozen) for this long is taken over.
 * proper-lockfile refreshes the lock's mtime every half of this while the download runs.
 */
const LOCK_STALE_MS = 20_000;

/** The transfer settings of one download, defaults filled in. */
type TransferOptions = Required<Omit<FetchFileOptions, 'onProgress' | 'lockWaitMs'>> & { onProgress?: ProgressCallback };

/** A verified file in its final place. */
export interface FetchedFile {
  path: string;
  bytes: number;
  /** Full sha256 of the file, lower-case hex. */
  sha256: string;
  /** The URL it came from ('' when an existing file was verified instead). */
  url: string;
  /** Strongest check that passed. */
  verifiedBy: VerifiedBy;
  /** HTTP requests made for the file body (0 for a cache hit). */
  requests: number;
  /** Whether a later request continued a partial body with Range. */
  resumed: boolean;
}

type VerifiedBy = 'sha256' | 'sha256-prefix' | 'md5' | 'size' | 'content';

/** Written beside a verified file so later starts trust it without rehashing 100+ MB. */
interface VerifiedMarker {
  sha256: string;
  bytes: number;
  mtimeMs: number;
  verifiedBy: VerifiedBy;
  url: string;
}

interface PartMeta {
  url: string;
  etag?: string;
  lastModified?: string;
}

/** Where a model's files live (or will live) in a cache. */
export interface ModelPaths {
  modelPath: string;
  labelsPath: string;
}

/** The model cache folder: env RESNET_CACHE_DIR, else `~/.cache/resnet-serverless`. */
export function defaultCacheDir(): string {
  const env = process.env.RESNET_CACHE_DIR;
  return env && env.trim() !== '' ? path.resolve(env) : path.join(os.homedir(), '.cache', 'resnet-serverless');
}

/** The paths a model and its labels have in a cache, whether or not they exist yet. */
export function modelCachePaths(id: string, cacheDir: string = defaultCacheDir()): ModelPaths {
  return {
    modelPath: path.join(cacheDir, id, 'model.onnx'),
    labelsPath: path.join(cacheDir, 'labels', LABELS_SPEC.file),
  };
}

function resolveModel(model: string | ZooModel): ZooModel {
  return typeof model === 'string' ? getZooModel(model) : model;
}

/**
 * Paths of a cached model and its labels, or `null` unless both are present and verified.
 * A verified marker whose size and mtime still match the file is trusted; otherwise the file
 * is rehashed once (synchronously: ~0.3 s per 100 MB) and the marker rewritten.
 * @param model zoo id, or a ZooModel (tests, custom registries).
 * @throws UnknownModelError for an id not in the registry.
 */
export function cachedModelPaths(model: string | ZooModel, cacheDir: string = defaultCacheDir()): ModelPaths | null {
  const spec = resolveModel(model);
  const paths = modelCachePaths(spec.id, cacheDir);
  if (!verifyExistingSync(paths.modelPath, modelSources(spec, undefined))) return null;
  if (!labelsValidSync(paths.labelsPath)) return null;
  return paths;
}

/**
 * Downloads a zoo model and the ImageNet labels into the cache (skipping what is already
 * there and verified) and returns their paths.
 *
 * Sources: the zoo's GitHub URL (sha256 + size), then the seed's S3 copy (its MD5 file).
 * With `baseUrl` (or env RESNET_MODEL_BASE_URL) only `<baseUrl>/<file>` and
 * `<baseUrl>/synset.txt` are used, checked against the registry's size and sha256.
 * @param model zoo id or a ZooModel.
 * @throws DownloadFailedError naming the URLs and how to place the file by hand;
 *   ChecksumMismatchError when the bytes do not match (the download is deleted);
 *   UnknownModelError for an unknown id.
 */
export async function fetchModel(
  model: string | ZooModel,
  opts: { cacheDir?: string; onProgress?: ProgressCallback; baseUrl?: string } & Omit<FetchFileOptions, 'onProgress'> = {},
): Promise<ModelPaths> {
  const spec = resolveModel(model);
  const { cacheDir = defaultCacheDir(), onProgress, baseUrl = process.env.RESNET_MODEL_BASE_URL, ...transfer } = opts;
  const paths = modelCachePaths(spec.id, cacheDir);
  const base = baseUrl && baseUrl.trim() !== '' ? baseUrl : undefined;
  const modelFile: FileSpec = { name: `${spec.id} model`, sources: modelSources(spec, base) };
  // Labels first: small, so an offline machine learns it in a second, not after a timeout on
  // 100 MB; its error then names both files to place by hand.
  await fetchFile({ ...labelsFileSpec(base), alsoNeeded: [{ spec: modelFile, dest: paths.modelPath }] }, paths.labelsPath, transfer);
  await fetchFile(modelFile, paths.modelPath, { ...transfer, ...(onProgress ? { onProgress } : {}) });
  return paths;
}

function joinBase(base: string, file: string): string {
  return `${base.replace(/\/+$/, '')}/${file}`;
}

function modelSources(spec: ZooModel, base: string | undefined): FileSource[] {
  const primary: FileSource = {
    url: base ? joinBase(base, spec.file) : spec.url,
    bytes: spec.bytes,
    ...(spec.sha256 ? { sha256: spec.sha256 } : {}),
  };
  if (base || !spec.mirrorUrl || !spec.md5Url) return [primary];
  return [primary, { url: spec.mirrorUrl, md5Url: spec.md5Url }];
}

function labelsFileSpec(base: string | undefined): FileSpec {
  return {
    name: 'ImageNet labels',
    sources: [{ url: base ? joinBase(base, LABELS_SPEC.file) : LABELS_SPEC.url }],
    validate: async (file) => checkLabels(await readFile(file, 'utf8'), file),
    expect: `${LABELS_SPEC.classes} lines "<wnid> <name>"`,
  };
}

function checkLabels(text: string, file: string): void {
  const labels = parseLabels(text, file);
  if (labels.length !== LABELS_SPEC.classes) {
    throw new InvalidLabelsError(`${file} has ${labels.length} classes, expected ${LABELS_SPEC.classes}`);
  }
  const bad = labels.find((l) => !LABELS_SPEC.idPattern.test(l.id));
  if (bad) throw new InvalidLabelsError(`${file} line ${bad.index + 1} has no WordNet id ("${bad.id}")`);
}

function labelsValidSync(file: string): boolean {
  if (!existsSync(file)) return false;
  try {
    checkLabels(readFileSync(file, 'utf8'), file);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Verification

interface Digests {
  sha256: string;
  md5: string;
  bytes: number;
}

/** Checks digests against a source; returns the strongest check passed, throws on mismatch. */
function checkDigests(name: string, src: FileSource, md5: string | undefined, d: Digests): VerifiedBy {
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

async function writeMarker(file: string, d: Digests, verifiedBy: VerifiedBy, url: string): Promise<void> {
  const st = await stat(file);
  const marker: VerifiedMarker = { sha256: d.sha256, bytes: d.bytes, mtimeMs: st.mtimeMs, verifiedBy, url };
  await writeFile(`${file}.verified`, `${JSON.stringify(marker)}\n`);
}

/**
 * Whether an existing final file is verified: by its marker, or by rehashing it against the
 * sources that carry a size or sha256 (a hand-placed file). Never deletes anything. Files whose
 * sources carry no size or digest pass here and are left to FileSpec.validate.
 */
function verifyExistingSync(file: string, sources: readonly FileSource[]): boolean {
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

// ---------------------------------------------------------------------------------------------
// Transfer

/** An HTTP answer that retrying the same URL will not change (404, 403, 410…). */
class PermanentHttpError extends Error {
  constructor(readonly status: number, detail?: string) {
    super(status > 0 ? `HTTP ${status}${detail ? ` (${detail})` : ''}` : (detail ?? 'request failed'));
  }
}

/** A failure worth retrying: reset, 5xx, stall, truncated body, server ignoring our range. */
class TransientError extends Error {
  constructor(message: string, readonly immediate = false, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The host cannot be reached at all (refused, no DNS, no route): retrying the same host now is pointless. */
class UnreachableError extends Error {}

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'ENETUNREACH', 'EHOSTUNREACH', 'EAI_NONAME']);
const TRANSIENT_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

interface OpenResponse {
  res: http.IncomingMessage;
  req: http.ClientRequest;
  finalUrl: string;
}

/** GET with redirects followed; rejects with Unreachable/Transient/Permanent errors. */
function get(url: string, headers: Record<string, string>, opts: Required<Pick<FetchFileOptions, 'maxRedirects' | 'stallTimeoutMs'>>): Promise<OpenResponse> {
  return new Promise<OpenResponse>((resolve, reject) => {
    const go = (current: string, hops: number): void => {
      let u: URL;
      try {
        u = new URL(current);
      } catch (err) {
        reject(new PermanentHttpError(0, `invalid URL ${current}: ${(err as Error).message}`));
        return;
      }
      const lib = u.protocol === 'https:' ? https : u.protocol === 'http:' ? http : null;
      if (!lib) {
        reject(new PermanentHttpError(0, `unsupported protocol in ${current}`));
        return;
      }
      const req = lib.get(u, { headers: { 'user-agent': 'resnet-serverless', 'accept-encoding': 'identity', ...headers } });
      req.setTimeout(opts.stallTimeoutMs, () => req.destroy(new TransientError(`no data from ${u.host} for ${opts.stallTimeoutMs} ms`)));
      req.on('error', (err) => {
        const code = errnoCode(err);
        if (code && UNREACHABLE_CODES.has(code)) reject(new UnreachableError(`${u.host}: ${code}`, { cause: err }));
        else if (err instanceof TransientError) reject(err);
        else reject(new TransientError(`${u.host}: ${code ?? err.message}`, false, { cause: err }));
      });
      req.once('response', (res) => {
        const status = res.statusCode ?? 0;
        const location = res.headers.location;
        if ([301, 302, 303, 307, 308].includes(status) && location) {
          res.resume();
          if (hops >= opts.maxRedirects) {
            reject(new PermanentHttpError(status, `more than ${opts.maxRedirects} redirects, last ${current}`));
            return;
          }
          go(new URL(location, current).toString(), hops + 1);
          return;
        }
        resolve({ res, req, finalUrl: current });
      });
    };
    go(url, 0);
  });
}

/** Counts, hashes and reports bytes as they pass; fails fast when more arrive than expected. */
class Meter extends Transform {
  constructor(
    private readonly sha: Hash,
    private readonly md5: Hash,
    public done: number,
    private readonly total: number,
    private readonly maxBytes: number | undefined,
    private readonly onProgress: ProgressCallback | undefined,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.done += chunk.length;
    if (this.maxBytes !== undefined && this.done > this.maxBytes) {
      cb(new OversizeError(this.done, this.maxBytes));
      return;
    }
    this.sha.update(chunk);
    this.md5.update(chunk);
    this.onProgress?.(this.done, this.total);
    cb(null, chunk);
  }
}

class OversizeError extends Error {
  constructor(readonly got: number, readonly max: number) {
    super(`more than ${max} bytes received`);
  }
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

async function removePart(part: string): Promise<void> {
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
async function attempt(src: FileSource, part: string, o: TransferOptions): Promise<AttemptResult> {
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

async function readMd5(url: string, o: Required<Pick<FetchFileOptions, 'maxRedirects' | 'stallTimeoutMs'>>): Promise<string> {
  const { res } = await get(url, {}, o);
  const status = res.statusCode ?? 0;
  if (status !== 200) {
    res.resume();
    if (TRANSIENT_STATUS.has(status)) throw new TransientError(`HTTP ${status} from ${url}`);
    throw new PermanentHttpError(status, `checksum file ${url}`);
  }
  let text = '';
  for await (const chunk of res) {
    text += (chunk as Buffer).toString('utf8');
    if (text.length > 4096) break;
  }
  res.destroy();
  const m = /^\s*([0-9a-fA-F]{32})\b/.exec(text);
  if (!m) throw new PermanentHttpError(0, `no MD5 digest in ${url}`);
  return m[1]!.toLowerCase();
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

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

/** `dest` verified as it is (no network), 'invalid' when it exists but does not verify, null when absent. */
async function existingFile(spec: FileSpec, dest: string): Promise<FetchedFile | 'invalid' | null> {
  if (!existsSync(dest)) return null;
  if (verifyExistingSync(dest, spec.sources) && (!spec.validate || (await spec.validate(dest).then(() => true, () => false)))) {
    const marker = readMarker(dest);
    const size = (await stat(dest)).size;
    return { path: dest, bytes: size, sha256: marker?.sha256 ?? '', url: '', verifiedBy: marker?.verifiedBy ?? 'content', requests: 0, resumed: false };
  }
  return 'invalid';
}

/**
 * Takes `<dest>.lock` (proper-lockfile: an atomic mkdir, refreshed while held, taken over when
 * stale), or waits while another holder downloads and returns its result once `dest` verifies.
 */
async function acquireDownloadLock(spec: FileSpec, dest: string, waitMs: number): Promise<{ release: () => Promise<void> } | { done: FetchedFile }> {
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

function backoff(base: number, attemptNo: number): number {
  const d = Math.min(base * 2 ** (attemptNo - 1), 8000);
  return d * (0.75 + Math.random() * 0.5);
}
