import { counting, testClassifier, testDeps, catJpeg, gradientJpeg, truncatedJpeg, TEXT_BYTES, pixelBombPng, TEST_MODEL_ID } from './functions-harness.js';

import { PutObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
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

interface Upload { bucket: string; key: string; url: string; method: string; fields: Record<string, string>; maxBytes: number; expiresIn: number; resultPath: string }

async function createUpload(request: { filename?: string; contentType?: string }): Promise<Upload> {
  const created = await call({ method: 'POST', path: '/uploads', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request) });
  expect(created.status).toBe(201);
  return created.body as unknown as Upload;
}

/** Sends the upload as a browser form does: the presigned fields (with `change` applied), then the file. */
async function postUpload(upload: Upload, bytes: Buffer, change: Record<string, string | undefined> = {}): Promise<{ status: number; body: string }> {
  const form = new FormData();
  const fields: Record<string, string | undefined> = { ...upload.fields, ...change };
  for (const [name, value] of Object.entries(fields)) if (value !== undefined) form.append(name, value);
  form.append('file', new Blob([bytes]), 'upload');
  const res = await fetch(upload.url, { method: 'POST', body: form });
  return { status: res.status, body: await res.text() };
}

/** The text of an S3 error document's element. */
const xml = (doc: string, element: string): string | undefined => new RegExp(`<${element}>([^<]*)</${element}>`).exec(doc)?.[1];

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

  test('presigned upload flow: POST /uploads → browser POST → s3-tagger → GET /results/{key}', async () => {
    const created = await createUpload({ filename: 'Big Photo ü.jpg', contentType: 'image/jpeg' });
    const { url, fields, key, bucket, resultPath, method, maxBytes, expiresIn } = created;
    expect([bucket, method, maxBytes, expiresIn]).toEqual([BUCKET, 'POST', 50 * 1024 * 1024, 300]);
    expect(key).toMatch(/^uploads\/\d{4}-\d{2}-\d{2}\/[0-9a-f-]{36}-Big-Photo-ü\.jpg$/);
    expect(url).toBe(`${s3.endpoint}/${BUCKET}`);
    const policy = JSON.parse(Buffer.from(fields.Policy!, 'base64').toString('utf8')) as { expiration: string; conditions: unknown[] };
    expect(policy.conditions).toEqual(expect.arrayContaining([
      ['content-length-range', 1, 50 * 1024 * 1024],
      ['starts-with', '$Content-Type', 'image/'],
      ['starts-with', '$key', 'uploads/'],
      { key },
      { 'Content-Type': 'image/jpeg' },
    ]));
    expect(Date.parse(policy.expiration) - Date.now()).toBeGreaterThan(290_000);
    expect(Date.parse(policy.expiration) - Date.now()).toBeLessThanOrEqual(300_000);

    const early = await call({ method: 'GET', path: resultPath, pathParameters: { key } });
    expect([early.status, errorCode(early.body)]).toEqual([404, 'RESULT_NOT_FOUND']);

    const bytes = await catJpeg();
    const post = await postUpload(created, bytes);
    expect(post.status).toBe(204);
    const head = await s3.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    expect([head.ContentLength, head.ContentType]).toEqual([bytes.length, 'image/jpeg']);

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

  test('an upload over MAX_OBJECT_BYTES (50 MiB) is refused 400 EntityTooLarge and nothing is stored', async () => {
    const created = await createUpload({ filename: 'huge.jpg', contentType: 'image/jpeg' });
    const res = await postUpload(created, Buffer.alloc(50 * 1024 * 1024 + 1, 0xff));
    expect(res.status).toBe(400);
    expect(xml(res.body, 'Code')).toBe('EntityTooLarge');
    expect([xml(res.body, 'ProposedSize'), xml(res.body, 'MaxSizeAllowed')]).toEqual([String(50 * 1024 * 1024 + 1), String(50 * 1024 * 1024)]);
    await expect(s3.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: created.key }))).rejects.toMatchObject({ name: 'NotFound' });
  });

  test('the bound is the configured MAX_OBJECT_BYTES: its last byte is accepted, one more refused; an empty file too', async () => {
    const small = createClassifyApiHandler(testDeps(s3.client, classifier, { maxObjectBytes: 4096 })) as unknown as Api;
    const create = async () => JSON.parse((await small(httpEvent({ method: 'POST', path: '/uploads', headers: { 'content-type': 'application/json' }, body: '{"contentType":"image/png"}' }), lambdaContext('classify-api'))).body!) as Upload;
    const [atLimit, over, empty] = await Promise.all([create(), create(), create()]);
    expect(atLimit.maxBytes).toBe(4096);
    expect((await postUpload(atLimit, Buffer.alloc(4096, 1))).status).toBe(204);
    expect((await s3.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: atLimit.key }))).ContentLength).toBe(4096);
    const refused = await postUpload(over, Buffer.alloc(4097, 1));
    expect([refused.status, xml(refused.body, 'Code')]).toEqual([400, 'EntityTooLarge']);
    const none = await postUpload(empty, Buffer.alloc(0));
    expect([none.status, xml(none.body, 'Code')]).toEqual([400, 'EntityTooSmall']);
    for (const u of [over, empty]) await expect(s3.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: u.key }))).rejects.toMatchObject({ name: 'NotFound' });
  });

  test.each([
    ['a non-image Content-Type where the caller picks it', {}, { 'Content-Type': 'text/plain' }],
    ['no Content-Type where the caller picks it', {}, {}],
    ['a Content-Type other than the one presigned', { contentType: 'image/png' }, { 'Content-Type': 'image/svg+xml' }],
    ['a key outside the presigned one', { contentType: 'image/png' }, { key: 'elsewhere/x.png' }],
    ['a form field the policy does not name', { contentType: 'image/png' }, { 'x-amz-meta-owner': 'me' }],
    ['no policy', { contentType: 'image/png' }, { Policy: undefined }],
  ])('the local S3 refuses a POST with %s: 403 AccessDenied, nothing stored', async (_, request, change) => {
    const created = await createUpload(request);
    const res = await postUpload(created, await gradientJpeg(64, 48), change);
    expect([res.status, xml(res.body, 'Code')]).toEqual([403, 'AccessDenied']);
    for (const key of [created.key, 'elsewhere/x.png']) {
      await expect(s3.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }))).rejects.toMatchObject({ name: 'NotFound' });
    }
  });

  test('without contentType the caller adds an image/* Content-Type field itself', async () => {
    const created = await createUpload({});
    expect(created.fields['Content-Type']).toBeUndefined();
    expect(created.key).toMatch(/-image$/);
    const res = await postUpload(created, await gradientJpeg(64, 48), { 'Content-Type': 'image/jpeg' });
    expect(res.status).toBe(204);
    expect((await s3.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: created.key }))).ContentType).toBe('image/jpeg');
  });

  test.each(['application/pdf', 'application/octet-stream', 'image/', 'text/plain'])('POST /uploads refuses contentType %s with 415', async (contentType) => {
    const r = await call({ method: 'POST', path: '/uploads', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ contentType }) });
    expect([r.status, errorCode(r.body)]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
  });
});
