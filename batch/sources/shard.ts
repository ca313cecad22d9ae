/**
 * Deterministic sharding of a backlog across AWS Batch array children: each key belongs to
 * exactly one shard, chosen by a stable hash of the key (not of its position in a listing),
 * so shards agree with each other whatever order or source the keys come from.
 */
import { createHash } from 'node:crypto';

import { InvalidArgumentError } from '../../core/errors.js';

/** One shard of `count`: index in [0, count). */
export interface Shard {
  readonly index: number;
  readonly count: number;
}

/** The whole backlog as one shard. */
export const WHOLE: Shard = { index: 0, count: 1 };

/** Stable 32-bit hash of a key: the first 4 bytes of SHA-256 over its UTF-8 bytes. */
export function keyHash(key: string): number {
  return createHash('sha256').update(key, 'utf8').digest().readUInt32BE(0);
}

/** Index of the shard (of `count`) that owns `key`. */
export function shardOf(key: string, count: number): number {
  return count <= 1 ? 0 : keyHash(key) % count;
}

/** Whether `key` belongs to `shard`. */
export function inShard(key: string, shard: Shard): boolean {
  return shard.count <= 1 || shardOf(key, shard.count) === shard.index;
}

function checked(index: number, count: number, from: string): Shard {
  if (!Number.isInteger(count) || count < 1) throw new InvalidArgumentError(`${from}: shard count must be a whole number >= 1, got ${count}.`);
  if (!Number.isInteger(index) || index < 0 || index >= count) {
    throw new InvalidArgumentError(`${from}: shard index must be in 0..${count - 1}, got ${index}.`);
  }
  return { index, count };
}

/**
 * Parses `--shard i/n` (0-based index `i` of `n` shards), e.g. `2/4`.
 * @throws InvalidArgumentError for anything else
 */
export function parseShard(text: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!m) throw new InvalidArgumentError(`--shard expects "i/n" (0-based index i of n shards, e.g. 0/4), got "${text}".`);
  return checked(Number(m[1]), Number(m[2]), '--shard');
}

/**
 * The shard an AWS Batch array child owns, from `AWS_BATCH_JOB_ARRAY_INDEX` and
 * `AWS_BATCH_JOB_ARRAY_SIZE`, both of which AWS Batch sets in every array child
 * (https://docs.aws.amazon.com/batch/latest/userguide/job_env_vars.html). `null` when the index is absent (not an array job).
 * @throws InvalidArgumentError when the index is set but the size is missing or inconsistent
 */
export function shardFromEnv(env: NodeJS.ProcessEnv = process.env): Shard | null {
  const idx = env.AWS_BATCH_JOB_ARRAY_INDEX;
  if (idx === undefined || idx === '') return null;
  const size = env.AWS_BATCH_JOB_ARRAY_SIZE;
  if (size === undefined || size === '') {
    throw new InvalidArgumentError(
      'AWS_BATCH_JOB_ARRAY_INDEX is set but AWS_BATCH_JOB_ARRAY_SIZE is not (AWS Batch sets both in an array child); pass --shard i/n instead.',
    );
  }
  return checked(Number(idx), Number(size), 'AWS_BATCH_JOB_ARRAY_INDEX/SIZE');
}

/** `--shard` wins over the environment; neither means the whole backlog. */
export function resolveShard(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): Shard {
  if (flag !== undefined) return parseShard(flag);
  return shardFromEnv(env) ?? WHOLE;
}
