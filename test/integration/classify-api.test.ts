import { counting, testClassifier, testDeps, catJpeg, gradientJpeg, truncatedJpeg, TEXT_BYTES, pixelBombPng, TEST_MODEL_ID } from './functions-harness.js';

import { PutObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context, S3Event } from 'aws-lambda';

import type { Classifier } from '../../core/classifier.js';
import { createClassifyApiHandler } from '../../functions/classify-api/handler.js';
import { createS3TaggerHandler } from '../../functions/s3-tagger/handler.js';
import { normalizeEtag, roundScore } from '../../labelling/results.js';
import { httpEvent, lambdaContext, s3Event, type HttpSpec } from '../../scripts/lambda-events.js';
import { startLocalS3, type LocalS3 } from '../helpers/s3.js';

const BUCKET = 'input';
let s3: LocalS3;
let classifier: Classifier;
type Api = (e: APIGatewayProxyEventV2, c: Context) => Promise<APIGatewayProxyStructuredResultV2>;
let api: Api;

beforeAll(async () => {
  [s3, classifier] = await Promise.all([startLocalS3({ buckets: [BUCKET] }), testClassifier()]);
  api = createClassifyApiHandler(testDeps(s3.client, classifier)) as unknown as Api;
}, 180_000);
afterAll(async () => {
  await s3?.stop();
  await classifier?.dispose();
});

async function call(spec: HttpSpec): Promise<{ status: number; body: Record<string, unknown>; headers: Record<string, unknown> }> {
  const res = await api(httpEvent(spec), lambdaContext('classify-api'));
  return { status: res.statusCode ?? 0, body: JSON.parse(res.body ?? '{}') as Record<string, unknown>, headers: res.headers ?? {} };
}
const errorCode = (b: Record<string, unknown>) => (b.error as { code: string }).code;

describe('classify-api (HTTP API payload v2)', () => {
  test('binary body (base64-encoded by API Gateway) → top-5 matching a direct classification', async () => {
    const bytes = await catJpeg();
    const res = await call({ method: 'POST', path: '/classify', headers: { 'Content-Type': 'image/jpeg' }, body: bytes });
    expect(res.status).toBe(200);
    const direct = await classifier.classify(bytes, { top: 5 });
    const labels = res.body.labels as { index: number; score: number; rank: number }[];
    expect(res.body.model).toBe(TEST_MODEL_ID);
    expect(labels.map((l) => l.index)).toEqual(direct.labels.map((l) => l.index));
    expect(labels.map((l) => roundScore(l.score))).toEqual(direct.labels.map((l) => roundScore(l.score)));
    expect(Object.keys(res.body.timingsMs as object).sort()).toEqual(['decode', 'inference', 'postprocess', 'preprocess', 'total']);
  });

  test('JSON {"image": base64} and {"s3":{bucket,key}} give the same answer as the binary body; ?top=3', async () => {
    const bytes = await gradientJpeg(300, 200, 7);
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'api/g.jpg', Body: bytes }));
    const bin = await call({ method: 'POST', path: '/classify', query: { top: '3' }, headers: { 'content-type': 'image/jpeg' }, body: bytes });
    const b64 = await call({ method: 'POST', path: '/classify', query: { top: '3' }, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ image: `data:image/jpeg;base64,${bytes.toString('base64')}` }) });
    const ref = await call({ method: 'POST', path: '/classify', query: { top: '3' }, headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify({ s3: { bucket: BUCKET, key: 'api/g.jpg' } }) });
    for (const r of [bin, b64, ref]) expect(r.status).toBe(200);
    expect((bin.body.labels as unknown[]).length).toBe(3);
    const idx = (r: typeof bin) => (r.body.labels as { index: number }[]).map((l) => l.index);
    expect(idx(b64)).toEqual(idx(bin));
    expect(idx(ref)).toEqual(idx(bin));
  });

  test('parents and DetectLabels options as query parameters; format=rekognition answers in its shape', async () => {
    const bytes = await catJpeg();
    const q = { minConfidence: '0', maxLabels: '4', includeCategories: 'Animals' };
    const ours = await call({ method: 'POST', path: '/classify', query: q, headers: { 'content-type': 'image/jpeg' }, body: bytes });
    expect(ours.status).toBe(200);
    const direct = await classifier.classify(bytes, { labels: { minConfidence: 0, maxLabels: 4, includeCategories: ['Animals'] } });
    expect(ours.body.parents).toEqual(JSON.parse(JSON.stringify(direct.parents)));
    expect((ours.body.parents as unknown[]).length).toBe(4);
    const rek = await call({ method: 'POST', path: '/classify', query: { ...q, format: 'rekognition' }, headers: { 'content-type': 'image/jpeg' }, body: bytes });
    expect(rek.status).toBe(200);
    expect(Object.keys(rek.body).sort()).toEqual(['LabelModelVersion', 'Labels']);
    const labels = rek.body.Labels as Array<{ Name: string; Confidence: number; Categories: { Name: string }[]; Parents: { Name: string }[]; Aliases: unknown[]; Id: string }>;
    expect(labels).toHaveLength(4);
    expect(labels.map((l) => l.Confidence)).toEqual([...labels.map((l) => l.Confidence)].sort((a, b) => b - a));
    for (const l of labels) expect(l.Categories).toContainEqual({ Name: 'Animals' });
    expect(rek.body.LabelModelVersion).toBe(`${TEST_MODEL_ID}+WordNet 3.0`);
    const none = await call({ method: 'POST', path: '/classify', query: { format: 'rekognition', minConfidence: '0', parents: 'false', maxLabels: '3' }, headers: { 'content-type': 'image/jpeg' }, body: bytes });
    expect((none.body.Labels as typeof labels).map((l) => l.Parents)).toEqual([[], [], []]);
    expect((none.body.Labels as typeof labels).map((l) => l.Id)).toEqual((await classifier.classify(bytes, { top: 3 })).labels.map((l) => l.id));
  });

  test.each([
    ['empty body', { headers: { 'content-type': 'image/jpeg' }, body: Buffer.alloc(0) }, 400, 'EMPTY_INPUT'],
    ['malformed JSON', { headers: { 'content-type': 'application/json' }, body: '{"s3":' }, 400, 'MALFORMED_REQUEST'],
    ['JSON without s3 or image', { headers: { 'content-type': 'application/json' }, body: '{"x":1}' }, 400, 'MALFORMED_REQUEST'],
    ['bad top', { query: { top: '0' }, headers: { 'content-type': 'image/jpeg' }, body: TEXT_BYTES }, 400, 'INVALID_ARGUMENT'],
    ['minConfidence over 100', { query: { minConfidence: '100.5' }, headers: { 'content-type': 'image/jpeg' }, body: TEXT_BYTES }, 400, 'INVALID_ARGUMENT'],
    ['minConfidence not a number', { query: { minConfidence: '1e1' }, headers: { 'content-type': 'image/jpeg' }, body: TEXT_BYTES }, 400, 'INVALID_ARGUMENT'],
    ['maxLabels 0', { query: { maxLabels: '0' }, headers: { 'content-type': 'image/jpeg' }, body: TEXT_BYTES }, 400, 'INVALID_ARGUMENT'],
    ['parents=maybe', { query: { parents: 'maybe' }, headers: { 'content-type': 'image/jpeg' }, body: TEXT_BYTES }, 400, 'INVALID_ARGUMENT'],
    ['unknown format', { query: { format: 'xml' }, headers: { 'content-type': 'image/jpeg' }, body: TEXT_BYTES }, 400, 'INVALID_ARGUMENT'],
    ['other model', { query: { model: 'resnet152-v1' }, headers: { 'content-type': 'image/jpeg' }, body: TEXT_BYTES }, 400, 'UNKNOWN_MODEL'],
    ['over 6 MB', { headers: { 'content-type': 'image/jpeg' }, body: Buffer.alloc(6_000_001, 1) }, 413, 'PAYLOAD_TOO_LARGE'],
    ['pixel bomb', { headers: { 'content-type': 'image/png' }, body: pixelBombPng() }, 413, 'IMAGE_TOO_LARGE'],
    ['text/plain', { headers: { 'content-type': 'text/plain' }, body: 'hello' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['text sent as image/png', { headers: { 'content-type': 'image/png' }, body: TEXT_BYTES }, 415, 'UNSUPPORTED_FORMAT'],
    ['missing S3 object', { headers: { 'content-type': 'application/json' }, body: '{"s3":{"bucket":"input","key":"nope.jpg"}}' }, 404, 'OBJECT_NOT_FOUND'],
    ['foreign bucket', { headers: { 'content-type': 'application/json' }, body: '{"s3":{"bucket":"other","key":"a.jpg"}}' }, 403, 'BUCKET_NOT_ALLOWED'],
  ] as [string, Partial<HttpSpec>, number, string][])('%s → %i %s', async (_n, spec, status, code) => {
    const res = await call({ method: 'POST', path: '/classify', ...spec });
    expect(res.status).toBe(status);
    expect(errorCode(res.body)).toBe(code);
    expect(typeof (res.body.error as { message: string }).message).toBe('string');
  });

  test('a truncated JPEG → 422 CORRUPT_IMAGE', async () => {
    const res = await call({ method: 'POST', path: '/classify', headers: { 'content-type': 'image/jpeg' }, body: await truncatedJpeg() });
    expect([res.status, errorCode(res.body)]).toEqual([422, 'CORRUPT_IMAGE']);
  });

  test('GET /model: the served model from the core (id, input size, labels, untrained with the command that fetches the trained one)', async () => {
    const res = await call({ method: 'GET', path: '/model' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual(JSON.parse(JSON.stringify(classifier.info)));
    expect(res.body).toMatchObject({ id: TEST_MODEL_ID, inputSize: 224, numClasses: 1000, untrained: true, trained: { id: 'resnet18-v2', fetchCommand: 'npx resnet fetch resnet18-v2' } });
    expect((await call({ method: 'POST', path: '/model' })).status).toBe(404);
  });

  test('unknown route → 404 JSON; GET /classify → 405', async () => {
    expect((await call({ method: 'GET', path: '/nope' })).status).toBe(404);
    const r = await call({ method: 'GET', path: '/classify' });
    expect([r.status, errorCode(r.body)]).toEqual([405, 'METHOD_NOT_ALLOWED']);
  });

  test('presigned upload flow: POST /uploads → PUT → s3-tagger → GET /results/{key}', async () => {
    const created = await call({ method: 'POST', path: '/uploads', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ filename: 'Big Photo ü.jpg', contentType: 'image/jpeg' }) });
    expect(created.status).toBe(201);
    const { uploadUrl, key, bucket, resultPath } = created.body as { uploadUrl: string; key: string; bucket: string; resultPath: string };
    expect(bucket).toBe(BUCKET);
    expect(key).toMatch(/^uploads\/\d{4}-\d{2}-\d{2}\/[0-9a-f-]{36}-Big-Photo-ü\.jpg$/);
    expect(new URL(uploadUrl).searchParams.get('X-Amz-Expires')).toBe('900');

    const early = await call({ method: 'GET', path: resultPath, pathParameters: { key } });
    expect([early.status, errorCode(early.body)]).toEqual([404, 'RESULT_NOT_FOUND']);

    const bytes = await catJpeg();
    const put = await fetch(uploadUrl, { method: 'PUT', body: bytes, headers: { 'content-type': 'image/jpeg' } });
    expect(put.status).toBe(200);
    const head = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(head.ContentLength).toBe(bytes.length);

    const event: S3Event = s3Event({ bucket: BUCKET, key, etag: normalizeEtag(head.ETag), size: bytes.length });
    const tagger = createS3TaggerHandler(testDeps(s3.client, counting(classifier))) as unknown as (e: S3Event, c: Context) => Promise<void>;
    await tagger(event, lambdaContext('s3-tagger'));

    // API Gateway hands {key+} over decoded; rawPath stays encoded.
    const got = await call({ method: 'GET', path: resultPath, pathParameters: { key } });
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ key, bucket: BUCKET, model: TEST_MODEL_ID, etag: normalizeEtag(head.ETag) });
    expect((got.body.labels as unknown[]).length).toBe(5);
    const viaRaw = await call({ method: 'GET', path: resultPath });
    expect(viaRaw.body.key).toBe(key);
  });

  test('POST /uploads refuses non-image content types', async () => {
    const r = await call({ method: 'POST', path: '/uploads', headers: { 'content-type': 'application/json' }, body: '{"contentType":"application/pdf"}' });
    expect([r.status, errorCode(r.body)]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
  });
});
