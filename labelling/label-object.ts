/**
 * Labels one S3 object: the shared core of the s3-tagger, the sqs-worker and the batch worker.
 *
 * Order of work, chosen so that at-least-once delivery and crashes are harmless:
 * 1. read the stored result; a duplicate event for the same ETag/version and model stops here;
 * 2. GetObject (conditional `If-None-Match` on the labelled ETag, size-limited) — an older event
 *    for an object that has since been replaced gets the current bytes or a 304;
 * 3. classify; a bad image (non-retryable `ResnetError`) becomes an error result, never a throw;
 * 4. re-read the result and give up if a newer one appeared meanwhile (never overwrite newer);
 * 5. write the tags (read-merge-write, the user's tags kept), THEN the result object: the result is
 *    the commit marker, so a crash between the two is redone by the retry instead of skipped.
 * Transient S3 failures throw `TransientStorageError` so the platform retries and dead-letters.
 */
import { performance } from 'node:perf_hooks';

import {
  GetObjectCommand,
  GetObjectTaggingCommand,
  PutObjectTaggingCommand,
  type GetObjectCommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';

import { ResnetError } from '../core/errors.js';
import type { LabelOptions as ParentOptions } from '../core/hierarchy/hierarchy.js';
import type { ClassificationResult } from '../core/types.js';
import { s3Call, s3ErrorName, s3StatusOf } from './errors.js';
import {
  buildErrorResult,
  buildResult,
  decideWrite,
  normalizeEtag,
  readResult,
  resultKey,
  writeResult,
  type ResultDoc,
  type ResultTimings,
  type SourceRef,
} from './results.js';
import { buildTagSet, type OwnTagContent } from './tags.js';

/** What the labeller needs from the core's `Classifier` (a structural subset, so tests and batch can adapt). */
export interface LabelClassifier {
  readonly modelId: string;
  classify(bytes: Uint8Array, opts?: { top?: number; labels?: ParentOptions }): Promise<ClassificationResult>;
}

/** Per-image observations for metrics and logs; every hook is optional. */
export interface LabelObserver {
  /** Milliseconds spent in one stage (`download`, `decode`, `preprocess`, `inference`, `postprocess`, `tags`, `write`). */
  stage?(name: string, ms: number): void;
  /** An image could not be classified (bad input); `code` is the ResnetError code. */
  imageError?(code: string, message: string, ref: ObjectRef): void;
  /** Tags written (count of ours) and dropped for lack of room. */
  tagsWritten?(written: number, dropped: string[]): void;
}

/** Dependencies, injected so tests use a real local S3 and the batch worker its own clients. */
export interface LabelDeps {
  s3: S3Client;
  classifier: LabelClassifier;
  observer?: LabelObserver;
}

/** The object to label, as an event names it (key already URL-decoded). */
export interface ObjectRef {
  bucket: string;
  key: string;
  /** Version from the event; when set, exactly that version is labelled. */
  versionId?: string | null;
  /** ETag from the event (quotes optional); enables the duplicate check before any download. */
  etag?: string;
  /** S3 event sequencer (hex), stored to order events with the same Last-Modified second. */
  sequencer?: string;
}

/** Options of {@link labelObject}. */
export interface LabelOptions {
  /** Bucket for result objects. @default the source bucket */
  resultsBucket?: string;
  /** Prefix for result objects. @default 'resnet-results/' */
  resultsPrefix?: string;
  /** Labels per image (result and tags). @default 5 */
  top?: number;
  /** Largest object downloaded, in bytes; bigger ones get an IMAGE_TOO_LARGE error result. @default 50 MiB */
  maxBytes?: number;
  /** Write S3 tags. @default true */
  tags?: boolean;
  /** Name written as the result's `producer`. @default 's3-tagger' */
  producer?: string;
  /** Label again even when a result for the same ETag and model exists. @default false */
  force?: boolean;
  /** Confidence (0–100) a parent needs to be stored and tagged; the top classes are always stored. @default 50 */
  minConfidence?: number;
  /** Parent tags written (0: none). @default 2 */
  tagParents?: number;
}

/** Default {@link LabelOptions.maxBytes}: 50 MiB. */
export const DEFAULT_MAX_BYTES = 50 * 1024 * 1024;
/** Default results prefix. */
export const DEFAULT_RESULTS_PREFIX = 'resnet-results/';

/** What happened to one object. */
export interface LabelOutcome {
  /** `labelled`: labels written; `failed`: error result written (bad image); `skipped`: nothing written. */
  status: 'labelled' | 'failed' | 'skipped';
  /** Why it was skipped: duplicate delivery, an older event than the stored result, or the object is gone. */
  reason?: 'duplicate' | 'stale' | 'missing';
  resultBucket: string;
  resultKey: string;
  /** The document written (absent when skipped). */
  result?: ResultDoc;
  /** Keys of our tags that were written / dropped for S3's 10-tag limit. */
  tagsWritten: string[];
  tagsDropped: string[];
}

/** Converts GetObject/HeadObject output to the identity of the bytes read. */
export function sourceRefFromObject(
  bucket: string,
  key: string,
  out: Pick<GetObjectCommandOutput, 'ETag' | 'VersionId' | 'LastModified' | 'ContentLength'>,
): SourceRef {
  const versionId = out.VersionId === undefined || out.VersionId === 'null' ? null : out.VersionId;
  return {
    bucket,
    key,
    versionId,
    etag: normalizeEtag(out.ETag),
    lastModified: (out.LastModified ?? new Date(0)).toISOString(),
    size: out.ContentLength ?? 0,
  };
}

/** Bytes of an object, or why there are none to classify. */
export type FetchedObject =
  | { kind: 'ok'; src: SourceRef; bytes: Uint8Array }
  | { kind: 'too-large'; src: SourceRef }
  | { kind: 'not-modified' }
  | { kind: 'missing' };

/**
 * GetObject with a size limit and an optional `If-None-Match` ETag. A 304 and a missing object
 * are outcomes, not errors; transient failures (also while streaming the body) throw
 * `TransientStorageError`.
 * @param maxBytes - larger objects are not read (their body is discarded). @default 50 MiB
 */
export async function fetchObject(
  s3: S3Client,
  ref: ObjectRef,
  opts: { maxBytes?: number; ifNoneMatch?: string } = {},
): Promise<FetchedObject> {
  const op = `GetObject s3://${ref.bucket}/${ref.key}`;
  let out: GetObjectCommandOutput;
  try {
    out = await s3Call(op, () =>
      s3.send(
        new GetObjectCommand({
          Bucket: ref.bucket,
          Key: ref.key,
          ...(ref.versionId ? { VersionId: ref.versionId } : {}),
          ...(opts.ifNoneMatch ? { IfNoneMatch: `"${normalizeEtag(opts.ifNoneMatch)}"` } : {}),
        }),
      ),
    );
  } catch (err) {
    const status = s3StatusOf(err);
    if (status === 304 || s3ErrorName(err) === 'NotModified') return { kind: 'not-modified' };
    if (status === 404 || s3ErrorName(err) === 'NoSuchKey' || s3ErrorName(err) === 'NoSuchVersion') return { kind: 'missing' };
    throw err;
  }
  const src = sourceRefFromObject(ref.bucket, ref.key, out);
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  if (src.size > maxBytes) {
    // Drop the connection instead of reading a body we will not use.
    const body = out.Body as { destroy?: () => void } | undefined;
    body?.destroy?.();
    return { kind: 'too-large', src };
  }
  const bytes = await s3Call(op, async () => (out.Body ? await out.Body.transformToByteArray() : new Uint8Array(0)));
  return { kind: 'ok', src, bytes };
}

/**
 * Writes our tags (merged into the user's) and then the result object, unless a newer result
 * is already stored. Used by {@link labelObject} and by the batch worker after its own inference.
 * @returns the write decision and the tag keys written/dropped.
 */
export async function commitResult(
  s3: S3Client,
  doc: ResultDoc,
  opts: { resultsBucket: string; resultKey: string; tags: boolean; maxLabels?: number; maxParents?: number; observer?: LabelObserver; force?: boolean },
): Promise<{ decision: 'write' | 'same' | 'stale'; tagsWritten: string[]; tagsDropped: string[] }> {
  const existing = await readResult(s3, opts.resultsBucket, opts.resultKey);
  const decided = decideWrite(existing?.doc ?? null, doc);
  const pre = opts.force && decided === 'same' ? 'write' : decided;
  if (pre !== 'write') return { decision: pre, tagsWritten: [], tagsDropped: [] };
  let tagsWritten: string[] = [];
  let tagsDropped: string[] = [];
  if (opts.tags) {
    const t0 = performance.now();
    const target = { Bucket: doc.bucket, Key: doc.key, ...(doc.versionId ? { VersionId: doc.versionId } : {}) };
    const current = await s3Call(`GetObjectTagging s3://${doc.bucket}/${doc.key}`, () => s3.send(new GetObjectTaggingCommand(target)));
    const content: OwnTagContent = doc.error ? { error: doc.error } : { labels: doc.labels ?? [], parents: doc.parents ?? [] };
    const merged = buildTagSet(content, doc.model, current.TagSet ?? [], {
      ...(opts.maxLabels !== undefined ? { maxLabels: opts.maxLabels } : {}),
      ...(opts.maxParents !== undefined ? { maxParents: opts.maxParents } : {}),
    });
    await s3Call(`PutObjectTagging s3://${doc.bucket}/${doc.key}`, () =>
      s3.send(new PutObjectTaggingCommand({ ...target, Tagging: { TagSet: merged.tagSet } })),
    );
    tagsWritten = merged.tagSet.map((t) => t.Key!).filter((k) => k.startsWith('resnet:'));
    tagsDropped = merged.dropped;
    opts.observer?.stage?.('tags', performance.now() - t0);
    opts.observer?.tagsWritten?.(tagsWritten.length, tagsDropped);
  }
  const t1 = performance.now();
  const decision = await writeResult(s3, opts.resultsBucket, opts.resultKey, doc, { existing, ...(opts.force ? { force: true } : {}) });
  opts.observer?.stage?.('write', performance.now() - t1);
  return { decision, tagsWritten, tagsDropped };
}

/**
 * Labels one object end to end (see the module comment for the order of work).
 * @throws TransientStorageError for retryable storage failures; a retryable ResnetError; any
 *   unexpected error (a bug: let the platform retry and dead-letter it). Bad images never throw.
 */
export async function labelObject(deps: LabelDeps, ref: ObjectRef, opts: LabelOptions = {}): Promise<LabelOutcome> {
  const { s3, classifier, observer } = deps;
  const model = classifier.modelId;
  const resultsBucket = opts.resultsBucket ?? ref.bucket;
  const rk = resultKey(opts.resultsPrefix ?? DEFAULT_RESULTS_PREFIX, ref.bucket, ref.key, model);
  const base = { resultBucket: resultsBucket, resultKey: rk, tagsWritten: [] as string[], tagsDropped: [] as string[] };
  const tStart = performance.now();

  const existing = opts.force ? null : await readResult(s3, resultsBucket, rk);
  const prior = existing?.doc;
  if (prior && ref.etag && prior.model === model && prior.etag === normalizeEtag(ref.etag) && (ref.versionId ?? null) === prior.versionId) {
    return { ...base, status: 'skipped', reason: 'duplicate' };
  }

  const tDl = performance.now();
  const fetched = await fetchObject(s3, ref, {
    ...(opts.maxBytes !== undefined ? { maxBytes: opts.maxBytes } : {}),
    ...(prior && prior.model === model && !ref.versionId ? { ifNoneMatch: prior.etag } : {}),
  });
  const download = performance.now() - tDl;
  observer?.stage?.('download', download);
  if (fetched.kind === 'missing') return { ...base, status: 'skipped', reason: 'missing' };
  if (fetched.kind === 'not-modified') return { ...base, status: 'skipped', reason: 'duplicate' };
  const extra = { producer: opts.producer ?? 's3-tagger', ...(ref.sequencer ? { sequencer: ref.sequencer } : {}) };
  const pre = decideWrite(prior ?? null, { ...fetched.src, model, ...(ref.sequencer ? { sequencer: ref.sequencer } : {}) });
  if (pre !== 'write' && !opts.force) return { ...base, status: 'skipped', reason: pre === 'same' ? 'duplicate' : 'stale' };

  let doc: ResultDoc;
  if (fetched.kind === 'too-large') {
    const err = new ResnetError(
      'IMAGE_TOO_LARGE',
      `Object is ${fetched.src.size} bytes, over the ${opts.maxBytes ?? DEFAULT_MAX_BYTES}-byte limit for labelling; use the batch worker or raise MAX_OBJECT_BYTES.`,
    );
    observer?.imageError?.(err.code, err.message, ref);
    doc = buildErrorResult(fetched.src, model, err, { ...extra, timingsMs: { download }, labelledAt: new Date().toISOString() });
  } else {
    try {
      const res = await classifier.classify(fetched.bytes, { top: opts.top ?? 5, ...(opts.minConfidence !== undefined ? { labels: { minParentConfidence: opts.minConfidence } } : {}) });
      for (const [stage, ms] of Object.entries(res.timingsMs)) if (stage !== 'total') observer?.stage?.(stage, ms);
      const timingsMs: ResultTimings = { ...res.timingsMs, download, total: performance.now() - tStart };
      doc = buildResult(fetched.src, model, res, { ...extra, timingsMs, labelledAt: new Date().toISOString() });
    } catch (err) {
      if (!(err instanceof ResnetError) || err.retryable) throw err;
      observer?.imageError?.(err.code, err.message, ref);
      doc = buildErrorResult(fetched.src, model, err, { ...extra, timingsMs: { download }, labelledAt: new Date().toISOString() });
    }
  }

  const committed = await commitResult(s3, doc, {
    resultsBucket,
    resultKey: rk,
    tags: opts.tags ?? true,
    ...(opts.force ? { force: true } : {}),
    ...(opts.top !== undefined ? { maxLabels: opts.top } : {}),
    ...(opts.tagParents !== undefined ? { maxParents: opts.tagParents } : {}),
    ...(observer ? { observer } : {}),
  });
  if (committed.decision !== 'write') {
    return { ...base, status: 'skipped', reason: committed.decision === 'same' ? 'duplicate' : 'stale' };
  }
  return {
    ...base,
    status: doc.error ? 'failed' : 'labelled',
    result: doc,
    tagsWritten: committed.tagsWritten,
    tagsDropped: committed.tagsDropped,
  };
}
