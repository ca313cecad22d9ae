/**
 * Where the batch worker's objects come from. Every source is a lazy async iterable, so the
 * listing advances only as fast as the pipeline takes objects (nothing is held for the whole
 * backlog): an S3 prefix (ListObjectsV2, page by page), a manifest of keys (JSONL or CSV, local
 * or in S3), a sweeper's backlog (backlog.json: manifest parts, one per array child), an S3
 * Inventory report (its manifest.json, or one of its CSV files), or a local folder.
 */
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';

import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';

import { FileNotFoundError, InvalidArgumentError } from '../../core/errors.js';
import { BACKLOG_FILE, parseBacklogDocument } from '../../labelling/backlog-manifest.js';
import { withRetry, type RetryOptions } from '../s3/retry.js';
import type { Shard } from './shard.js';

/** One object to label. */
export interface SourceObject {
  /** S3 bucket (absent for local files). */
  readonly bucket?: string;
  /** S3 key, or the path relative to the input folder with `/` separators. */
  readonly key: string;
  /** ETag without quotes, when the source knows it (listing, inventory); else read at download. */
  readonly etag?: string;
  /** Size in bytes, when known. */
  readonly size?: number;
  /** Version id, when the source names one. */
  readonly versionId?: string;
  /** Absolute path for local files. */
  readonly localPath?: string;
  /** The source already gave this object to this shard alone (a backlog part, an inventory file of its own). */
  readonly sharded?: true;
}

/** A parsed input argument. */
export type InputSpec =
  | { readonly kind: 's3-prefix'; readonly bucket: string; readonly prefix: string }
  | { readonly kind: 'manifest'; readonly location: string; readonly format: 'jsonl' | 'csv' }
  | { readonly kind: 'inventory'; readonly location: string }
  | { readonly kind: 'backlog'; readonly location: string }
  | { readonly kind: 'local'; readonly dir: string };

/** Splits `s3://bucket/key` into its parts; `null` for anything else. */
export function parseS3Uri(uri: string): { bucket: string; key: string } | null {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  return m ? { bucket: m[1]!, key: m[2]! } : null;
}

/** Strips the quotes S3 puts around ETags. */
export function normalizeEtag(etag: string | undefined): string | undefined {
  return etag === undefined ? undefined : etag.replace(/^W\//, '').replace(/^"|"$/g, '');
}

function manifestFormat(name: string): 'jsonl' | 'csv' | 'inventory' | 'backlog' | null {
  const n = name.toLowerCase().replace(/\.gz$/, '');
  if (n.endsWith(BACKLOG_FILE)) return 'backlog';
  if (n.endsWith('manifest.json')) return 'inventory';
  if (n.endsWith('.jsonl') || n.endsWith('.ndjson')) return 'jsonl';
  if (n.endsWith('.csv') || n.endsWith('.txt')) return 'csv';
  return null;
}

/**
 * Reads the input argument: `s3://bucket/prefix/` (a prefix), `s3://bucket/list.jsonl|.csv[.gz]`
 * or a local `list.jsonl|.csv[.gz]` (a manifest), `.../manifest.json` (an S3 Inventory report),
 * or a local folder.
 * @param kind - force the kind instead of guessing from the name
 * @throws InvalidArgumentError when the argument fits none
 */
export function parseInput(input: string, kind: 'auto' | InputSpec['kind'] = 'auto'): InputSpec {
  const s3 = parseS3Uri(input);
  const guessed = manifestFormat(input);
  const k = kind !== 'auto' ? kind : guessed === 'inventory' || guessed === 'backlog' ? guessed : guessed !== null ? 'manifest' : s3 ? 's3-prefix' : 'local';
  switch (k) {
    case 's3-prefix':
      if (!s3) throw new InvalidArgumentError(`An S3 prefix input must look like s3://bucket/prefix/, got "${input}".`);
      return { kind: 's3-prefix', bucket: s3.bucket, prefix: s3.key };
    case 'manifest':
      return { kind: 'manifest', location: input, format: guessed === 'jsonl' ? 'jsonl' : 'csv' };
    case 'inventory':
      return { kind: 'inventory', location: input };
    case 'backlog':
      return { kind: 'backlog', location: input };
    case 'local':
      return { kind: 'local', dir: path.resolve(input) };
  }
}

/** What the sources need from the outside. */
export interface SourceContext {
  /** S3 client for S3 inputs. */
  readonly s3?: S3Client;
  /** Bucket for manifest lines that name no bucket. */
  readonly defaultBucket?: string;
  /** Stop listing when aborted (SIGTERM). */
  readonly signal?: AbortSignal;
  /** Retry budget of each listing or read call. */
  readonly retry?: RetryOptions;
  /** The array child's shard: a backlog source reads only its part. */
  readonly shard?: Shard;
}

/** Opens the source named by `spec` as a lazy stream of objects. */
export function openSource(spec: InputSpec, ctx: SourceContext): AsyncIterable<SourceObject> {
  switch (spec.kind) {
    case 's3-prefix':
      return listPrefix(needS3(ctx), spec.bucket, spec.prefix, ctx);
    case 'manifest':
      return readManifest(spec.location, spec.format, ctx);
    case 'inventory':
      return readInventory(spec.location, ctx);
    case 'backlog':
      return readBacklog(spec.location, ctx);
    case 'local':
      return walkFolder(spec.dir, ctx.signal);
  }
}

function needS3(ctx: SourceContext): S3Client {
  if (!ctx.s3) throw new InvalidArgumentError('This input is in S3 but no S3 client was configured.');
  return ctx.s3;
}

/** Lists `s3://bucket/prefix` page by page (1000 keys a page), skipping folder markers. */
export async function* listPrefix(s3: S3Client, bucket: string, prefix: string, ctx: SourceContext = {}): AsyncGenerator<SourceObject> {
  let token: string | undefined;
  do {
    if (ctx.signal?.aborted) return;
    const page = await withRetry(
      () => s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token })),
      ctx.retry,
    );
    for (const o of page.Contents ?? []) {
      if (o.Key === undefined || o.Key.endsWith('/')) continue;
      yield { bucket, key: o.Key, ...(o.ETag ? { etag: normalizeEtag(o.ETag)! } : {}), ...(o.Size !== undefined ? { size: o.Size } : {}) };
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

/** Opens a local or `s3://` file as a byte stream, gunzipping `.gz`. */
async function openStream(location: string, ctx: SourceContext): Promise<Readable> {
  const s3uri = parseS3Uri(location);
  let raw: Readable;
  if (s3uri) {
    const res = await withRetry(() => needS3(ctx).send(new GetObjectCommand({ Bucket: s3uri.bucket, Key: s3uri.key })), ctx.retry);
    raw = res.Body as Readable;
  } else {
    try {
      await stat(location);
    } catch (err) {
      throw new FileNotFoundError(location, err);
    }
    raw = createReadStream(location);
  }
  return location.toLowerCase().endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
}

async function* lines(location: string, ctx: SourceContext): AsyncGenerator<{ line: string; n: number }> {
  const rl = createInterface({ input: await openStream(location, ctx), crlfDelay: Infinity });
  let n = 0;
  for await (const line of rl) {
    n++;
    if (ctx.signal?.aborted) return;
    if (line.trim() === '' || line.startsWith('#')) continue;
    yield { line, n };
  }
}

/** Splits one RFC 4180 CSV line (double-quoted fields, `""` escapes). */
export function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

function decodeKey(encoded: string, where: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw new InvalidArgumentError(`${where}: key "${encoded}" is not valid URL encoding; manifest and inventory CSV keys are URL-encoded.`);
  }
}

/**
 * Reads a manifest of keys.
 * - JSONL: one JSON string (the key) or object `{"key", "bucket"?, "etag"?, "versionId"?}` per line; keys as they are.
 * - CSV (S3 Batch Operations style): `key` or `bucket,key[,versionId]` per line; keys URL-encoded.
 */
export async function* readManifest(location: string, format: 'jsonl' | 'csv', ctx: SourceContext = {}): AsyncGenerator<SourceObject> {
  for await (const { line, n } of lines(location, ctx)) {
    const where = `${location}:${n}`;
    let obj: SourceObject;
    if (format === 'jsonl') {
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch {
        throw new InvalidArgumentError(`${where}: not JSON; a JSONL manifest has one "key" string or {"key": ...} object per line.`);
      }
      if (typeof v === 'string') obj = { key: v };
      else if (typeof v === 'object' && v !== null && typeof (v as { key?: unknown }).key === 'string') {
        const r = v as { key: string; bucket?: unknown; etag?: unknown; versionId?: unknown };
        obj = {
          key: r.key,
          ...(typeof r.bucket === 'string' ? { bucket: r.bucket } : {}),
          ...(typeof r.etag === 'string' ? { etag: normalizeEtag(r.etag)! } : {}),
          ...(typeof r.versionId === 'string' ? { versionId: r.versionId } : {}),
        };
      } else throw new InvalidArgumentError(`${where}: expected a "key" string or an object with a "key" field.`);
    } else {
      const cols = splitCsvLine(line);
      if (cols.length === 1) obj = { key: decodeKey(cols[0]!, where) };
      else obj = { bucket: cols[0]!, key: decodeKey(cols[1]!, where), ...(cols[2] ? { versionId: cols[2] } : {}) };
    }
    const bucket = obj.bucket ?? ctx.defaultBucket;
    if (bucket === undefined) throw new InvalidArgumentError(`${where}: the line names no bucket; pass --bucket.`);
    yield { ...obj, bucket };
  }
}

/**
 * Reads a sweeper's backlog (`backlog.json`, labelling/backlog-manifest.ts). An array child
 * (`shard.count` > 1) reads its own part and nothing else; the part count must equal the array
 * size. Without a shard, every part is read in turn.
 * @throws InvalidArgumentError when the array size and the part count differ
 */
export async function* readBacklog(location: string, ctx: SourceContext = {}): AsyncGenerator<SourceObject> {
  let text = '';
  for await (const chunk of await openStream(location, ctx)) text += String(chunk);
  let doc;
  try {
    doc = parseBacklogDocument(text, location);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  const shard = ctx.shard;
  const own = shard !== undefined && shard.count > 1;
  let parts = doc.parts;
  if (own) {
    if (shard.count !== doc.parts.length) {
      throw new InvalidArgumentError(`${location} has ${doc.parts.length} parts but the array has ${shard.count} children; submit it with an array size equal to its part count.`);
    }
    parts = [doc.parts[shard.index]!];
  }
  const s3uri = parseS3Uri(location);
  for (const part of parts) {
    const partLoc = s3uri ? `s3://${s3uri.bucket}/${part.key}` : path.join(path.dirname(location), path.basename(part.key));
    for await (const o of readManifest(partLoc, 'jsonl', { ...ctx, defaultBucket: doc.bucket })) yield own ? { ...o, sharded: true as const } : o;
  }
}

/** Columns of an S3 Inventory CSV when its manifest.json is not at hand (the console's default selection). */
export const DEFAULT_INVENTORY_SCHEMA = 'Bucket, Key, Size, LastModifiedDate, ETag';

/**
 * Reads an S3 Inventory report: its `manifest.json` (each listed CSV file in turn, columns from
 * `fileSchema`), or one of its CSV files directly (columns {@link DEFAULT_INVENTORY_SCHEMA}).
 * Delete markers and non-latest versions are skipped. An array child (`shard.count` > 1) of a
 * report with at least as many files as children reads only the files `i`, `i + n`, `i + 2n`, ...
 * (see {@link inventoryFilesOf}), so no child reads what another reads.
 */
export async function* readInventory(location: string, ctx: SourceContext = {}): AsyncGenerator<SourceObject> {
  if (!location.toLowerCase().endsWith('manifest.json')) {
    yield* readInventoryCsv(location, DEFAULT_INVENTORY_SCHEMA, ctx);
    return;
  }
  let text = '';
  for await (const chunk of await openStream(location, ctx)) text += String(chunk);
  const manifest = JSON.parse(text) as { fileFormat?: string; fileSchema?: string; files?: Array<{ key: string }>; destinationBucket?: string };
  if ((manifest.fileFormat ?? 'CSV').toUpperCase() !== 'CSV' || !manifest.fileSchema || !manifest.files) {
    throw new InvalidArgumentError(`${location}: only CSV inventory reports are supported (fileFormat CSV with fileSchema and files).`);
  }
  const s3uri = parseS3Uri(location);
  // destinationBucket is an ARN (arn:aws:s3:::name). A local copy of a report keeps S3's layout
  // (<config>/<date>/manifest.json beside <config>/data/*.csv.gz), or has the files beside it.
  const destBucket = manifest.destinationBucket?.replace(/^arn:aws:s3:::/, '') ?? s3uri?.bucket;
  const byFile = inventoryShardedByFile(manifest.files.length, ctx.shard);
  for (const f of inventoryFilesOf(manifest.files, ctx.shard)) {
    let fileLoc: string;
    if (s3uri) fileLoc = `s3://${destBucket ?? s3uri.bucket}/${f.key}`;
    else {
      const beside = path.join(path.dirname(location), path.basename(f.key));
      const inData = path.join(path.dirname(location), '..', 'data', path.basename(f.key));
      fileLoc = await stat(beside).then(() => beside, () => inData);
    }
    for await (const o of readInventoryCsv(fileLoc, manifest.fileSchema, ctx)) yield byFile ? { ...o, sharded: true as const } : o;
  }
}

/**
 * The inventory files an array child reads: with at least as many files as children, every n-th
 * file from the child's index (whole files: the child then keeps every key it reads); with fewer,
 * all of them (the caller then keeps the child's keys by hash, {@link inventoryShardedByFile}).
 */
export function inventoryFilesOf<T>(files: readonly T[], shard: Shard | undefined): readonly T[] {
  if (!inventoryShardedByFile(files.length, shard)) return files;
  return files.filter((_, j) => j % shard!.count === shard!.index);
}

/** Whether an inventory of `fileCount` files is split among the children by file (else by key hash). */
export function inventoryShardedByFile(fileCount: number, shard: Shard | undefined): boolean {
  return shard !== undefined && shard.count > 1 && fileCount >= shard.count;
}

async function* readInventoryCsv(location: string, schema: string, ctx: SourceContext): AsyncGenerator<SourceObject> {
  const cols = schema.split(',').map((c) => c.trim());
  const at = (name: string): number => cols.indexOf(name);
  const [iBucket, iKey, iSize, iEtag, iVersion, iLatest, iDelete] = ['Bucket', 'Key', 'Size', 'ETag', 'VersionId', 'IsLatest', 'IsDeleteMarker'].map(at);
  if (iBucket! < 0 || iKey! < 0) throw new InvalidArgumentError(`${location}: inventory schema "${schema}" lacks Bucket or Key.`);
  for await (const { line, n } of lines(location, ctx)) {
    const f = splitCsvLine(line);
    if (iDelete! >= 0 && f[iDelete!] === 'true') continue;
    if (iLatest! >= 0 && f[iLatest!] === 'false') continue;
    const key = decodeKey(f[iKey!] ?? '', `${location}:${n}`);
    if (key.endsWith('/')) continue;
    yield {
      bucket: f[iBucket!]!,
      key,
      ...(iEtag! >= 0 && f[iEtag!] ? { etag: normalizeEtag(f[iEtag!])! } : {}),
      ...(iSize! >= 0 && f[iSize!] ? { size: Number(f[iSize!]) } : {}),
      ...(iVersion! >= 0 && f[iVersion!] ? { versionId: f[iVersion!]! } : {}),
    };
  }
}

/** Walks a local folder depth-first in name order (so shards and reruns see a stable order). */
export async function* walkFolder(dir: string, signal?: AbortSignal, rel = ''): AsyncGenerator<SourceObject> {
  let entries;
  try {
    entries = await readdir(path.join(dir, rel), { withFileTypes: true });
  } catch (err) {
    throw new FileNotFoundError(path.join(dir, rel), err);
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (signal?.aborted) return;
    const relPath = rel === '' ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory()) yield* walkFolder(dir, signal, relPath);
    else if (e.isFile()) yield { key: relPath, localPath: path.join(dir, ...relPath.split('/')) };
  }
}
