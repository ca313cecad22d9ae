/**
 * The classify API's routes (HTTP API payload v2), kept out of handler.ts so the handler stays a
 * thin middy wrapper. Every error leaves as `{error:{code,message}}` via middleware.ts.
 */
import { randomUUID } from 'node:crypto';

import type { PresignedPostOptions } from '@aws-sdk/s3-presigned-post';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

import { InvalidArgumentError } from '../../core/errors.js';
import { parseLabelOptions } from '../../core/hierarchy/options.js';
import type { FunctionDeps } from '../common/deps.js';
import { fetchObject } from '../../labelling/label-object.js';
import { isValidObjectKey } from '../../labelling/events.js';
import { HttpError } from '../common/middleware.js';
import { wholeNumberParam } from '../common/query.js';
import { readResult, resultKey } from '../../labelling/results.js';

type Response = APIGatewayProxyStructuredResultV2;

function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): Response {
  return { statusCode, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

function mediaType(event: APIGatewayProxyEventV2): string {
  return (event.headers?.['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

function rawBody(event: APIGatewayProxyEventV2): Buffer {
  if (event.body === undefined || event.body === null) return Buffer.alloc(0);
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body, 'utf8');
}

function parseJson(event: APIGatewayProxyEventV2): Record<string, unknown> {
  const text = rawBody(event).toString('utf8');
  if (text.trim() === '') return {};
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through to the 400 below
  }
  throw new HttpError(400, 'MALFORMED_REQUEST', 'The body is not a JSON object.');
}

function tooLarge(bytes: number, limit: number): HttpError {
  return new HttpError(
    413,
    'PAYLOAD_TOO_LARGE',
    `The image is ${bytes} bytes, over the ${limit}-byte limit of a synchronous request; upload it with POST /uploads and read GET /results/{key}.`,
  );
}

/** An S3 object key from the client, as {@link isValidObjectKey} allows. */
function objectKey(v: unknown, what: string): string {
  if (typeof v !== 'string' || v === '') throw new HttpError(400, 'MALFORMED_REQUEST', `${what} must be a non-empty object key.`);
  if (!isValidObjectKey(v)) throw new HttpError(400, 'MALFORMED_REQUEST', `${what} is not a valid S3 object key (at most 1,024 bytes of UTF-8, no NUL).`);
  return v;
}

/** Decodes `{"image": "<base64 or data: URL>"}`. */
function base64Image(v: unknown): Buffer {
  if (typeof v !== 'string') throw new HttpError(400, 'MALFORMED_REQUEST', '"image" must be a base64 string.');
  const data = v.replace(/^data:[^;,]*;base64,/, '').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(data)) throw new HttpError(400, 'MALFORMED_REQUEST', '"image" is not valid base64.');
  return Buffer.from(data, 'base64');
}

async function imageBytes(event: APIGatewayProxyEventV2, deps: FunctionDeps): Promise<Uint8Array> {
  const { config } = deps;
  const type = mediaType(event);
  if (type === 'application/json') {
    const body = parseJson(event);
    if (body.image !== undefined) return base64Image(body.image);
    const s3 = body.s3 as { bucket?: unknown; key?: unknown } | undefined;
    if (typeof s3?.bucket !== 'string' || typeof s3.key !== 'string' || s3.key === '') {
      throw new HttpError(400, 'MALFORMED_REQUEST', 'A JSON body must be {"s3":{"bucket":"...","key":"..."}} or {"image":"<base64>"}.');
    }
    objectKey(s3.key, 's3.key');
    if (config.inputBucket !== undefined && s3.bucket !== config.inputBucket) {
      throw new HttpError(403, 'BUCKET_NOT_ALLOWED', `This API reads only from bucket "${config.inputBucket}".`);
    }
    const got = await fetchObject(deps.s3, { bucket: s3.bucket, key: s3.key }, { maxBytes: config.maxObjectBytes });
    if (got.kind === 'missing') throw new HttpError(404, 'OBJECT_NOT_FOUND', `s3://${s3.bucket}/${s3.key} does not exist.`);
    if (got.kind === 'too-large') throw tooLarge(got.src.size, config.maxObjectBytes);
    if (got.kind !== 'ok') throw new Error('unconditional GetObject answered 304');
    return got.bytes;
  }
  if (type !== '' && !type.startsWith('image/') && type !== 'application/octet-stream') {
    throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', `Content-Type ${type} is not accepted; send image/* bytes or application/json.`);
  }
  const bytes = rawBody(event);
  if (bytes.length > config.maxBodyBytes) throw tooLarge(bytes.length, config.maxBodyBytes);
  return bytes;
}

function topParam(event: APIGatewayProxyEventV2, dflt: number, max: number): number {
  const raw = event.queryStringParameters?.top;
  if (raw === undefined) return Math.min(dflt, max);
  const n = wholeNumberParam(raw, 1, max, 7);
  if (n === null) throw new HttpError(400, 'INVALID_ARGUMENT', `top must be a whole number from 1 to ${max}, got "${raw}".`);
  return n;
}

/**
 * POST /classify: image bytes (binary/base64) or JSON → `{model, labels, parents, timingsMs}`, or
 * with `format=rekognition` DetectLabels' response shape. DetectLabels' options come as query
 * parameters (minConfidence, maxLabels, include/exclude lists, parents), parsed by the core.
 */
export async function classify(event: APIGatewayProxyEventV2, deps: FunctionDeps): Promise<Response> {
  const classifier = await deps.classifier();
  const q = event.queryStringParameters ?? {};
  if (q.model !== undefined && q.model !== classifier.modelId) {
    throw new HttpError(400, 'UNKNOWN_MODEL', `Model "${q.model}" is not deployed here; this endpoint serves ${classifier.modelId}.`);
  }
  const format = q.format ?? 'resnet';
  if (format !== 'resnet' && format !== 'rekognition') throw new InvalidArgumentError(`format must be resnet or rekognition, got "${format}".`);
  const top = topParam(event, deps.config.topK, classifier.numClasses);
  const labels = parseLabelOptions(q);
  const bytes = await imageBytes(event, deps);
  if (format === 'rekognition') {
    return json(200, classifier.toRekognition(await classifier.classify(bytes, classifier.rekognitionOptions(labels)), labels));
  }
  const result = await classifier.classify(bytes, { top, labels });
  return json(200, { model: result.model, labels: result.labels, parents: result.parents, timingsMs: result.timingsMs });
}

/** Keeps a client's file name readable but safe as the last key segment. */
function safeName(name: unknown): string {
  const s = typeof name === 'string' ? name.normalize('NFC').replace(/[^\p{L}\p{N}._-]+/gu, '-').replace(/^[-.]+/, '') : '';
  return Array.from(s).slice(-100).join('') || 'image';
}

/**
 * POST /uploads: `{filename?, contentType?}` → a presigned POST (URL + form fields) under
 * UPLOADS_PREFIX. Its policy bounds what S3 accepts to what the labeller reads: 1 to
 * MAX_OBJECT_BYTES bytes (larger objects only ever get IMAGE_TOO_LARGE) and a Content-Type that
 * starts with `image/`. Without `contentType` the caller adds the `Content-Type` field itself.
 */
export async function createUpload(event: APIGatewayProxyEventV2, deps: FunctionDeps): Promise<Response> {
  const { config } = deps;
  if (config.inputBucket === undefined) throw new Error('INPUT_BUCKET is not configured');
  const body = parseJson(event);
  const contentType = typeof body.contentType === 'string' ? body.contentType.toLowerCase() : undefined;
  if (contentType !== undefined && !/^image\/[a-z0-9.+-]+$/.test(contentType)) {
    throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', `contentType ${JSON.stringify(contentType)} is not an image type; send image/jpeg, image/png, image/webp or another image/* type.`);
  }
  const day = new Date().toISOString().slice(0, 10);
  const key = `${config.uploadsPrefix}${day}/${randomUUID()}-${safeName(body.filename)}`;
  // Loaded on first use: most containers never presign, and their cold start need not load it.
  const { createPresignedPost } = await import('@aws-sdk/s3-presigned-post');
  const { url, fields } = await createPresignedPost(deps.s3, {
    Bucket: config.inputBucket,
    Key: key,
    Conditions: uploadConditions(config.uploadsPrefix, config.maxObjectBytes),
    Fields: contentType === undefined ? {} : { 'Content-Type': contentType },
    Expires: config.uploadUrlTtl,
  });
  return json(201, {
    bucket: config.inputBucket,
    key,
    url,
    method: 'POST',
    fields,
    maxBytes: config.maxObjectBytes,
    expiresIn: config.uploadUrlTtl,
    resultPath: `/results/${encodeURIComponent(key)}`,
  });
}

/** The upload policy's own conditions (the SDK adds the exact key, bucket and signing fields). */
export function uploadConditions(uploadsPrefix: string, maxBytes: number): NonNullable<PresignedPostOptions['Conditions']> {
  return [
    ['content-length-range', 1, maxBytes],
    ['starts-with', '$Content-Type', 'image/'],
    ['starts-with', '$key', uploadsPrefix],
  ];
}

/** GET /results/{key}: the stored result document of an object in the input bucket. */
export async function getResult(event: APIGatewayProxyEventV2, deps: FunctionDeps): Promise<Response> {
  const { config } = deps;
  if (config.inputBucket === undefined) throw new Error('INPUT_BUCKET is not configured');
  let fromPath: string;
  try {
    fromPath = event.pathParameters?.key ?? decodeURIComponent(event.rawPath.replace(/^\/results\//, ''));
  } catch {
    throw new HttpError(400, 'MALFORMED_REQUEST', 'The key in GET /results/{key} has a malformed percent escape.');
  }
  if (fromPath === '') throw new HttpError(400, 'MALFORMED_REQUEST', 'GET /results/{key} needs an object key.');
  objectKey(fromPath, 'The key in GET /results/{key}');
  const classifier = await deps.classifier();
  const rk = resultKey(config.resultsPrefix, config.inputBucket, fromPath, classifier.modelId);
  const stored = await readResult(deps.s3, config.resultsBucket ?? config.inputBucket, rk);
  if (stored === null) {
    throw new HttpError(404, 'RESULT_NOT_FOUND', `No result for "${fromPath}" yet; labelling takes a few seconds after the upload, retry.`, {
      headers: { 'retry-after': '2' },
    });
  }
  return json(200, stored.doc);
}

/** GET /model: what the endpoint serves (id, input size, classes, untrained or not), from the core. */
export async function getModel(deps: FunctionDeps): Promise<Response> {
  const classifier = await deps.classifier();
  return json(200, classifier.info, { 'cache-control': 'no-cache' });
}

/** Routes an HTTP API event; unknown routes are 404 JSON. */
export async function route(event: APIGatewayProxyEventV2, deps: FunctionDeps): Promise<Response> {
  const method = event.requestContext.http.method.toUpperCase();
  const path = event.rawPath;
  if (path === '/classify') {
    if (method !== 'POST') throw new HttpError(405, 'METHOD_NOT_ALLOWED', 'Use POST /classify.', { headers: { allow: 'POST' } });
    return classify(event, deps);
  }
  if (path === '/model' && method === 'GET') return getModel(deps);
  if (path === '/uploads' && method === 'POST') return createUpload(event, deps);
  if (path.startsWith('/results/') && method === 'GET') return getResult(event, deps);
  throw new HttpError(404, 'NOT_FOUND', `No route ${method} ${path}; see the OpenAPI document (api/openapi.yaml).`);
}
