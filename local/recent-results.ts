/**
 * The local stack's recent results: the result objects of one model for the input bucket, newest
 * first, a page at a time, optionally only those with a label (or error code) matching a text.
 */
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';

import { imagenetHierarchy, type LabelHierarchy } from '../core/hierarchy/hierarchy.js';
import type { ResultDoc } from '../labelling/results.js';

/** One listed result object. */
export interface ResultEntry {
  key: string;
  lastModified: number;
}

/** Which page to read. */
export interface RecentQuery {
  /** Results per page. */
  limit: number;
  /** Index in the newest-first listing where the page starts (the previous page's `next`). */
  offset: number;
  /** Keep only results with a label name or id containing this (case-insensitive), or this error code. */
  label?: string;
}

/** A page of results. */
export interface RecentPage {
  results: ResultDoc[];
  offset: number;
  /** Offset of the next (older) page; null on the last page. */
  next: number | null;
  /** Result objects listed (before the label filter). */
  listed: number;
}

/**
 * Whether a result matches a search (case-insensitive): a label whose name contains `text` or
 * whose id is `text`; a stored parent, or a WordNet ancestor of the best label, named `text` (name,
 * alias or id), so "dog" finds every breed; or, for a failed image, the error code `text`.
 */
export function matchesLabel(doc: ResultDoc, text: string, hierarchy: LabelHierarchy = imagenetHierarchy()): boolean {
  const q = text.trim().toLowerCase();
  if (q === '') return true;
  if (doc.error) return doc.error.code.toLowerCase() === q;
  if ((doc.labels ?? []).some((l) => l.name.toLowerCase().includes(q) || l.id.toLowerCase() === q)) return true;
  const named = (id: string, names: readonly string[]): boolean => id.toLowerCase() === q || names.some((n) => n.toLowerCase() === q);
  if ((doc.parents ?? []).some((p) => named(p.id, [p.name]))) return true;
  const best = doc.labels?.find((l) => l.rank === 1);
  return best !== undefined && hierarchy.ancestors(best.id).some((a) => named(a.id, [a.name, ...a.aliases]));
}

/** Every result object under `prefix`, newest first (then by key, so pages are stable). */
export async function listResults(s3: S3Client, bucket: string, prefix: string): Promise<ResultEntry[]> {
  const entries: ResultEntry[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }));
    for (const o of page.Contents ?? []) if (o.Key?.endsWith('.json')) entries.push({ key: o.Key, lastModified: o.LastModified?.getTime() ?? 0 });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return entries.sort((a, b) => b.lastModified - a.lastModified || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * Reads one page: documents from `offset` on, `limit` at a time in parallel, skipping those the
 * label filter drops, until the page is full or the listing ends.
 */
export async function readPage(entries: readonly ResultEntry[], read: (key: string) => Promise<ResultDoc | null>, q: RecentQuery): Promise<RecentPage> {
  const results: ResultDoc[] = [];
  let at = Math.max(0, q.offset);
  while (at < entries.length && results.length < q.limit) {
    const batch = entries.slice(at, at + q.limit - results.length);
    const docs = await Promise.all(batch.map((e) => read(e.key)));
    at += batch.length;
    for (const d of docs) if (d && (q.label === undefined || matchesLabel(d, q.label))) results.push(d);
  }
  return { results, offset: q.offset, next: at < entries.length ? at : null, listed: entries.length };
}
