/**
 * A sweeper's backlog handed to AWS Batch: the sweep writes a manifest of exactly the unlabelled
 * keys in 8 parts; each of 8 array children reads its own part and lists nothing; every object is
 * labelled exactly once across the children. S3 requests are counted per child at the client.
 */
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';

import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';

import { runBatch } from '../../batch/run-batch.js';
import type { ManifestLine } from '../../batch/sources/manifest.js';
import type { Classifier } from '../../core/classifier.js';
import { sweepBacklog } from '../../labelling/sweep.js';
import { countingClient, putTinyJpegs, startBatchFixture } from '../helpers/batch-fixture.js';
import type { LocalS3 } from '../helpers/s3.js';

jest.setTimeout(240_000);

const BUCKET = 'photos';
const RP = 'resnet-results/';
const MODEL = 'r18-backlog';
const N = 48;
const CHILDREN = 8;
let s3: LocalS3;
let tmp: string;
let classifier: Classifier;
const keys = Array.from({ length: N }, (_, i) => `in/${String(i).padStart(3, '0')} img-${i % 5}.jpg`);

beforeAll(async () => {
  ({ s3, classifier, tmp } = await startBatchFixture(BUCKET, MODEL));
  await putTinyJpegs(s3.client, BUCKET, keys);
});
afterAll(async () => {
  await classifier?.dispose();
  await s3?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test(`${N} unlabelled objects in ${CHILDREN} manifest parts: each child reads its part with zero LIST calls, and each object is labelled once`, async () => {
  const submitted: string[] = [];
  const report = await sweepBacklog(
    s3.client,
    { bucket: BUCKET, prefix: 'in/', model: MODEL, resultsPrefix: RP, planner: { lambdaMaxObjects: 10 }, partObjects: N / CHILDREN },
    { batch: { submit: async (req) => (submitted.push(req.input), { jobId: 'j' }) } },
  );
  expect(report).toMatchObject({ backlog: N, manifest: { objects: N, parts: CHILDREN }, plan: { mode: 'batch', arraySize: CHILDREN } });
  expect(submitted).toHaveLength(1);

  const labelledBy: string[][] = [];
  for (let i = 0; i < CHILDREN; i++) {
    const { client, calls } = countingClient(s3);
    const manifest = path.join(tmp, `child-${i}.jsonl`);
    const sum = await runBatch({
      input: submitted[0]!, classifier, ep: 'cpu', workers: 1, s3: client, progress: { tty: 'off' }, log: () => undefined,
      resultsPrefix: RP, shard: { index: i, count: CHILDREN }, manifestPath: manifest,
    });
    expect(sum).toMatchObject({ listed: N / CHILDREN, done: N / CHILDREN, failed: 0 });
    expect(calls.ListObjectsV2Command ?? 0).toBe(0);
    // backlog.json and the part, then per object: the result check, the image, and the result read again before the write.
    expect(calls.GetObjectCommand).toBe(2 + 3 * (N / CHILDREN));
    expect(calls.PutObjectCommand).toBe(N / CHILDREN);
    const lines = (await readFile(manifest, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as ManifestLine);
    labelledBy.push(lines.filter((l) => l.status === 'done').map((l) => l.key));
  }
  const all = labelledBy.flat();
  expect(all).toHaveLength(N);
  expect([...all].sort()).toEqual([...keys].sort());

  // The next sweep finds nothing left.
  const again = await sweepBacklog(s3.client, { bucket: BUCKET, prefix: 'in/', model: MODEL, resultsPrefix: RP, restart: true }, {});
  expect(again).toMatchObject({ backlog: 0, labelled: N });
});
