/**
 * Set-up shared by the batch worker's S3 tests: a local S3 with a bucket, a generated ResNet-18
 * (ImageNet labels) loaded once, a scratch folder, and tiny JPEGs (32×32, one colour each).
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import sharp from 'sharp';

import { Classifier } from '../../core/classifier.js';
import { testModelPath } from './models.js';
import { SYNSET_PATH } from './paths.js';
import { startLocalS3, type LocalS3 } from './s3.js';

/** What {@link startBatchFixture} made. */
export interface BatchFixture {
  s3: LocalS3;
  classifier: Classifier;
  tmp: string;
}

/** Starts the local S3 with `bucket`, loads the classifier as `modelId` and makes a scratch folder. */
export async function startBatchFixture(bucket: string, modelId: string): Promise<BatchFixture> {
  const [s3, modelPath, tmp] = await Promise.all([
    startLocalS3({ buckets: [bucket] }),
    testModelPath({ depth: 18, version: 1, batch: 'dynamic', classes: 1000 }),
    mkdtemp(path.join(os.tmpdir(), 'batch-fixture-')),
  ]);
  const classifier = await Classifier.load({ model: modelPath, labels: SYNSET_PATH, modelId, executionProviders: ['cpu'], threads: 2 });
  return { s3, classifier, tmp };
}

/** A client of the local S3 whose requests are counted by command name (`GetObjectCommand`, ...). */
export function countingClient(s3: LocalS3): { client: S3Client; calls: Record<string, number> } {
  const client = s3.makeClient({ maxAttempts: 2 });
  const calls: Record<string, number> = {};
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = String(context.commandName);
      calls[name] = (calls[name] ?? 0) + 1;
      return next(args);
    },
    { step: 'initialize', name: 'countCalls' },
  );
  return { client, calls };
}

/** Uploads a 32×32 single-colour JPEG under each key (colour from its index). */
export async function putTinyJpegs(client: S3Client, bucket: string, keys: readonly string[]): Promise<void> {
  for (const [i, Key] of keys.entries()) {
    const px = Buffer.alloc(32 * 32 * 3, (i * 41) % 256);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: await sharp(px, { raw: { width: 32, height: 32, channels: 3 } }).jpeg().toBuffer() }));
  }
}
