/**
 * Hostile requests against the local stack (the classify API handler behind the HTTP adapter, and
 * the s3-tagger on S3 events): oversized and empty bodies, wrong content types, prototype keys in
 * JSON, path tricks in GET /results/{key}, bad `top` values, odd S3 keys and an object under the
 * results prefix. Every answer is a JSON error with the right status, never a 500; memory stays
 * bounded while a 200 MB body is refused; and afterwards the stack still labels a good upload.
 */
import { testClassifier, gradientJpeg, TEST_MODEL_ID } from '../integration/functions-harness.js';

import http from 'node:http';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { GetObjectTaggingCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';

import type { Classifier } from '../../core/classifier.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';

let stack: LocalStack;
let classifier: Classifier;
let dir: string;
let good: Buffer;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'local-stack-edges-'));
  classifier = await testClassifier();
  stack = await startLocalStack({ classifier, port: 0, s3Port: 0, dataDir: dir, bucket: 'edge-input' });
  good = await gradientJpeg(160, 120, 3);
}, 180_000);
afterAll(async () => {
  await stack?.close();
  await classifier?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The error code of a JSON error answer. */
async function errorCode(res: Response): Promise<string> {
  return ((await res.json()) as { error: { code: string } }).error.code;
}

/**
 * POSTs `total` bytes to /classify from a generator (the client never holds the body), with or
 * without a Content-Length; resolves with the status once the server answers.
 */
function streamPost(total: number, declareLength: boolean): Promise<{ status: number; code: string; sent: number }> {
  const url = new URL(`${stack.apiUrl}/classify`);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'content-type': 'image/jpeg' };
    if (declareLength) headers['content-length'] = String(total);
    const req = http.request({ hostname: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers });
    const chunk = Buffer.alloc(1 << 20, 0xab);
    let sent = 0;
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => {
        const body = Buffer.concat(parts).toString('utf8');
        resolve({ status: res.statusCode ?? 0, code: (JSON.parse(body) as { error: { code: string } }).error.code, sent });
        req.destroy();
      });
    });
    // The server closes the connection after refusing; writes then fail, which is expected.
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    const pump = (): void => {
      while (!answered && sent < total) {
        sent += chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      if (!answered) req.end();
    };
    pump();
  });
}

describe('request bodies', () => {
  test('0 bytes: 400 EMPTY_INPUT', async () => {
    const res = await fetch(`${stack.apiUrl}/classify`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: new Uint8Array(0) });
    expect([res.status, await errorCode(res)]).toEqual([400, 'EMPTY_INPUT']);
  });

  test('20 MB: 413 PAYLOAD_TOO_LARGE', async () => {
    const res = await fetch(`${stack.apiUrl}/classify`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: Buffer.alloc(20 << 20, 1) });
    expect([res.status, await errorCode(res)]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
  });

  test.each([
    ['declared in Content-Length', true],
    ['chunked, no Content-Length', false],
  ])('200 MB %s: 413 while the process grows by far less than the body', async (_name, declared) => {
    global.gc?.();
    const before = process.memoryUsage.rss();
    let peak = before;
    const watch = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 10);
    const r = await streamPost(200 << 20, declared);
    clearInterval(watch);
    expect([r.status, r.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    // The server stops buffering at the 10 MB limit (or at the header) and discards the rest.
    expect(peak - before).toBeLessThan(80 << 20);
  });
});

describe('content types and JSON', () => {
  test.each([
    ['text/plain', 'hello', 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['application/xml', '<image/>', 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['multipart/form-data; boundary=x', '--x\r\n\r\n--x--', 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['image/jpeg', 'not a jpeg at all', 415, 'UNSUPPORTED_FORMAT'],
    ['application/json', '{"image": 12}', 400, 'MALFORMED_REQUEST'],
    ['application/json', '[1,2,3]', 400, 'MALFORMED_REQUEST'],
    ['application/json', '{"image": "not base64!!"}', 400, 'MALFORMED_REQUEST'],
    ['application/json', '{"s3": {"bucket": "other", "key": "k"}}', 403, 'BUCKET_NOT_ALLOWED'],
    ['application/json', '{"s3": {"bucket": "edge-input", "key": "a\\u0000b"}}', 400, 'MALFORMED_REQUEST'],
    ['application/json', `{"s3": {"bucket": "edge-input", "key": "${'k'.repeat(1025)}"}}`, 400, 'MALFORMED_REQUEST'],
  ])('%s body #%#: %d %s', async (type, body, status, code) => {
    const res = await fetch(`${stack.apiUrl}/classify`, { method: 'POST', headers: { 'content-type': type }, body });
    expect([res.status, await errorCode(res)]).toEqual([status, code]);
  });

  test.each([
    '{"__proto__": {"image": "AAAA", "s3": {"bucket": "edge-input", "key": "x"}}}',
    '{"constructor": {"prototype": {"image": "AAAA", "polluted": true}}}',
    '{"s3": {"__proto__": {"bucket": "edge-input", "key": "x"}}}',
    '{"image": {"__proto__": "AAAA"}}',
  ])('prototype keys are plain data: %s is 400 and pollutes nothing', async (body) => {
    const res = await fetch(`${stack.apiUrl}/classify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect([res.status, await errorCode(res)]).toEqual([400, 'MALFORMED_REQUEST']);
    const upload = await fetch(`${stack.apiUrl}/uploads`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(upload.status).toBe(201);
    expect(((await upload.json()) as { key: string }).key).toMatch(/-image$/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).image).toBeUndefined();
  });
});

describe('GET /results/{key}', () => {
  test.each([
    ['../', '/results/../../etc/passwd'],
    ['encoded ../', '/results/..%2F..%2F..%2F..%2Fetc%2Fpasswd'],
    ['%2e%2e', '/results/%2e%2e/%2e%2e/%2e%2e/etc/passwd'],
    ['absolute path', '/results//etc/passwd'],
    ['encoded absolute path', '/results/%2Fetc%2Fpasswd'],
    ['backslashes', '/results/..%5C..%5Cwindows'],
    ['a 2 KB key', `/results/${'k'.repeat(2048)}`],
    ['a NUL byte', '/results/a%00b'],
    ['an empty key', '/results/'],
  ])('%s: a JSON 404 or 400, never another file', async (_name, p) => {
    const res = await fetch(`${stack.apiUrl}${p}`);
    expect([400, 404]).toContain(res.status);
    const code = await errorCode(res);
    expect(['RESULT_NOT_FOUND', 'MALFORMED_REQUEST', 'NOT_FOUND']).toContain(code);
  });

  test('a malformed percent escape is 400, not 500', async () => {
    const res = await fetch(`${stack.apiUrl}/results/%E0%A4%A`);
    expect([res.status, await errorCode(res)]).toEqual([400, 'MALFORMED_REQUEST']);
  });

  test('the S3 data folder holds only the bucket after the path tricks', async () => {
    // s3rver keeps objects as files: a key escaping its folder would show up beside the bucket.
    expect((await readdir(dir)).sort()).toEqual(['edge-input']);
  });
});

describe('GET /objects/{key} (the web page\'s object view)', () => {
  test.each([
    ['a 2 KB key', `/objects/${'k'.repeat(2048)}`],
    ['a NUL byte', '/objects/a%00b'],
  ])('%s: 400 MALFORMED_REQUEST before S3 is asked', async (_name, p) => {
    const res = await fetch(`${stack.apiUrl}${p}`);
    expect([res.status, await errorCode(res)]).toEqual([400, 'MALFORMED_REQUEST']);
  });
});

describe('GET /recent paging', () => {
  test.each(['limit=0x10', 'limit=1e1', 'limit=%205', 'offset=-1', 'offset=1.5', 'limit=', 'limit=0', 'limit=101'])('%s: 400 INVALID_ARGUMENT', async (q) => {
    const res = await fetch(`${stack.apiUrl}/recent?${q}`);
    expect([res.status, await errorCode(res)]).toEqual([400, 'INVALID_ARGUMENT']);
  });

  test('limit=10&offset=0 is a page', async () => {
    expect((await fetch(`${stack.apiUrl}/recent?limit=10&offset=0`)).status).toBe(200);
  });
});

describe('top', () => {
  test.each(['-1', '0', '100000', 'abc', '1.5', '', '1e400', '0x10', '1e2', ' 5'])('top=%j: 400 INVALID_ARGUMENT', async (top) => {
    const res = await fetch(`${stack.apiUrl}/classify?top=${encodeURIComponent(top)}`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: good });
    expect([res.status, await errorCode(res)]).toEqual([400, 'INVALID_ARGUMENT']);
  });

  test('top=1000 (every class) is allowed', async () => {
    const res = await fetch(`${stack.apiUrl}/classify?top=1000`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: good });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { labels: unknown[] }).labels).toHaveLength(1000);
  });
});

describe('S3 keys', () => {
  const keys = [
    ['a newline', 'edges/line\nbreak.jpg'],
    ['unicode', 'edges/фото 猫 🐈.jpg'],
    ['plus signs', 'edges/a+b+c.jpg'],
    // Segments under 255 bytes: s3rver stores each as a file name. The result key is then over S3's limit (hashed).
    ['1,024 bytes', `edges/${Array.from({ length: 5 }, (_, i) => String(i).repeat(199)).join('/')}/${'y'.repeat(1024 - 6 - 5 * 200 - 4)}.jpg`],
  ] as const;

  test.each(keys)('%s: labelled, with a result served by GET /results/{key}', async (_name, key) => {
    expect(Buffer.byteLength(key)).toBeLessThanOrEqual(1024);
    if (_name === '1,024 bytes') expect(Buffer.byteLength(key)).toBe(1024);
    await stack.s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: key, Body: good }));
    await stack.idle();
    const tags = await stack.s3.send(new GetObjectTaggingCommand({ Bucket: stack.bucket, Key: key }));
    expect(tags.TagSet?.find((t) => t.Key === 'resnet:model')?.Value).toBe(TEST_MODEL_ID);
    const res = await fetch(`${stack.apiUrl}/results/${encodeURIComponent(key)}`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { key: string }).key).toBe(key);
  });

  test('an image under the results prefix is not labelled (no recursion)', async () => {
    const before = { ...stack.stats };
    const key = `${stack.resultsPrefix}planted.jpg`;
    await stack.s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: key, Body: good }));
    await stack.idle();
    expect(stack.stats).toEqual(before);
    const tags = await stack.s3.send(new GetObjectTaggingCommand({ Bucket: stack.bucket, Key: key }));
    expect(tags.TagSet ?? []).toEqual([]);
    const nested = await stack.s3.send(new ListObjectsV2Command({ Bucket: stack.bucket, Prefix: `${stack.resultsPrefix}${stack.modelId}/${stack.bucket}/${stack.resultsPrefix}` }));
    expect(nested.KeyCount ?? 0).toBe(0);
  });
});

describe('after the storm', () => {
  test('a good upload is still labelled, and POST /classify still answers', async () => {
    const key = 'edges/after-the-storm.jpg';
    await stack.s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: key, Body: good }));
    await stack.idle();
    const res = await fetch(`${stack.apiUrl}/results/${encodeURIComponent(key)}`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { labels: unknown[] }).labels).toHaveLength(5);
    const direct = await fetch(`${stack.apiUrl}/classify?top=3`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: good });
    expect(direct.status).toBe(200);
    expect(((await direct.json()) as { labels: unknown[] }).labels).toHaveLength(3);
  });
});
