/**
 * The result object written for every labelled S3 object, shared by the s3-tagger, the
 * sqs-worker and the batch worker (they must produce identical bytes for the same image and model).
 *
 * Key layout (see {@link resultKey}): `<RESULTS_PREFIX><model>/<bucket>/<key>.json`, e.g.
 * `resnet-results/resnet50-v2/photos/2024/cat.jpg.json`, so one model's results for a bucket
 * list under one prefix. Keys whose result key would exceed S3's 1024-byte limit go to
 * `<prefix><model>/<bucket>/_long/<sha256(key)>.json` (the document holds the full key).
 *
 * Byte-for-byte comparison: {@link serializeResult} writes fields in a fixed order; the
 * "stable body" is everything except the volatile fields {@link VOLATILE_FIELDS} (`timingsMs`,
 * `labelledAt`, `producer`, `sequencer`), which are written last. {@link stableBody} gives the
 * bytes to compare. Scores are rounded to 6 decimals ({@link SCORE_DECIMALS}) so that batched and
 * single-image inference, whose float32 sums may differ in the last bits, still agree.
 */
import { createHash } from 'node:crypto';

import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';

import type { Label, ParentLabel, StageTimings } from '../core/types.js';
import { s3Call, s3ErrorName, s3StatusOf } from './errors.js';

/** Version of the result document schema; bumped on any incompatible change. */
export const RESULT_SCHEMA_VERSION = 1;
/** Decimals kept in `labels[].score`. */
export const SCORE_DECIMALS = 6;
/** Fields that differ between runs on the same image and model; excluded from {@link stableBody}. */
export const VOLATILE_FIELDS = ['timingsMs', 'labelledAt', 'producer', 'sequencer'] as const;

/** Where an object came from: identifies exactly which bytes were labelled. */
export interface SourceRef {
  bucket: string;
  /** Decoded object key (not URL-encoded). */
  key: string;
  /** Object version id; null in unversioned buckets. */
  versionId: string | null;
  /** ETag without quotes. */
  etag: string;
  /** Object's Last-Modified, ISO 8601 (second resolution, as S3 reports it). */
  lastModified: string;
  /** Object size in bytes. */
  size: number;
}

/** Per-stage milliseconds; `download` and `write` are added by the adapters. */
export type ResultTimings = Partial<StageTimings> & { download?: number; total?: number };

/** A result document. Exactly one of `labels` and `error` is present. */
export interface ResultDoc extends SourceRef {
  schemaVersion: number;
  model: string;
  labels?: Label[];
  /** WordNet ancestors over the parent threshold (MIN_CONFIDENCE), best first; absent when none. */
  parents?: ParentLabel[];
  error?: { code: string; message: string };
  /** Who wrote it: `s3-tagger`, `sqs-worker`, `classify-api`, `batch`. Volatile. */
  producer?: string;
  /** S3 event sequencer of the event that led to this result (hex), when there was one. Volatile. */
  sequencer?: string;
  timingsMs?: ResultTimings;
  /** ISO 8601 time of writing. Volatile. */
  labelledAt?: string;
}

/** Strips the quotes S3 puts around ETags in headers (events carry them bare). */
export function normalizeEtag(etag: string | undefined): string {
  return (etag ?? '').replace(/^W\//, '').replace(/^"+|"+$/g, '');
}

/** Rounds a score to {@link SCORE_DECIMALS} decimals. */
export function roundScore(score: number): number {
  return Number(score.toFixed(SCORE_DECIMALS));
}

/**
 * Deterministic result key for one source object and model.
 * @param prefix - results prefix, normally ending in `/`. @default env RESULTS_PREFIX, `resnet-results/`
 */
export function resultKey(prefix: string, bucket: string, key: string, model: string): string {
  const full = `${prefix}${model}/${bucket}/${key}.json`;
  if (Buffer.byteLength(full, 'utf8') <= 1024) return full;
  const digest = createHash('sha256').update(key, 'utf8').digest('hex');
  return `${prefix}${model}/${bucket}/_long/${digest}.json`;
}

/**
 * Builds a success document; scores rounded, labels and parents copied into plain objects in a
 * fixed field order.
 * @param answer the classes and (optionally) their parents, as the core's classify returns them.
 */
export function buildResult(
  src: SourceRef,
  model: string,
  answer: { readonly labels: readonly Label[]; readonly parents?: readonly ParentLabel[] },
  extra: { producer?: string; sequencer?: string; timingsMs?: ResultTimings; labelledAt?: string } = {},
): ResultDoc {
  const parents = answer.parents ?? [];
  return {
    ...src,
    schemaVersion: RESULT_SCHEMA_VERSION,
    model,
    labels: answer.labels.map((l) => ({ rank: l.rank, index: l.index, id: l.id, name: l.name, score: roundScore(l.score) })),
    ...(parents.length > 0 ? { parents: parents.map((p) => ({ rank: p.rank, id: p.id, name: p.name, score: roundScore(p.score) })) } : {}),
    ...extra,
  };
}

/** Builds an error document for an object that could not be classified (bad image). */
export function buildErrorResult(
  src: SourceRef,
  model: string,
  error: { code: string; message: string },
  extra: { producer?: string; sequencer?: string; timingsMs?: ResultTimings; labelledAt?: string } = {},
): ResultDoc {
  return { ...src, schemaVersion: RESULT_SCHEMA_VERSION, model, error: { code: error.code, message: error.message }, ...extra };
}

function ordered(r: ResultDoc, withVolatile: boolean): Record<string, unknown> {
  const o: Record<string, unknown> = {
    schemaVersion: r.schemaVersion,
    bucket: r.bucket,
    key: r.key,
    versionId: r.versionId,
    etag: r.etag,
    lastModified: r.lastModified,
    size: r.size,
    model: r.model,
  };
  if (r.labels !== undefined) {
    o.labels = r.labels.map((l) => ({ rank: l.rank, index: l.index, id: l.id, name: l.name, score: l.score }));
  }
  if (r.parents !== undefined && r.parents.length > 0) {
    o.parents = r.parents.map((p) => ({ rank: p.rank, id: p.id, name: p.name, score: p.score }));
  }
  if (r.error !== undefined) o.error = { code: r.error.code, message: r.error.message };
  if (withVolatile) {
    if (r.producer !== undefined) o.producer = r.producer;
    if (r.sequencer !== undefined) o.sequencer = r.sequencer;
    if (r.timingsMs !== undefined) {
      // Fixed order, whole-microsecond precision: enough for humans, short in the file.
      const t: Record<string, number> = {};
      for (const k of Object.keys(r.timingsMs).sort()) {
        const v = (r.timingsMs as Record<string, number | undefined>)[k];
        if (v !== undefined) t[k] = Math.round(v * 1000) / 1000;
      }
      o.timingsMs = t;
    }
    if (r.labelledAt !== undefined) o.labelledAt = r.labelledAt;
  }
  return o;
}

/** The document's bytes as written to S3: fixed key order, 2-space indent, trailing newline. */
export function serializeResult(r: ResultDoc): string {
  return `${JSON.stringify(ordered(r, true), null, 2)}\n`;
}

/** The comparable part of a document (no volatile fields), in the same format as {@link serializeResult}. */
export function stableBody(r: ResultDoc): string {
  return `${JSON.stringify(ordered(r, false), null, 2)}\n`;
}

/**
 * The document as one JSON line (no newline) for bulk result files: the stable fields in the same
 * order as {@link serializeResult}, plus `labelledAt`; no timings, producer or sequencer.
 */
export function resultLine(r: ResultDoc): string {
  const o = ordered(r, false);
  if (r.labelledAt !== undefined) o.labelledAt = r.labelledAt;
  return JSON.stringify(o);
}

/** Parses a stored document; throws on anything that is not a result of a known schema. */
export function parseResult(text: string): ResultDoc {
  const doc = JSON.parse(text) as ResultDoc;
  if (typeof doc !== 'object' || doc === null || typeof doc.schemaVersion !== 'number' || typeof doc.key !== 'string') {
    throw new Error('not a resnet result document');
  }
  return doc;
}

/** A stored result and its own ETag (for conditional overwrites). */
export interface StoredResult {
  doc: ResultDoc;
  /** ETag of the result object itself (quoted, as S3 wants it back in If-Match). */
  objectEtag: string;
}

/**
 * Reads the result at `key`, or null when there is none (or it is unreadable garbage, which
 * the next write replaces). Transient failures throw `TransientStorageError`.
 */
export async function readResult(s3: S3Client, bucket: string, key: string): Promise<StoredResult | null> {
  try {
    const out = await s3Call(`GetObject s3://${bucket}/${key}`, () => s3.send(new GetObjectCommand({ Bucket: bucket, Key: key })));
    const text = (await out.Body?.transformToString('utf8')) ?? '';
    try {
      return { doc: parseResult(text), objectEtag: out.ETag ?? '' };
    } catch {
      return null;
    }
  } catch (err) {
    if (s3ErrorName(err) === 'NoSuchKey' || s3StatusOf(err) === 404) return null;
    throw err;
  }
}

/** Why a new result does or does not replace a stored one. */
export type WriteDecision = 'write' | 'same' | 'stale';

/** Compares two sequencers (hex strings of possibly different length), as AWS documents. */
export function compareSequencers(a: string, b: string): number {
  const n = Math.max(a.length, b.length);
  const pa = a.toUpperCase().padEnd(n, '0');
  const pb = b.toUpperCase().padEnd(n, '0');
  return pa < pb ? -1 : pa > pb ? 1 : 0;
}

/**
 * Decides whether `next` may replace `existing` (both for the same source key):
 * - `same`: the same object bytes (ETag and version) were already labelled by the same model —
 *   nothing to do (duplicate delivery);
 * - `stale`: `existing` describes a newer object (later Last-Modified; on a tie, a later event
 *   sequencer) — an older event must not overwrite it;
 * - `write` otherwise.
 */
export function decideWrite(existing: ResultDoc | null, next: Pick<ResultDoc, 'etag' | 'versionId' | 'model' | 'lastModified' | 'sequencer'>): WriteDecision {
  if (existing === null) return 'write';
  if (existing.model === next.model && existing.etag === next.etag && existing.versionId === next.versionId) return 'same';
  const te = Date.parse(existing.lastModified);
  const tn = Date.parse(next.lastModified);
  if (Number.isFinite(te) && Number.isFinite(tn) && te !== tn) return te > tn ? 'stale' : 'write';
  if (existing.sequencer !== undefined && next.sequencer !== undefined) {
    return compareSequencers(existing.sequencer, next.sequencer) > 0 ? 'stale' : 'write';
  }
  return 'write';
}

/**
 * Writes a result unless {@link decideWrite} says otherwise. Read-compare-write: on real S3 the
 * PUT is conditional (`If-None-Match: *` when there was no result, `If-Match: <etag>` when
 * replacing one), so a concurrent writer makes it fail with 412 and we re-read and decide again.
 * s3rver ignores these headers, so locally two writers racing between read and write can both
 * succeed and the later PUT wins (window: one PUT round trip).
 * @returns the decision taken; `write` means the document is now stored.
 */
export async function writeResult(
  s3: S3Client,
  bucket: string,
  key: string,
  doc: ResultDoc,
  opts: { existing?: StoredResult | null; attempts?: number; force?: boolean } = {},
): Promise<WriteDecision> {
  let existing = opts.existing === undefined ? await readResult(s3, bucket, key) : opts.existing;
  const attempts = opts.attempts ?? 3;
  for (let i = 0; ; i++) {
    const decided = decideWrite(existing?.doc ?? null, doc);
    const decision = opts.force && decided === 'same' ? 'write' : decided;
    if (decision !== 'write') return decision;
    try {
      await s3Call(`PutObject s3://${bucket}/${key}`, () =>
        s3.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: serializeResult(doc),
            ContentType: 'application/json',
            ...(existing === null ? { IfNoneMatch: '*' } : existing.objectEtag ? { IfMatch: existing.objectEtag } : {}),
          }),
        ),
      );
      return 'write';
    } catch (err) {
      const status = s3StatusOf(err);
      const lostRace = status === 412 || status === 409 || s3ErrorName(err) === 'PreconditionFailed' || s3ErrorName(err) === 'ConditionalRequestConflict';
      if (!lostRace || i + 1 >= attempts) throw err;
      existing = await readResult(s3, bucket, key);
    }
  }
}
