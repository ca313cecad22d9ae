/**
 * The sweep's comparison of source and result listings (labelling/key-order.ts,
 * labelling/find-unlabelled.ts, labelling/sweep.ts) over an in-memory S3 that lists in true UTF-8
 * order: keys with `.`, `-`, `/`, spaces and unicode (astral and high-BMP characters, whose UTF-16
 * and UTF-8 orders differ), keys that are prefixes of others, budgets down to one key.
 */
import { describe, expect, test } from '@jest/globals';

import { findUnlabelled } from '../../labelling/find-unlabelled.js';
import { compareKeys, mayBeOvertaken, ResultOrder } from '../../labelling/key-order.js';
import { resultKey } from '../../labelling/results.js';
import { sweep } from '../../labelling/sweep.js';
import { loadSweepState, saveSweepState, sweepStateKey, SweepConflictError } from '../../labelling/sweep-state.js';
import { MemoryS3 } from '../helpers/memory-s3.js';
import { rng } from '../helpers/rng.js';

const BUCKET = 'photos';
const RP = 'resnet-results/';
const MODEL = 'm1';
const utf8 = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

/** Characters that exercise every ordering trap around the `.json` suffix. */
const ALPHABET = ['a', 'b', 'z', '.', '-', '/', ' ', '_', '+', ',', '!', '~', 'é', 'ü', '\uff01', '\ue000', '😀', '𝄞', 'j', 's', 'o', 'n', '0', '9'];

function randomKeys(seed: number, n: number, maxLen = 6): string[] {
  const r = rng(seed);
  const keys = new Set<string>();
  // Prefix chains on purpose: a key, then some of its extensions.
  while (keys.size < n) {
    let k = 'up/';
    const len = 1 + Math.floor(r() * maxLen);
    for (let i = 0; i < len; i++) {
      k += ALPHABET[Math.floor(r() * ALPHABET.length)];
      // A key ending in "/" is a folder marker, which the sweep skips by design.
      if (r() < 0.3 && !k.endsWith('/')) keys.add(k);
    }
    keys.add(k.endsWith('/') ? `${k}x` : k);
  }
  return [...keys].slice(0, n);
}

describe('compareKeys', () => {
  test('agrees with UTF-8 byte order, where JavaScript string order does not', () => {
    const keys = randomKeys(1, 400);
    const byUtf8 = [...keys].sort(utf8);
    expect([...keys].sort(compareKeys)).toEqual(byUtf8);
    // The trap it exists for: U+1F600 is above U+FF01 in UTF-8, below it in UTF-16.
    expect('😀' < '\uff01').toBe(true);
    expect(compareKeys('😀', '\uff01')).toBeGreaterThan(0);
  });
});

describe('ResultOrder', () => {
  test.each([2, 3, 4, 5])('turns listing order into result-key order (seed %i), holding back only prefixes of the current key', (seed) => {
    const keys = randomKeys(seed, 600).sort(utf8);
    const order = new ResultOrder();
    const out: string[] = [];
    let maxHeld = 0;
    for (const k of keys) {
      out.push(...order.push(k));
      maxHeld = Math.max(maxHeld, order.size);
    }
    out.push(...order.drain());
    expect(out).toEqual([...keys].sort((a, b) => utf8(`${a}.json`, `${b}.json`)));
    // Held keys are the current key and keys that are its prefixes: at most its length.
    expect(maxHeld).toBeLessThanOrEqual(1 + Math.max(...keys.map((k) => k.length)));
  });

  test.each([
    ['a', 'a-b', true],
    ['a', 'a.b', true],
    ['a', 'a.json', false],
    ['a', 'a.js', true],
    ['a', 'a/b', false],
    ['a', 'a b', true],
    ['a', 'b', false],
    ['a', 'a', true],
  ])('%j may be overtaken once the listing is at %j: %s', (held, current, expected) => {
    expect(mayBeOvertaken(held, current)).toBe(expected);
  });
});

function bucketWith(keys: readonly string[], labelled: (k: string, i: number) => boolean): { s3: MemoryS3; missing: string[] } {
  const s3 = new MemoryS3();
  const missing: string[] = [];
  keys.forEach((k, i) => {
    s3.put(BUCKET, k);
    if (labelled(k, i)) s3.put(BUCKET, resultKey(RP, BUCKET, k, MODEL), '{}');
    else missing.push(k);
  });
  return { s3, missing: missing.sort(utf8) };
}

describe('findUnlabelled', () => {
  test.each([1, 2, 3])('finds exactly the objects without a result (seed %i), each once', async (seed) => {
    const keys = randomKeys(seed * 10, 500);
    const r = rng(seed);
    const { s3, missing } = bucketWith(keys, () => r() < 0.7);
    // A result of another model and an orphaned result must not count.
    s3.put(BUCKET, resultKey(RP, BUCKET, missing[0]!, 'other-model'), '{}');
    s3.put(BUCKET, resultKey(RP, BUCKET, 'up/deleted.jpg', MODEL), '{}');
    const found: string[] = [];
    const res = await findUnlabelled(s3.client, { bucket: BUCKET, prefix: 'up/', model: MODEL, resultsPrefix: RP, maxList: 1e9, pageSize: 7 }, (k) => {
      found.push(k);
    });
    expect(found.sort(utf8)).toEqual(missing);
    expect(res).toMatchObject({ complete: true, missing: missing.length, labelled: keys.length - missing.length, checked: keys.length });
    // Range by range: the listings are read once each, plus no HeadObject when the scan completes.
    expect(res.requests.head).toBe(0);
    expect(res.requests.list).toBeLessThanOrEqual(Math.ceil(keys.length / 7) + Math.ceil((keys.length - missing.length + 2) / 7) + 2);
  });

  test('keys whose result key is too long for S3 are checked by their hashed result', async () => {
    const long = `up/${'x'.repeat(1000)}`;
    const longer = `up/${'y'.repeat(1010)}`;
    const { s3 } = bucketWith([long, longer, 'up/a.jpg'], (k) => k !== longer);
    expect(resultKey(RP, BUCKET, long, MODEL)).toContain('/_long/');
    const found: string[] = [];
    const res = await findUnlabelled(s3.client, { bucket: BUCKET, prefix: 'up/', model: MODEL, resultsPrefix: RP, maxList: 100 }, (k) => {
      found.push(k);
    });
    expect(found).toEqual([longer]);
    expect(res.requests.head).toBe(2);
  });

  test('skips folder markers and our own outputs under the same prefix', async () => {
    const { s3 } = bucketWith(['x/', 'x/a.jpg'], () => false);
    s3.put(BUCKET, `${RP}x.json`, '{}');
    const found: string[] = [];
    await findUnlabelled(s3.client, { bucket: BUCKET, model: MODEL, resultsPrefix: RP, maxList: 100 }, (k) => {
      found.push(k);
    });
    expect(found).toEqual(['x/a.jpg']);
  });
});

describe('sweep (budgeted, resumable)', () => {
  test.each([
    [1, 1],
    [3, 2],
    [10, 4],
    [64, 1000],
  ])('with a budget of %i keys (pages of %i) successive sweeps find every unlabelled object within ceil(n/budget)+1 sweeps, and never a labelled one', async (budget, pageSize) => {
    const keys = randomKeys(budget + 100, 120);
    const r = rng(budget);
    const { s3, missing } = bucketWith(keys, () => r() < 0.5);
    const found: string[] = [];
    const sweeps = Math.ceil(keys.length / budget) + 1;
    let passComplete = false;
    for (let i = 0; i < sweeps && !passComplete; i++) {
      const rep = await sweep(s3.client, { bucket: BUCKET, prefix: 'up/', model: MODEL, resultsPrefix: RP, maxList: budget, pageSize }, (k) => {
        found.push(k);
      });
      passComplete = rep.passComplete;
    }
    expect(passComplete).toBe(true);
    expect([...found].sort(utf8)).toEqual(missing);
    // HeadObject only for the keys held back at each budget's end: at most a few per sweep.
    expect(s3.calls.HeadObjectCommand ?? 0).toBeLessThanOrEqual(sweeps * 8);
  });

  test('the blind spot of a sweep that always starts over: the first 10 keys labelled, a budget of 10', async () => {
    const keys = Array.from({ length: 20 }, (_, i) => `uploads/img-${String(i).padStart(2, '0')}.jpg`);
    const { s3, missing } = bucketWith(keys, (_, i) => i < 10);
    const found: string[] = [];
    const reports = [];
    for (let i = 0; i < 3; i++) {
      reports.push(await sweep(s3.client, { bucket: BUCKET, prefix: 'uploads/', model: MODEL, resultsPrefix: RP, maxList: 10 }, (k) => {
        found.push(k);
      }));
    }
    expect(reports.map((r) => [r.listed, r.backlog, r.truncated])).toEqual([[10, 0, true], [10, 10, false], [10, 0, true]]);
    expect(found).toEqual(missing);
    expect(reports[1]).toMatchObject({ passComplete: true, passes: 1, passBacklog: 10, from: keys[9], cursor: undefined });
  });

  test('the cursor is saved only after `finish` succeeded: a failed dispatch is redone by the next sweep', async () => {
    const keys = ['u/a', 'u/b', 'u/c'];
    const { s3 } = bucketWith(keys, () => false);
    const o = { bucket: BUCKET, prefix: 'u/', model: MODEL, resultsPrefix: RP, maxList: 2 };
    await expect(sweep(s3.client, o, () => undefined, async () => {
      throw new Error('queue down');
    })).rejects.toThrow('queue down');
    const found: string[] = [];
    await sweep(s3.client, o, (k) => {
      found.push(k);
    });
    expect(found).toEqual(['u/a', 'u/b']);
  });

  test('two sweeps that overlap cannot both move the cursor', async () => {
    const s3 = new MemoryS3();
    const key = sweepStateKey(RP, MODEL, BUCKET, 'u/');
    const a = await loadSweepState(s3.client, BUCKET, key);
    const b = await loadSweepState(s3.client, BUCKET, key);
    await saveSweepState(s3.client, BUCKET, key, { ...a, state: { ...a.state, cursor: 'u/x' } });
    await expect(saveSweepState(s3.client, BUCKET, key, { ...b, state: { ...b.state, cursor: 'u/y' } })).rejects.toBeInstanceOf(SweepConflictError);
    const again = await loadSweepState(s3.client, BUCKET, key);
    expect(again.state.cursor).toBe('u/x');
    await saveSweepState(s3.client, BUCKET, key, { ...again, state: { ...again.state, cursor: 'u/z' } });
    expect((await loadSweepState(s3.client, BUCKET, key)).state.cursor).toBe('u/z');
  });

  test('persist: false neither reads nor writes the cursor', async () => {
    const { s3 } = bucketWith(['u/a', 'u/b'], () => false);
    const rep = await sweep(s3.client, { bucket: BUCKET, prefix: 'u/', model: MODEL, resultsPrefix: RP, maxList: 1, persist: false }, () => undefined);
    expect(rep.requests.state).toBe(0);
    expect(s3.keys(BUCKET, `${RP}_sweep/`)).toEqual([]);
  });
});
