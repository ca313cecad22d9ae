import { testClassifier, testDeps, gradientJpeg, truncatedJpeg, TEST_MODEL_ID } from './functions-harness.js';

import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';

import type { Classifier } from '../../core/classifier.js';
import { createSqsWorkerHandler } from '../../functions/sqs-worker/handler.js';
import { parseResult, resultKey } from '../../labelling/results.js';
import { lambdaContext, s3Event, sqsEvent } from '../../scripts/lambda-events.js';
import { startLocalS3, type LocalS3 } from '../helpers/s3.js';

const BUCKET = 'input';
let s3: LocalS3;
let classifier: Classifier;
beforeAll(async () => {
  [s3, classifier] = await Promise.all([startLocalS3({ buckets: [BUCKET] }), testClassifier()]);
}, 180_000);
afterAll(async () => {
  await s3?.stop();
  await classifier?.dispose();
});

async function result(key: string) {
  const out = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: resultKey('resnet-results/', BUCKET, key, TEST_MODEL_ID) }));
  return parseResult(await out.Body!.transformToString());
}

test('partial batch failure: only the failed message ids are reported', async () => {
  await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'jobs/a.jpg', Body: await gradientJpeg(256, 256, 1) }));
  await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'jobs/b c+.jpg', Body: await gradientJpeg(256, 256, 2) }));
  await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'jobs/bad.jpg', Body: await truncatedJpeg() }));
  const handler = createSqsWorkerHandler(testDeps(s3.client, classifier)) as unknown as (e: SQSEvent, c: Context) => Promise<SQSBatchResponse>;
  const event = sqsEvent(
    [
      { bucket: BUCKET, key: 'jobs/a.jpg' },
      'this is not JSON',
      s3Event({ bucket: BUCKET, key: 'jobs/b c+.jpg' }),
      { bucket: BUCKET },
      { bucket: BUCKET, key: 'jobs/bad.jpg' },
    ],
    ['ok-job', 'garbage', 'ok-s3-event', 'no-key', 'bad-image'],
  );
  const res = await handler(event, lambdaContext('sqs-worker'));
  expect(res.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(['garbage', 'no-key']);
  expect((await result('jobs/a.jpg')).labels).toHaveLength(5);
  expect((await result('jobs/b c+.jpg')).producer).toBe('sqs-worker');
  expect((await result('jobs/bad.jpg')).error?.code).toBe('CORRUPT_IMAGE'); // a bad image is done, not retried
});
