/**
 * `resnet batch --results shard`: 4 array children over a sweeper's backlog write gzip JSONL parts
 * instead of per-object results and tags. Every object is in exactly one line across the parts,
 * with the same labels as its per-object result; bad images carry their error code; a rerun does
 * no work, and a lost part is redone alone. The S3 requests of both modes are counted per 1,000
 * images (the figures docs/scale.md gives).
 */
import { gunzipSync } from 'node:zlib';
import { rm } from 'node:fs/promises';

import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';

import { bulkRunPrefix, defaultRunId } from '../../batch/bulk/bulk-results.js';
import { runBatch } from '../../batch/run-batch.js';
import type { BatchClassifier, BatchOptions, BatchSummary } from '../../batch/types.js';
import { IMAGENET_PREPROCESS } from '../../core/types.js';
import { parseResult, type ResultDoc } from '../../labelling/results.js';
import { sweepBacklog } from '../../labelling/sweep.js';
import { countingClient, putTinyJpegs, startBatchFixture, type BatchFixture } from '../helpers/batch-fixture.js';

jest.setTimeout(300_000);

const BUCKET = 'photos';
const RP = 'resnet-results/';
const MODEL = 'r18-bulk';
const CHILDREN = 4;
const good = Array.from({ length: 40 }, (_, i) => `in/${String(i).padStart(2, '0')} été-${i % 3}.jpg`);
const bad = { 'in/bad text.jpg': 'UNSUPPORTED_FORMAT', 'in/bad-truncated.jpg': 'CORRUPT_IMAGE' } as const;
const keys = [...good, ...Object.keys(bad)];
let fx: BatchFixture;

beforeAll(async () => {
  fx = await startBatchFixture(BUCKET, MODEL);
  await putTinyJpegs(fx.s3.client, BUCKET, good);
  const bytes = await (await fx.s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: good[0] }))).Body!.transformToByteArray();
  await fx.s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'in/bad text.jpg', Body: 'not an image at all' }));
  await fx.s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'in/bad-truncated.jpg', Body: bytes.slice(0, Math.floor(bytes.length / 2)) }));
});
afterAll(async () => {
  await fx?.classifier.dispose();
  await fx?.s3.stop();
  if (fx) await rm(fx.tmp, { recursive: true, force: true });
});

/** Sweeps `prefix` into a backlog.json of {@link CHILDREN} parts and returns its URI. */
async function backlogOf(prefix: string, model: string, objects: number): Promise<string> {
  const submitted: string[] = [];
  await sweepBacklog(
    fx.s3.client,
    { bucket: BUCKET, prefix, model, resultsPrefix: RP, planner: { lambdaMaxObjects: 1 }, partObjects: Math.ceil(objects / CHILDREN), persist: false },
    { batch: { submit: async (req) => (submitted.push(req.input), { jobId: 'j' }) } },
  );
  expect(submitted).toHaveLength(1);
  return submitted[0]!;
}

/** Runs child `i` of {@link CHILDREN} with a counting client. */
async function child(i: number, opts: Partial<BatchOptions> & { input: string }): Promise<{ sum: BatchSummary; calls: Record<string, number> }> {
  const { client, calls } = countingClient(fx.s3);
  const sum = await runBatch({
    classifier: fx.classifier, ep: 'cpu', workers: 1, s3: client, progress: { tty: 'off' }, log: () => undefined,
    resultsPrefix: RP, shard: { index: i, count: CHILDREN }, ...opts,
  });
  return { sum, calls };
}

async function listKeys(prefix: string): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  do {
    const page = await fx.s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ContinuationToken: token }));
    out.push(...(page.Contents ?? []).map((c) => c.Key!));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/** Every line of every part under `runPrefix`, with the part it is in. */
async function partLines(runPrefix: string): Promise<Array<ResultDoc & { part: string }>> {
  const lines: Array<ResultDoc & { part: string }> = [];
  for (const key of await listKeys(runPrefix)) {
    if (!key.endsWith('.jsonl.gz')) continue;
    const body = await (await fx.s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToByteArray();
    for (const l of gunzipSync(body).toString('utf8').trim().split('\n')) lines.push({ ...(JSON.parse(l) as ResultDoc), part: key });
  }
  return lines;
}

describe('--results shard, 4 children', () => {
  let input: string;
  let runPrefix: string;

  beforeAll(async () => {
    input = await backlogOf('in/', MODEL, keys.length);
    runPrefix = bulkRunPrefix(RP, MODEL, defaultRunId(input, CHILDREN));
  });

  test('every object is in exactly one line across the parts, bad images with their code, and no per-object write is made', async () => {
    let listed = 0;
    for (let i = 0; i < CHILDREN; i++) {
      const { sum, calls } = await child(i, { input, results: 'shard', partObjects: 4 });
      listed += sum.listed;
      expect(sum).toMatchObject({ results: 'shard', skipped: 0, unfinished: 0, done: sum.listed - sum.failed, bulk: { partsWritten: Math.ceil(sum.listed / 4), partsFound: 0 } });
      // One LIST of the child's own parts; backlog.json, its part, the run's descriptor, then one GET per image.
      expect(calls).toEqual({
        ListObjectsV2Command: 1,
        GetObjectCommand: 3 + sum.listed,
        // A PUT per part of 4 objects, and the first child writes the run's descriptor.
        PutObjectCommand: Math.ceil(sum.listed / 4) + (i === 0 ? 1 : 0),
      });
    }
    expect(listed).toBe(keys.length);

    const lines = await partLines(runPrefix);
    expect(lines.map((l) => l.key).sort()).toEqual([...keys].sort());
    for (const l of lines) {
      expect(l.part).toMatch(new RegExp(`^${runPrefix}child-[0-3]-part-0000\\d\\.jsonl\\.gz$`));
      expect(l).toMatchObject({ bucket: BUCKET, model: MODEL, versionId: null });
      const head = await fx.s3.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: l.key }));
      expect(l.etag).toBe(head.ETag!.replace(/"/g, ''));
      const code = (bad as Record<string, string>)[l.key];
      if (code) {
        expect(l.error?.code).toBe(code);
        expect(l.labels).toBeUndefined();
      } else {
        expect(l.error).toBeUndefined();
        expect(l.labels).toHaveLength(5);
      }
    }
    // Nothing per object: no result objects, no tags.
    expect(await listKeys(`${RP}${MODEL}/`)).toEqual([]);
  });

  test('the lines hold the labels, scores and parents the per-object result holds', async () => {
    const lines = await partLines(runPrefix);
    const perObject = await runBatch({ input, classifier: fx.classifier, ep: 'cpu', workers: 1, s3: fx.s3.client, progress: { tty: 'off' }, log: () => undefined, resultsPrefix: RP, results: 'per-object' });
    expect(perObject).toMatchObject({ done: good.length, failed: Object.keys(bad).length, results: 'per-object' });
    for (const l of lines) {
      const rk = `${RP}${MODEL}/${BUCKET}/${l.key}.json`;
      const doc = parseResult(await (await fx.s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: rk }))).Body!.transformToString());
      expect({ labels: l.labels, parents: l.parents, error: l.error?.code, etag: l.etag, size: l.size, lastModified: l.lastModified })
        .toEqual({ labels: doc.labels, parents: doc.parents, error: doc.error?.code, etag: doc.etag, size: doc.size, lastModified: doc.lastModified });
    }
  });

  test('a rerun reads the finished parts and does no work', async () => {
    const parts = (await listKeys(runPrefix)).filter((k) => k.endsWith('.jsonl.gz'));
    for (let i = 0; i < CHILDREN; i++) {
      const own = parts.filter((k) => k.includes(`/child-${i}-part-`)).length;
      const { sum, calls } = await child(i, { input, results: 'shard', partObjects: 4 });
      expect(sum).toMatchObject({ done: 0, failed: 0, skipped: sum.listed, bulk: { partsWritten: 0, partsFound: own } });
      // backlog.json, its part, the run's descriptor and the child's parts: no image, no write.
      expect(calls).toEqual({ ListObjectsV2Command: 1, GetObjectCommand: 3 + own });
    }
  });

  test('a lost part is redone alone, as a new part, and every object stays in exactly one line', async () => {
    const lost = (await listKeys(`${runPrefix}child-1-part-`)).sort()[0]!;
    const lostKeys = (await partLines(runPrefix)).filter((l) => l.part === lost).map((l) => l.key);
    expect(lostKeys.length).toBeGreaterThan(0);
    await fx.s3.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: lost }));

    const { sum } = await child(1, { input, results: 'shard', partObjects: 4 });
    expect(sum.done + sum.failed).toBe(lostKeys.length);
    const lines = await partLines(runPrefix);
    expect(lines.map((l) => l.key).sort()).toEqual([...keys].sort());
    expect(lines.filter((l) => lostKeys.includes(l.key)).every((l) => l.part !== lost && l.part.includes('/child-1-part-'))).toBe(true);
  });

  test('continuing a run with another array size is refused', async () => {
    const runId = defaultRunId(input, CHILDREN);
    await expect(runBatch({ input, classifier: fx.classifier, ep: 'cpu', workers: 1, s3: fx.s3.client, progress: { tty: 'off' }, log: () => undefined, resultsPrefix: RP, results: 'shard', runId, shard: { index: 0, count: 2 } }))
      .rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('--run-id') });
  });
});

/** Decoding is real (a decode worker), inference a constant: the figures here are S3 requests. */
const standIn: BatchClassifier = {
  modelId: 'stand-in',
  maxBatch: null,
  preprocessConfig: IMAGENET_PREPROCESS,
  prepare: () => Promise.reject(new Error('decoding runs on the decode worker')),
  infer: async (tensors) => tensors.map(() => new Float32Array(1)),
  answerFor: () => ({ labels: [{ rank: 1, index: 7, id: 'n01514859', name: 'hen', score: 0.5 }], parents: [{ rank: 1, id: 'n01503061', name: 'bird', score: 0.5 }] }),
  dispose: async () => undefined,
};

test('S3 requests per 1,000 images: per-object results against result parts', async () => {
  const n = 1000;
  await putTinyJpegs(fx.s3.client, BUCKET, Array.from({ length: n }, (_, i) => `thousand/${String(i).padStart(4, '0')}.jpg`));
  const input = await backlogOf('thousand/', 'stand-in', n);
  const perMode: Record<string, Record<string, number>> = {};
  for (const results of ['per-object', 'shard'] as const) {
    const total: Record<string, number> = {};
    let done = 0;
    for (let i = 0; i < CHILDREN; i++) {
      const { sum, calls } = await child(i, { input, results, classifier: standIn });
      done += sum.done;
      for (const [k, v] of Object.entries(calls)) total[k] = (total[k] ?? 0) + v;
    }
    expect(done).toBe(n);
    perMode[results] = total;
  }
  // Per object: the result check, the image, the result read again, the tag read and write, the result; per child backlog.json and its part.
  expect(perMode['per-object']).toEqual({ GetObjectCommand: 3 * n + 2 * CHILDREN, GetObjectTaggingCommand: n, PutObjectTaggingCommand: n, PutObjectCommand: n });
  // Per object the image; per child backlog.json, its part, the run's descriptor, the LIST of its parts and one part (default size); the run's descriptor written once.
  expect(perMode.shard).toEqual({ GetObjectCommand: n + 3 * CHILDREN, ListObjectsV2Command: CHILDREN, PutObjectCommand: CHILDREN + 1 });
  const price = { get: 0.4, put: 5, list: 5 }; // $ per million: GET-class, PUT-class, LIST (us-east-1)
  for (const [mode, c] of Object.entries(perMode)) {
    const get = (c.GetObjectCommand ?? 0) + (c.GetObjectTaggingCommand ?? 0);
    const put = (c.PutObjectCommand ?? 0) + (c.PutObjectTaggingCommand ?? 0);
    const list = c.ListObjectsV2Command ?? 0;
    const dollarsPerMillion = (get * price.get + put * price.put + list * price.list) / n;
    console.log(`${mode}: per ${n} images ${JSON.stringify(c)}; GET-class ${get}, PUT-class ${put}, LIST ${list}; $${dollarsPerMillion.toFixed(2)} per million images at this part size`);
  }
});

