import { counting, testClassifier, testDeps, catJpeg, gradientJpeg, truncatedJpeg, TEXT_BYTES, pixelBombPng, TEST_MODEL_ID } from './functions-harness.js';

import {
  GetObjectCommand,
  GetObjectTaggingCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
  type Tag,
} from '@aws-sdk/client-s3';
import type { Context, S3Event, SQSBatchResponse } from 'aws-lambda';

import type { Classifier } from '../../core/classifier.js';
import { createS3TaggerHandler } from '../../functions/s3-tagger/handler.js';
import { TransientStorageError } from '../../labelling/errors.js';
import { normalizeEtag, parseResult, resultKey, roundScore, type ResultDoc } from '../../labelling/results.js';
import { sanitizeTagValue } from '../../labelling/tags.js';
import { lambdaContext, s3Event, s3TestEvent, sqsEvent } from '../../scripts/lambda-events.js';
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

type Handler = (event: unknown, context: Context) => Promise<SQSBatchResponse | void>;
function tagger(client: S3Client = s3.client) {
  const c = counting(classifier);
  const h = createS3TaggerHandler(testDeps(client, c)) as unknown as Handler;
  return { c, run: (e: unknown) => h(e, lambdaContext('s3-tagger')) };
}

/** Uploads like a user, returns the S3 event AWS would send for it. */
async function upload(key: string, body: Buffer, userTags?: Tag[]): Promise<S3Event> {
  const put = await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
  if (userTags) await s3.client.send(new PutObjectTaggingCommand({ Bucket: BUCKET, Key: key, Tagging: { TagSet: userTags } }));
  return s3Event({ bucket: BUCKET, key, etag: normalizeEtag(put.ETag), size: body.length });
}

async function tagsOf(key: string): Promise<Record<string, string>> {
  const out = await s3.client.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: key }));
  return Object.fromEntries((out.TagSet ?? []).map((t) => [t.Key!, t.Value!]));
}

async function resultOf(key: string): Promise<{ doc: ResultDoc; text: string } | null> {
  try {
    const out = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: resultKey('resnet-results/', BUCKET, key, TEST_MODEL_ID) }));
    const text = await out.Body!.transformToString();
    return { doc: parseResult(text), text };
  } catch {
    return null;
  }
}

describe('s3-tagger against a local S3 server', () => {
  test('an upload gets label tags and a result object matching a direct classification', async () => {
    const bytes = await catJpeg();
    const event = await upload('photos/cat.jpg', bytes);
    const { c, run } = tagger();
    await expect(run(event)).resolves.toBeUndefined();
    expect(c.calls).toBe(1);

    const direct = await classifier.classify(bytes, { top: 5 });
    const r = await resultOf('photos/cat.jpg');
    expect(r).not.toBeNull();
    const doc = r!.doc;
    expect(doc).toMatchObject({ schemaVersion: 1, bucket: BUCKET, key: 'photos/cat.jpg', model: TEST_MODEL_ID, versionId: null, size: bytes.length, producer: 's3-tagger' });
    expect(doc.etag).toBe(event.Records[0]!.s3.object.eTag);
    expect(doc.labels!.map((l) => [l.index, l.id, l.score])).toEqual(direct.labels.map((l) => [l.index, l.id, roundScore(l.score)]));
    expect(doc.timingsMs!.inference).toBeGreaterThan(0);
    // Bytes on S3 are exactly the serializer's fixed-order output.
    expect(Object.keys(JSON.parse(r!.text))).toEqual(['schemaVersion', 'bucket', 'key', 'versionId', 'etag', 'lastModified', 'size', 'model', 'labels', 'producer', 'sequencer', 'timingsMs', 'labelledAt']);

    const tags = await tagsOf('photos/cat.jpg');
    expect(tags['resnet:model']).toBe(TEST_MODEL_ID);
    expect(tags['resnet:label1']).toBe(sanitizeTagValue(direct.labels[0]!.name));
    expect(Object.keys(tags).sort()).toEqual(['resnet:label1', 'resnet:label2', 'resnet:label3', 'resnet:label4', 'resnet:label5', 'resnet:model']);
    for (const v of Object.values(tags)) expect(v).toMatch(/^[\p{L}\p{N} +\-=._:/@]{0,256}$/u);
  });

  test('with MIN_CONFIDENCE 0 and TAG_PARENTS 2 the result holds the parents and the tags the most specific and the most general', async () => {
    const bytes = await catJpeg();
    const event = await upload('parents/cat.jpg', bytes, [{ Key: 'album', Value: 'home' }]);
    const h = createS3TaggerHandler(testDeps(s3.client, classifier, { minConfidence: 0, tagParents: 2 })) as unknown as Handler;
    await h(event, lambdaContext('s3-tagger'));
    const direct = await classifier.classify(bytes, { top: 5, labels: { minParentConfidence: 0 } });
    const doc = (await resultOf('parents/cat.jpg'))!.doc;
    expect(doc.parents!.map((p) => [p.id, p.score])).toEqual(direct.parents.map((p) => [p.id, roundScore(p.score)]));
    const tags = await tagsOf('parents/cat.jpg');
    expect(tags.album).toBe('home');
    // At threshold 0 every ancestor passes: parent1 is the lowest-ranked (most specific), parent2 the best (most general).
    expect(tags['resnet:parent1']).toBe(sanitizeTagValue(direct.parents[direct.parents.length - 1]!.name));
    expect(tags['resnet:parent2']).toBe(sanitizeTagValue(direct.parents[0]!.name));
    expect(Object.keys(tags)).toHaveLength(9);
  });

  test('a duplicate event does no second inference and leaves one unchanged result', async () => {
    const event = await upload('dup/a.jpg', await gradientJpeg());
    const { c, run } = tagger();
    await run(event);
    const first = await resultOf('dup/a.jpg');
    await run(event);
    await run(JSON.parse(JSON.stringify(event)));
    expect(c.calls).toBe(1);
    expect((await resultOf('dup/a.jpg'))!.text).toBe(first!.text);
    const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `resnet-results/${TEST_MODEL_ID}/${BUCKET}/dup/` }));
    expect(listed.KeyCount).toBe(1);
  });

  test('an older event processed after a newer one never overwrites the newer result', async () => {
    const key = 'order/pic.jpg';
    const older = await upload(key, await gradientJpeg(320, 240, 1));
    await new Promise((r) => setTimeout(r, 1100)); // Last-Modified has one-second resolution
    const newerBytes = await gradientJpeg(300, 300, 2);
    const newer = await upload(key, newerBytes);
    const { c, run } = tagger();
    await run(newer);
    const after = await resultOf(key);
    expect(after!.doc.etag).toBe(newer.Records[0]!.s3.object.eTag);
    await run(older);
    expect(c.calls).toBe(1); // the stale event got a 304 for the labelled ETag: no download, no inference
    expect((await resultOf(key))!.text).toBe(after!.text);
    expect((await tagsOf(key))['resnet:label1']).toBe(sanitizeTagValue(after!.doc.labels![0]!.name));
  });

  test('URL-encoded keys with "+", spaces and unicode are decoded', async () => {
    const key = 'uploads/red flower ü+1 (copy).jpg';
    const event = await upload(key, await gradientJpeg(200, 200, 3));
    expect(event.Records[0]!.s3.object.key).toBe('uploads/red+flower+%C3%BC%2B1+%28copy%29.jpg');
    await tagger().run(event);
    expect((await resultOf(key))!.doc.key).toBe(key);
    expect((await tagsOf(key))['resnet:model']).toBe(TEST_MODEL_ID);
  });

  test("the user's tags are kept and merged", async () => {
    const user = [{ Key: 'owner', Value: 'alice' }, { Key: 'project', Value: 'holiday 2024' }];
    const event = await upload('tags/user.jpg', await gradientJpeg(), user);
    await tagger().run(event);
    const tags = await tagsOf('tags/user.jpg');
    expect(tags.owner).toBe('alice');
    expect(tags.project).toBe('holiday 2024');
    expect(Object.keys(tags)).toHaveLength(8);
  });

  test('with 9 user tags only label1 fits; with 10 none of ours; the user tags are never dropped', async () => {
    const nine = Array.from({ length: 9 }, (_, i) => ({ Key: `k${i}`, Value: `v${i}` }));
    await tagger().run(await upload('tags/nine.jpg', await gradientJpeg(), nine));
    const t9 = await tagsOf('tags/nine.jpg');
    expect(Object.keys(t9).sort()).toEqual([...nine.map((t) => t.Key), 'resnet:label1'].sort());

    const ten = Array.from({ length: 10 }, (_, i) => ({ Key: `k${i}`, Value: `v${i}` }));
    await tagger().run(await upload('tags/ten.jpg', await gradientJpeg(), ten));
    const t10 = await tagsOf('tags/ten.jpg');
    expect(Object.keys(t10).sort()).toEqual(ten.map((t) => t.Key).sort());
    expect((await resultOf('tags/ten.jpg'))!.doc.labels).toHaveLength(5); // the result still has everything
  });

  test.each([
    ['corrupt JPEG', 'bad/truncated.jpg', truncatedJpeg, 'CORRUPT_IMAGE'],
    ['zero-byte file', 'bad/empty.jpg', async () => Buffer.alloc(0), 'EMPTY_INPUT'],
    ['text file', 'bad/notes.jpg', async () => TEXT_BYTES, 'UNSUPPORTED_FORMAT'],
    ['pixel bomb PNG', 'bad/bomb.png', async () => pixelBombPng(), 'IMAGE_TOO_LARGE'],
  ])('%s → error result + resnet:error tag, no throw', async (_name, key, make, code) => {
    const { run } = tagger();
    await expect(run(await upload(key, await make()))).resolves.toBeUndefined();
    const r = await resultOf(key);
    expect(r!.doc.error?.code).toBe(code);
    expect(r!.doc.labels).toBeUndefined();
    expect(await tagsOf(key)).toEqual({ 'resnet:error': code, 'resnet:model': TEST_MODEL_ID });
  });

  test('s3:TestEvent is a no-op; own outputs are never labelled (recursion guard)', async () => {
    const { c, run } = tagger();
    await expect(run(s3TestEvent(BUCKET))).resolves.toBeUndefined();
    const own = resultKey('resnet-results/', BUCKET, 'photos/cat.jpg', TEST_MODEL_ID);
    await run(s3Event({ bucket: BUCKET, key: own, etag: 'x', size: 10 }));
    expect(c.calls).toBe(0);
    const nested = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `resnet-results/${TEST_MODEL_ID}/${BUCKET}/resnet-results/` }));
    expect(nested.KeyCount).toBe(0);
  });

  test('S3 events wrapped in SQS messages are processed with partial batch failure', async () => {
    const ok = await upload('sqs/one.jpg', await gradientJpeg(240, 240, 4));
    const { run } = tagger();
    const res = (await run(sqsEvent([ok, 'not json'], ['good', 'broken']))) as SQSBatchResponse;
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'broken' }]);
    expect((await resultOf('sqs/one.jpg'))!.doc.labels).toHaveLength(5);
  });

  test('S3 stopping mid-request surfaces a retryable error; the redelivered event loses nothing', async () => {
    const key = 'outage/img.jpg';
    const event = await upload(key, await gradientJpeg(256, 256, 5));
    const client = s3.makeClient({ maxAttempts: 2 });
    // The server goes away after the download, while inference runs: the tag and result writes fail.
    const stopping = {
      modelId: classifier.modelId,
      numClasses: classifier.numClasses,
      info: classifier.info,
      classify: async (b: Uint8Array, o?: { top?: number }) => {
        await s3.pause();
        return classifier.classify(b, o);
      },
      rekognitionOptions: classifier.rekognitionOptions.bind(classifier),
      toRekognition: classifier.toRekognition.bind(classifier),
    };
    const h = createS3TaggerHandler(testDeps(client, stopping)) as unknown as Handler;
    const err = await h(event, lambdaContext()).then(() => null, (e: unknown) => e);
    if (!(err instanceof TransientStorageError)) console.error(err);
    expect(err).toBeInstanceOf(TransientStorageError);
    expect((err as TransientStorageError).retryable).toBe(true);
    await s3.resume();
    expect(await resultOf(key)).toBeNull(); // nothing half-written
    const { c, run } = tagger();
    await run(event); // the platform's retry
    expect(c.calls).toBe(1);
    expect((await resultOf(key))!.doc.labels).toHaveLength(5);
    expect((await tagsOf(key))['resnet:model']).toBe(TEST_MODEL_ID);
  });
});
