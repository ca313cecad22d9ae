import { testClassifier, testDeps, gradientJpeg, TEST_MODEL_ID } from './functions-harness.js';

import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { Context, ScheduledEvent } from 'aws-lambda';

import type { Classifier } from '../../core/classifier.js';
import { createSweeperHandler } from '../../functions/sweeper/handler.js';
import type { BatchSubmission, SweepReport } from '../../functions/sweeper/backlog.js';
import type { ObjectJobMessage } from '../../labelling/events.js';
import { labelObject } from '../../labelling/label-object.js';
import { lambdaContext, scheduledEvent } from '../../scripts/lambda-events.js';
import { startLocalS3, type LocalS3 } from '../helpers/s3.js';

const BUCKET = 'input';
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

function sweeper(env: Record<string, string>) {
  const queued: ObjectJobMessage[] = [];
  const submitted: BatchSubmission[] = [];
  const deps = testDeps(s3.client, classifier, { sweepPrefix: 'uploads/' });
  const h = createSweeperHandler(
    deps,
    {
      queue: { enqueue: async (jobs) => (queued.push(...jobs), jobs.length) },
      batch: { submit: async (req) => (submitted.push(req), { jobId: 'job-1' }) },
    },
    { MODEL_ID: TEST_MODEL_ID, ...env },
  ) as unknown as (e: ScheduledEvent, c: Context) => Promise<SweepReport>;
  return { queued, submitted, run: () => h(scheduledEvent(), lambdaContext('sweeper')) };
}

test('small backlog: the unlabelled objects (and only they) are enqueued for the sqs-worker', async () => {
  const s = sweeper({});
  const report = await s.run();
  expect(report).toMatchObject({ listed: 5, backlog: 3, truncated: false, enqueued: 3 });
  expect(report.plan.mode).toBe('lambda');
  expect(s.queued.map((j) => j.key)).toEqual(['uploads/img-1.jpg', 'uploads/img-2.jpg', 'uploads/img-4.jpg']);
  expect(s.submitted).toHaveLength(0);
});

test('above BACKLOG_THRESHOLD a Batch job is submitted instead', async () => {
  const s = sweeper({ BACKLOG_THRESHOLD: '2' });
  const report = await s.run();
  expect(report.plan).toMatchObject({ mode: 'batch', arraySize: 1, count: 3 });
  expect(s.queued).toHaveLength(0);
  expect(s.submitted).toEqual([expect.objectContaining({ input: 's3://input/uploads/', model: TEST_MODEL_ID })]);
  expect(report.batch?.jobId).toBe('job-1');
});
