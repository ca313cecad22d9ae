/**
 * S3 object tags written by the labellers (s3-tagger, sqs-worker, batch worker).
 *
 * Tag schema (all our keys start with {@link TAG_PREFIX}):
 * - `resnet:label1` … `resnet:labelN` — class names of the top-N labels, best first, sanitised
 *   to S3's tag charset (see {@link sanitizeTagValue}), e.g. `tabby / tabby cat`.
 * - `resnet:parent1` … `resnet:parentM` — confident WordNet ancestors (over MIN_CONFIDENCE, 50 %
 *   by default), the names people search by: parent1 is the most specific (`dog`), parent2 the
 *   most general (`animal`), then the others from specific to general (see {@link parentTagOrder}).
 * - `resnet:model` — model id that produced them, e.g. `resnet50-v2`.
 * - `resnet:error` — instead of labels, the error code of an image that could not be
 *   classified (`CORRUPT_IMAGE`, `UNSUPPORTED_FORMAT`, `IMAGE_TOO_LARGE`, `EMPTY_INPUT`, ...).
 *
 * S3 allows 10 tags per object. The user's own tags (any key without our prefix) are always
 * kept unchanged; ours fill the remaining slots in priority order label1, parent1, model,
 * parent2 … parentM, label2 … labelN (error, model for a failed image), and the rest are dropped
 * (reported as `dropped`). Earlier tags of ours are replaced, so a re-label with another model
 * leaves no stale labels behind.
 */
import type { Tag } from '@aws-sdk/client-s3';

import { InvalidArgumentError } from '../core/errors.js';
import { DEFAULT_PARENT_CONFIDENCE } from '../core/hierarchy/hierarchy.js';
import { parseLabelOptions } from '../core/hierarchy/options.js';
import type { Label, ParentLabel } from '../core/types.js';

/** Prefix of every tag key we own. */
export const TAG_PREFIX = 'resnet:';
/** S3's limit of tags per object. */
export const MAX_TAGS = 10;
/** S3's limit on a tag key, in Unicode characters. */
export const MAX_TAG_KEY = 128;
/** S3's limit on a tag value, in Unicode characters. */
export const MAX_TAG_VALUE = 256;

/** Tag key of the n-th label (1-based). */
export function labelTagKey(rank: number): string {
  return `${TAG_PREFIX}label${rank}`;
}
/** Tag key of the n-th parent (1-based). */
export function parentTagKey(n: number): string {
  return `${TAG_PREFIX}parent${n}`;
}
/** Tag key of the model id. */
export const MODEL_TAG_KEY = `${TAG_PREFIX}model`;
/** Tag key of the error code for an image that could not be labelled. */
export const ERROR_TAG_KEY = `${TAG_PREFIX}error`;

/** Characters S3 rejects in tag keys and values (anything but letters, digits, space and `+ - = . _ : / @`). */
const DISALLOWED = /[^\p{L}\p{N} +\-=._:/@]/gu;

/**
 * Makes any string a valid S3 tag value (or key): NFC-normalised; apostrophes removed
 * (`carpenter's kit` → `carpenters kit`); a comma-separated synonym list becomes ` / `-separated
 * (`tabby, tabby cat` → `tabby / tabby cat`); every other disallowed character (parentheses,
 * quotes, `&`, control characters) becomes a space; runs of spaces collapse; the result is
 * trimmed and cut to `max` Unicode characters.
 * @param max - length limit in Unicode code points. @default 256 (S3's value limit)
 */
export function sanitizeTagValue(s: string, max: number = MAX_TAG_VALUE): string {
  const cleaned = s
    .normalize('NFC')
    .replace(/['\u2019`]/g, '')
    .replace(/\s*,\s*/g, ' / ')
    .replace(DISALLOWED, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  const chars = Array.from(cleaned);
  return chars.length <= max ? cleaned : chars.slice(0, max).join('').trimEnd();
}

/** Whether a tag key is one of ours. */
export function isOwnTag(key: string): boolean {
  return key.startsWith(TAG_PREFIX);
}

/** What we want to say about one object, before merging with the user's tags. */
export type OwnTagContent =
  | { labels: readonly Pick<Label, 'rank' | 'name'>[]; parents?: readonly Pick<ParentLabel, 'rank' | 'name'>[]; error?: undefined }
  | { labels?: undefined; parents?: undefined; error: { code: string } };

/** Options of {@link buildTagSet}. */
export interface TagSetOptions {
  /** Largest number of label tags to write. @default 5 */
  maxLabels?: number;
  /** Largest number of parent tags to write (env TAG_PARENTS, context tagParents). @default 2 */
  maxParents?: number;
}

/** Parent tags written when no `maxParents` is given. */
export const DEFAULT_TAG_PARENTS = 2;

/**
 * The parents to tag, in tag order. Over 50 % they form one line of ancestry (two disjoint sets
 * of classes cannot both hold more than half), so rank order runs from general to specific:
 * the most specific comes first (`dog`: what the photo shows), the most general second
 * (`animal`: the broadest search), then the rest from specific to general.
 * @param parents best first, as results hold them.
 */
export function parentTagOrder<T extends Pick<ParentLabel, 'rank'>>(parents: readonly T[], max: number): T[] {
  const byRank = [...parents].sort((a, b) => a.rank - b.rank);
  if (byRank.length <= 1) return byRank.slice(0, max);
  const specific = byRank[byRank.length - 1]!;
  const general = byRank[0]!;
  return [specific, general, ...byRank.slice(1, -1).reverse()].slice(0, max);
}

/** A merged tag set and what did not fit. */
export interface TagSetResult {
  /** The complete set to send with PutObjectTagging (user tags first, in their order). */
  tagSet: Tag[];
  /** Keys of our tags that did not fit in S3's 10-tag limit. */
  dropped: string[];
}

/**
 * Our tags in priority order (most important first).
 */
export function ownTags(content: OwnTagContent, modelId: string, opts: TagSetOptions = {}): Tag[] {
  const model: Tag = { Key: MODEL_TAG_KEY, Value: sanitizeTagValue(modelId) };
  if (content.error !== undefined) {
    return [{ Key: ERROR_TAG_KEY, Value: sanitizeTagValue(content.error.code) }, model];
  }
  const maxLabels = opts.maxLabels ?? 5;
  const labels = [...content.labels].sort((a, b) => a.rank - b.rank).slice(0, maxLabels);
  const labelTags = labels.map((l, i): Tag => ({ Key: labelTagKey(i + 1), Value: sanitizeTagValue(l.name) }));
  const parents = parentTagOrder(content.parents ?? [], opts.maxParents ?? DEFAULT_TAG_PARENTS);
  const parentTags = parents.map((p, i): Tag => ({ Key: parentTagKey(i + 1), Value: sanitizeTagValue(p.name) }));
  // label1 and parent1 are what people search for ("border collie", "dog"); the model id comes
  // next so a tag reader knows who said it; then the broader parents, and lower-ranked labels
  // are the first to go when the user's tags leave little room.
  const lead = [...labelTags.slice(0, 1), ...parentTags.slice(0, 1)];
  return [...lead, model, ...parentTags.slice(1), ...labelTags.slice(1)];
}

/**
 * Merges our tags into the object's existing tag set (PutObjectTagging replaces the whole set,
 * so the caller reads, merges, writes). User tags are kept verbatim and never dropped; earlier
 * tags of ours are replaced; ours are trimmed to the slots left under S3's 10-tag limit.
 * @param existingTags - the object's current tags (GetObjectTagging's TagSet).
 */
export function buildTagSet(
  content: OwnTagContent,
  modelId: string,
  existingTags: readonly Tag[],
  opts: TagSetOptions = {},
): TagSetResult {
  const userTags = existingTags.filter((t) => t.Key !== undefined && !isOwnTag(t.Key));
  const ours = ownTags(content, modelId, opts);
  const room = Math.max(0, MAX_TAGS - userTags.length);
  const kept = ours.slice(0, room);
  const dropped = ours.slice(room).map((t) => t.Key!);
  return { tagSet: [...userTags.map((t) => ({ Key: t.Key, Value: t.Value ?? '' })), ...kept], dropped };
}

/** How the labellers treat parents, from the environment. */
export interface ParentSettings {
  /** Parent tags written, 0–9 (`TAG_PARENTS`). @default {@link DEFAULT_TAG_PARENTS} */
  tagParents: number;
  /** Confidence (0–100) a parent needs to be stored and tagged (`MIN_CONFIDENCE`). @default 50 */
  minConfidence: number;
}

/**
 * Reads `TAG_PARENTS` and `MIN_CONFIDENCE` (set by the CDK context keys `tagParents` and
 * `minConfidence`), for the Lambda functions and the batch worker alike.
 * @throws InvalidArgumentError naming the variable
 */
export function parentSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): ParentSettings {
  const tp = env.TAG_PARENTS;
  if (tp !== undefined && tp !== '' && !/^\d$/.test(tp)) throw new InvalidArgumentError(`TAG_PARENTS must be a whole number from 0 to ${MAX_TAGS - 1}, got "${tp}".`);
  const mc = env.MIN_CONFIDENCE;
  let minConfidence = DEFAULT_PARENT_CONFIDENCE;
  if (mc !== undefined && mc !== '') {
    try {
      minConfidence = parseLabelOptions({ minConfidence: mc }).minConfidence!;
    } catch {
      throw new InvalidArgumentError(`MIN_CONFIDENCE must be a number from 0 to 100, got "${mc}".`);
    }
  }
  return { tagParents: tp === undefined || tp === '' ? DEFAULT_TAG_PARENTS : Number(tp), minConfidence };
}
