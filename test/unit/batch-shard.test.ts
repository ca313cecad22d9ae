import { describe, expect, test } from '@jest/globals';

import { BoundedQueue } from '../../batch/threads/queue.js';
import { inShard, keyHash, parseShard, resolveShard, shardFromEnv, shardOf } from '../../batch/sources/shard.js';
import { inventoryFilesOf, inventoryShardedByFile, normalizeEtag, parseInput, readInventory, splitCsvLine } from '../../batch/sources/sources.js';
import { ResnetError } from '../../core/errors.js';

const keys = Array.from({ length: 2000 }, (_, i) => `photos/${i % 7}/img-${i}.jpg`);

describe('sharding', () => {
  test('hash is stable (pinned values)', () => {
    // SHA-256 prefixes; a change here would reshuffle every running array job.
    expect(keyHash('a.jpg')).toBe(keyHash('a.jpg'));
    expect(keyHash('')).toBe(0xe3b0c442);
    expect(shardOf('', 4)).toBe(0xe3b0c442 % 4);
  });

  test.each([2, 3, 4, 10])('%i shards are disjoint, cover every key once, and are balanced', (n) => {
    const owners = keys.map((k) => Array.from({ length: n }, (_, i) => i).filter((i) => inShard(k, { index: i, count: n })));
    expect(owners.every((o) => o.length === 1)).toBe(true);
    const sizes = Array.from({ length: n }, (_, i) => owners.filter((o) => o[0] === i).length);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(keys.length);
    for (const s of sizes) expect(Math.abs(s - keys.length / n)).toBeLessThan((keys.length / n) * 0.2);
  });

  test('a shard does not depend on the order keys arrive in', () => {
    const fwd = keys.filter((k) => inShard(k, { index: 1, count: 4 }));
    const rev = [...keys].reverse().filter((k) => inShard(k, { index: 1, count: 4 }));
    expect(rev.reverse()).toEqual(fwd);
  });

  test.each([
    ['0/4', { index: 0, count: 4 }],
    [' 3 / 4 ', { index: 3, count: 4 }],
    ['0/1', { index: 0, count: 1 }],
  ])('parseShard(%p)', (text, want) => {
    expect(parseShard(text)).toEqual(want);
  });

  test.each([['4/4'], ['1'], ['-1/4'], ['a/b'], ['0/0']])('parseShard rejects %p', (text) => {
    expect(() => parseShard(text)).toThrow(ResnetError);
  });

  test('AWS Batch array environment', () => {
    expect(shardFromEnv({})).toBeNull();
    expect(shardFromEnv({ AWS_BATCH_JOB_ARRAY_INDEX: '2', AWS_BATCH_JOB_ARRAY_SIZE: '8' })).toEqual({ index: 2, count: 8 });
    expect(() => shardFromEnv({ AWS_BATCH_JOB_ARRAY_INDEX: '2' })).toThrow(/AWS_BATCH_JOB_ARRAY_SIZE/);
    expect(() => shardFromEnv({ AWS_BATCH_JOB_ARRAY_INDEX: '8', AWS_BATCH_JOB_ARRAY_SIZE: '8' })).toThrow(ResnetError);
    // the flag wins over the environment
    expect(resolveShard('1/2', { AWS_BATCH_JOB_ARRAY_INDEX: '2', AWS_BATCH_JOB_ARRAY_SIZE: '8' })).toEqual({ index: 1, count: 2 });
    expect(resolveShard(undefined, {})).toEqual({ index: 0, count: 1 });
  });
});

describe('inputs', () => {
  test.each([
    ['s3://b/photos/', { kind: 's3-prefix', bucket: 'b', prefix: 'photos/' }],
    ['s3://b', { kind: 's3-prefix', bucket: 'b', prefix: '' }],
    ['s3://b/lists/keys.jsonl', { kind: 'manifest', location: 's3://b/lists/keys.jsonl', format: 'jsonl' }],
    ['keys.csv.gz', { kind: 'manifest', location: 'keys.csv.gz', format: 'csv' }],
    ['s3://inv/b/cfg/2026-11-01T00-00Z/manifest.json', { kind: 'inventory', location: 's3://inv/b/cfg/2026-11-01T00-00Z/manifest.json' }],
  ])('parseInput(%p)', (input, want) => {
    expect(parseInput(input)).toEqual(want);
  });

  test('CSV lines with quotes and commas', () => {
    expect(splitCsvLine('b,"a, ""quoted"" key.jpg",v1')).toEqual(['b', 'a, "quoted" key.jpg', 'v1']);
    expect(splitCsvLine('plain')).toEqual(['plain']);
  });

  test('ETags lose their quotes', () => {
    expect(normalizeEtag('"abc"')).toBe('abc');
    expect(normalizeEtag('W/"abc"')).toBe('abc');
  });
});

describe('BoundedQueue', () => {
  test('push waits while full and resumes when an item is taken', async () => {
    const q = new BoundedQueue<number>(2);
    await q.push(1);
    await q.push(2);
    let third = false;
    const p = q.push(3).then(() => (third = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(third).toBe(false);
    expect(await q.take()).toBe(1);
    await p;
    expect(third).toBe(true);
    q.close();
    const rest: number[] = [];
    for await (const v of q) rest.push(v);
    expect(rest).toEqual([2, 3]);
  });

  test('takeWithin times out, then sees the end after close', async () => {
    const q = new BoundedQueue<number>(1);
    expect(await q.takeWithin(10)).toBe('timeout');
    q.close();
    expect(await q.takeWithin(10)).toBeUndefined();
    await expect(q.push(1)).rejects.toThrow(/closed/);
  });
});

describe('an S3 Inventory report split among array children', () => {
  /** A local copy of a report: manifest.json and `files` CSV files of `per` keys each. */
  async function report(files: number, per: number): Promise<{ manifest: string; keys: string[] }> {
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const os = await import('node:os');
    const path = await import('node:path');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'inventory-'));
    const keys: string[] = [];
    const entries = [];
    for (let f = 0; f < files; f++) {
      const rows = Array.from({ length: per }, (_, i) => `uploads/f${f}/${i} é.jpg`);
      keys.push(...rows);
      await writeFile(path.join(dir, `data-${f}.csv`), rows.map((k) => `"b","${encodeURIComponent(k)}"`).join('\n'));
      entries.push({ key: `cfg/data/data-${f}.csv` });
    }
    const manifest = path.join(dir, 'manifest.json');
    await writeFile(manifest, JSON.stringify({ fileFormat: 'CSV', fileSchema: 'Bucket, Key', files: entries }));
    return { manifest, keys };
  }

  async function childKeys(manifest: string, shard: { index: number; count: number }): Promise<string[]> {
    const out: string[] = [];
    for await (const o of readInventory(manifest, { shard })) if (o.sharded || inShard(o.key, shard)) out.push(o.key);
    return out;
  }

  test.each([
    [6, 3, true],
    [4, 4, true],
    [3, 8, false],
  ])('%i files among %i children: disjoint, complete, split by file = %s', async (files, children, byFile) => {
    const { manifest, keys } = await report(files, 25);
    expect(inventoryShardedByFile(files, { index: 0, count: children })).toBe(byFile);
    const shares = [];
    for (let i = 0; i < children; i++) shares.push(await childKeys(manifest, { index: i, count: children }));
    expect(shares.flat().sort()).toEqual([...keys].sort());
    if (byFile) expect(inventoryFilesOf(Array.from({ length: files }, (_, j) => j), { index: 1, count: children })).toEqual(Array.from({ length: files }, (_, j) => j).filter((j) => j % children === 1));
  });
});
