import { mkdtemp, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { PutObjectCommand } from '@aws-sdk/client-s3';

import { InvalidArgumentError } from '../../core/errors.js';
import { downloadOnce } from '../../labelling/download-once.js';
import { resolveModelOptions } from '../../functions/common/model.js';
import { startLocalS3, type LocalS3 } from '../helpers/s3.js';

// Models too big for a layer come from S3 to /tmp at cold start (functions) or job start (batch).
const BUCKET = 'artefacts';
let s3: LocalS3;
let tmp: string;
beforeAll(async () => {
  s3 = await startLocalS3({ buckets: [BUCKET] });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'model-s3-'));
  await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'm/model.onnx', Body: Buffer.alloc(4096, 7) }));
  await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'm/labels.txt', Body: 'n01440764 tench, Tinca tinca\n' }));
}, 60_000);
afterAll(() => s3?.stop());

test('MODEL_S3_URI + LABELS_S3_URI are downloaded once and the options point at the copies', async () => {
  const env = { MODEL_S3_URI: `s3://${BUCKET}/m/model.onnx`, LABELS_S3_URI: `s3://${BUCKET}/m/labels.txt`, MODEL_TMP_DIR: tmp, MODEL_ID: 'r-s3' };
  const opts = await resolveModelOptions(env, s3.client);
  expect(opts).toEqual(expect.objectContaining({ model: path.join(tmp, 'model', 'model.onnx'), labels: path.join(tmp, 'model', 'labels.txt'), modelId: 'r-s3' }));
  expect(await readFile(opts.model)).toEqual(Buffer.alloc(4096, 7));
  expect(await readFile(opts.labels!, 'utf8')).toBe('n01440764 tench, Tinca tinca\n');
  // A warm container keeps the file: same size, so no second write.
  const before = (await stat(opts.model)).mtimeMs;
  await new Promise((r) => setTimeout(r, 20));
  await resolveModelOptions(env, s3.client);
  expect((await stat(opts.model)).mtimeMs).toBe(before);
});

test('a malformed URI is a typed argument error', async () => {
  await expect(downloadOnce(s3.client, 'https://example.com/model.onnx', path.join(tmp, 'x.onnx'))).rejects.toBeInstanceOf(InvalidArgumentError);
});
