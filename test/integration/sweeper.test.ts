/**
 * The sweeper handler against a real local S3 (s3rver): small backlogs enqueued in full, large
 * ones handed to Batch as a manifest of exactly the missing keys, and budgeted sweeps that resume
 * from their cursor so that no object past the first budget stays unseen.
 */
import { testClassifier, testDeps, gradientJpeg, TEST_MODEL_ID } from './functions-harness.js';

import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import type { Context, ScheduledEvent } from 'aws-lambda';

import type { Classifier } from '../../core/classifier.js';
import { createSweeperHandler } from '../../functions/sweeper/handler.js';
import type { BatchSubmission, DispatchReport } from '../../labelling/backlog-dispatch.js';
import { parseBacklogDocument } from '../../labelling/backlog-manifest.js';
import type { ObjectJobMessage } from '../../labelling/events.js';
import { labelObject } from '../../labelling/label-object.js';
import { resultKey } from '../../labelling/results.js';
import type { SweepReport } from '../../labelling/sweep.js';
import { lambdaContext, scheduledEvent } from '../../scripts/lambda-events.js';
import { startLocalS3, type LocalS3 } from '../helpers/s3.js';

const BUCKET = 'input';
const RP = 'resnet-results/';
let s3: LocalS3;
let classifier: Classifier;
beforeAll(async () => {
  [s3, classifier] = await Promise.all([startLocalS3({ buckets: [BUCKET] }), testClassifier()]);
  for (let i = 0; i < 5; i++) await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `uploads/img-${i}.jpg`, Body: await gradientJpeg(64, 64, i) }));
  await labelObject({ s3: s3.client, classifier }, { bucket: BUCKET, key: 'uploads/img-0.jpg' });
  await labelObject({ s3: s3.client, classifier }, { bucket: BUCKET, key: 'uploads/img-3.jpg' });
}, 180_000);
afterAll(async () => {
  await s3?.stop();
  await classifier?.dispose();
});

function sweeper(env: Record<string, string>, config: { sweepPrefix?: string; sweepMaxList?: number } = {}) {
  const queued: ObjectJobMessage[] = [];
  const submitted: BatchSubmission[] = [];
  const deps = testDeps(s3.client, classifier, { sweepPrefix: 'uploads/', ...config });
  const h = createSweeperHandler(
    deps,
    {
      queue: { enqueue: async (jobs) => (queued.push(...jobs), jobs.length) },
      batch: { submit: async (req) => (submitted.push(req), { jobId: 'job-1' }) },
    },
    { MODEL_ID: TEST_MODEL_ID, ...env },
  ) as unknown as (e: ScheduledEvent, c: Context) => Promise<SweepReport & DispatchReport>;
  return { queued, submitted, run: () => h(scheduledEvent(), lambdaContext('sweeper')) };
}

async function text(key: string): Promise<string> {
  const out = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return out.Body!.transformToString('utf8');
}

test('small backlog: the unlabelled objects (and only they) are enqueued for the sqs-worker', async () => {
  const s = sweeper({});
  const report = await s.run();
  expect(report).toMatchObject({ listed: 5, backlog: 3, truncated: false, enqueued: 3, passComplete: true });
  expect(report.plan.mode).toBe('lambda');
  expect(s.queued.map((j) => j.key)).toEqual(['uploads/img-1.jpg', 'uploads/img-2.jpg', 'uploads/img-4.jpg']);
  expect(s.submitted).toHaveLength(0);
});

test('a backlog below the threshold is enqueued in full, not capped per run', async () => {
  const keys = Array.from({ length: 1500 }, (_, i) => `many/${String(i).padStart(4, '0')}.jpg`);
  for (let i = 0; i < keys.length; i += 50) {
    await Promise.all(keys.slice(i, i + 50).map((Key) => s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: 'x' }))));
  }
  const s = sweeper({}, { sweepPrefix: 'many/' });
  const report = await s.run();
  expect(report).toMatchObject({ backlog: 1500, enqueued: 1500 });
  expect(s.queued.map((j) => j.key)).toEqual(keys);
});

test('above BACKLOG_THRESHOLD: a manifest of exactly the missing keys, one part per array child, is submitted to Batch', async () => {
  const s = sweeper({ BACKLOG_THRESHOLD: '2', BATCH_IMAGES_PER_SECOND: '1', BATCH_TARGET_SECONDS: '122' });
  const report = await s.run();
  // 1 image/s x (122 - 120) s = 2 objects per child: 3 missing keys make 2 parts.
  expect(report.plan).toMatchObject({ mode: 'batch', arraySize: 2, count: 3 });
  expect(s.queued).toHaveLength(0);
  expect(s.submitted).toHaveLength(1);
  const input = s.submitted[0]!.input;
  expect(input).toMatch(new RegExp(`^s3://${BUCKET}/${RP}_sweep/${TEST_MODEL_ID}/${BUCKET}/backlogs/[0-9]{14}-[0-9a-f]{6}/backlog\\.json$`));
  expect(report.batch?.jobId).toBe('job-1');
  const doc = parseBacklogDocument(await text(input.slice(`s3://${BUCKET}/`.length)), input);
  expect(doc).toMatchObject({ bucket: BUCKET, model: TEST_MODEL_ID, objects: 3 });
  expect(doc.parts.map((p) => p.objects)).toEqual([2, 1]);
  const lines = (await Promise.all(doc.parts.map((p) => text(p.key)))).join('').trim().split('\n').map((l) => JSON.parse(l) as ObjectJobMessage);
  expect(lines).toEqual(['uploads/img-1.jpg', 'uploads/img-2.jpg', 'uploads/img-4.jpg'].map((key) => ({ bucket: BUCKET, key })));
});

test('above BACKLOG_THRESHOLD with INVENTORY_BUCKET: one job over the newest inventory report, a child per file, once per report; no manifest of keys', async () => {
  const INV = 'inventory';
  await s3.createBucket(INV);
  const reports = `${BUCKET}/resnet-uploads/`;
  const backlogs = async (): Promise<number> => (await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${RP}_sweep/${TEST_MODEL_ID}/${BUCKET}/backlogs/` }))).KeyCount ?? 0;
  const putReport = (date: string, files: number): Promise<unknown> =>
    s3.client.send(new PutObjectCommand({
      Bucket: INV, Key: `${reports}${date}/manifest.json`,
      Body: JSON.stringify({ fileFormat: 'CSV', fileSchema: 'Bucket, Key, Size, LastModifiedDate, ETag', files: Array.from({ length: files }, (_, i) => ({ key: `${reports}data/f${date}-${i}.csv.gz` })) }),
    }));
  const env = { BACKLOG_THRESHOLD: '2', INVENTORY_BUCKET: INV };

  // No report delivered yet: the manifest of the found keys, as without an inventory.
  const before = await backlogs();
  const none = await sweeper(env).run();
  expect(none.inventory).toBeUndefined();
  expect(none.batch?.input).toMatch(/backlog\.json$/);
  expect(await backlogs()).toBeGreaterThan(before);

  // A folder that is not a report, a report still being delivered (no manifest.json yet), an older report and the newest one (3 files).
  await s3.client.send(new PutObjectCommand({ Bucket: INV, Key: `${reports}hive/dt=2026-12-06-01-00/symlink.txt`, Body: 'x' }));
  await s3.client.send(new PutObjectCommand({ Bucket: INV, Key: `${reports}2026-12-06T23-00Z/manifest.checksum`, Body: 'x' }));
  await putReport('2026-12-05T01-00Z', 5);
  await putReport('2026-12-06T01-00Z', 3);
  const written = await backlogs();
  const first = sweeper(env);
  const r1 = await first.run();
  expect(r1).toMatchObject({ backlog: 3, enqueued: 0, inventory: { report: '2026-12-06T01-00Z', held: false }, plan: { mode: 'batch', arraySize: 3 } });
  expect(first.submitted.map((j) => j.input)).toEqual([`s3://${INV}/${reports}2026-12-06T01-00Z/manifest.json`]);
  expect(await backlogs()).toBe(written);

  // The next sweep finds the same backlog (the job has not run): nothing more is submitted.
  const second = sweeper(env);
  expect(await second.run()).toMatchObject({ backlog: 3, inventory: { report: '2026-12-06T01-00Z', held: true } });
  expect(second.submitted).toHaveLength(0);
  expect(second.queued).toHaveLength(0);

  // A newer report: one job over it.
  await putReport('2026-12-07T01-00Z', 2);
  const third = sweeper(env);
  expect(await third.run()).toMatchObject({ inventory: { report: '2026-12-07T01-00Z', held: false }, plan: { arraySize: 2 } });
  expect(third.submitted.map((j) => j.input)).toEqual([`s3://${INV}/${reports}2026-12-07T01-00Z/manifest.json`]);
  expect(await backlogs()).toBe(written);
});

test('no blind spot: 20 objects, the first 10 labelled, SWEEP_MAX_LIST 10 — every unlabelled object is found within ceil(20/10)+1 sweeps, and no labelled one', async () => {
  const keys = Array.from({ length: 20 }, (_, i) => `blind/img-${String(i).padStart(2, '0')}.jpg`);
  for (const [i, Key] of keys.entries()) await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: await gradientJpeg(32, 32, i) }));
  for (const key of keys.slice(0, 10)) await labelObject({ s3: s3.client, classifier }, { bucket: BUCKET, key });
  const s = sweeper({}, { sweepPrefix: 'blind/', sweepMaxList: 10 });
  const reports: SweepReport[] = [];
  for (let i = 0; i < Math.ceil(20 / 10) + 1; i++) reports.push(await s.run());
  expect(s.queued.map((j) => j.key).sort()).toEqual(keys.slice(10));
  expect(reports.map((r) => [r.listed, r.backlog, r.truncated])).toEqual([[10, 0, true], [10, 10, false], [10, 0, true]]);
});

test('keys with ".", "-", "/", spaces and unicode that are prefixes of one another: exactly the unlabelled ones, over budgeted sweeps', async () => {
  const names = ['a', 'a-b', 'a.b', 'a/b', 'a b', 'a.json', 'a.js', 'a-', 'a.', 'ab', 'é', 'é-1', 'é.x', 'ü ü', '日本', '日本-語', '日本/語', 'x+y', 'x,y', 'x!y'];
  const keys = names.map((n) => `tricky/${n}`);
  const labelled = new Set(keys.filter((_, i) => i % 3 === 0));
  for (const Key of keys) await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: 'x' }));
  for (const key of labelled) await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: resultKey(RP, BUCKET, key, TEST_MODEL_ID), Body: '{}' }));
  const s = sweeper({}, { sweepPrefix: 'tricky/', sweepMaxList: 3 });
  let pass = false;
  for (let i = 0; i < Math.ceil(keys.length / 3) + 1 && !pass; i++) pass = (await s.run()).passComplete;
  expect(pass).toBe(true);
  expect(s.queued.map((j) => j.key).sort()).toEqual(keys.filter((k) => !labelled.has(k)).sort());
});
