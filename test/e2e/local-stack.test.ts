import { testClassifier, gradientJpeg, catJpeg, TEXT_BYTES, TEST_MODEL_ID } from '../integration/functions-harness.js';

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { GetObjectTaggingCommand, PutObjectCommand } from '@aws-sdk/client-s3';

import type { Classifier } from '../../core/classifier.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { testModelPath } from '../helpers/models.js';
import { REPO_ROOT, SYNSET_PATH } from '../helpers/paths.js';

let stack: LocalStack;
let classifier: Classifier;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'local-stack-'));
  classifier = await testClassifier();
  stack = await startLocalStack({ classifier, port: 0, s3Port: 0, dataDir: dir, bucket: 'e2e-input' });
}, 180_000);
afterAll(async () => {
  await stack?.close();
  await classifier?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('local stack', () => {
  test('an SDK upload is tagged by the s3-tagger; the result is served by GET /results/{key}', async () => {
    const key = 'photos/ünïcode cat+1.jpg';
    await stack.s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: key, Body: await catJpeg() }));
    await stack.idle();
    const tags = await stack.s3.send(new GetObjectTaggingCommand({ Bucket: stack.bucket, Key: key }));
    expect(tags.TagSet?.find((t) => t.Key === 'resnet:model')?.Value).toBe(TEST_MODEL_ID);
    const res = await fetch(`${stack.apiUrl}/results/${encodeURIComponent(key)}`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { key: string; labels: { name: string }[] };
    expect(doc.key).toBe(key);
    expect(tags.TagSet?.find((t) => t.Key === 'resnet:label1')?.Value).toBe(doc.labels[0]!.name.replace(/\s*,\s*/g, ' / ').replace(/'/g, ''));
  });

  test('POST /classify with a raw binary body; 413 above 10 MB and above 6 MB once base64; 415 for text', async () => {
    const ok = await fetch(`${stack.apiUrl}/classify?top=2`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: await gradientJpeg() });
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { model: string; labels: unknown[] };
    expect([body.model, body.labels.length]).toEqual([TEST_MODEL_ID, 2]);

    const big = await fetch(`${stack.apiUrl}/classify`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: Buffer.alloc(11 * 1024 * 1024, 7) });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { code: string } }).error.code).toBe('PAYLOAD_TOO_LARGE');

    // Under API Gateway's 10 MB but over Lambda's 6 MB event once base64-encoded.
    const mid = await fetch(`${stack.apiUrl}/classify`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: Buffer.alloc(5 * 1024 * 1024, 7) });
    expect(mid.status).toBe(413);
    expect(((await mid.json()) as { error: { message: string } }).error.message).toContain('6 MB');

    const text = await fetch(`${stack.apiUrl}/classify`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: TEXT_BYTES });
    expect(text.status).toBe(415);
  });

  test('presigned upload through the API ends in a result', async () => {
    const created = (await (await fetch(`${stack.apiUrl}/uploads`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"filename":"big.jpg","contentType":"image/jpeg"}' })).json()) as {
      url: string; resultPath: string; fields: Record<string, string>;
    };
    const form = new FormData();
    for (const [name, value] of Object.entries(created.fields)) form.append(name, value);
    form.append('file', new Blob([await gradientJpeg(400, 300, 9)]), 'big.jpg');
    const post = await fetch(created.url, { method: 'POST', body: form });
    expect(post.status).toBe(204);
    await stack.idle();
    const res = await fetch(`${stack.apiUrl}${created.resultPath}`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { labels: unknown[] }).labels).toHaveLength(5);
  });

  test('over the concurrency limit and queue, requests get 429 THROTTLED, the rest succeed', async () => {
    // Each request holds its slot for 300 ms, so six concurrent ones overlap whatever the machine's speed.
    const slow = {
      modelId: classifier.modelId,
      numClasses: classifier.numClasses,
      info: classifier.info,
      classify: async (b: Uint8Array, o?: { top?: number }) => {
        await new Promise((r) => setTimeout(r, 300));
        return classifier.classify(b, o);
      },
      rekognitionOptions: classifier.rekognitionOptions.bind(classifier),
      toRekognition: classifier.toRekognition.bind(classifier),
    };
    const small = await startLocalStack({ classifier: slow, port: 0, s3Port: 0, dataDir: path.join(dir, 'small'), concurrency: 1, queue: 1 });
    try {
      const img = await gradientJpeg(400, 400, 3);
      const all = await Promise.all(Array.from({ length: 6 }, () => fetch(`${small.apiUrl}/classify`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: img })));
      const statuses = all.map((r) => r.status).sort();
      expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(2);
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(1);
      expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
      const throttled = all.find((r) => r.status === 429)!;
      expect(throttled.headers.get('retry-after')).toBe('1');
      expect(((await throttled.json()) as { error: { code: string } }).error.code).toBe('THROTTLED');
    } finally {
      await small.close();
    }
  });
});

describe('local/start.ts (the npm start entry)', () => {
  function run(args: string[], env: Record<string, string> = {}) {
    const child = spawn(process.execPath, ['--import', 'tsx', 'local/start.ts', ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    return { child, output: () => out, exited };
  }

  test('starts with --model path --labels, prints its endpoints, serves /classify, stops on SIGINT', async () => {
    const model = await testModelPath({ depth: 18, version: 2, classes: 1000 });
    const p = run(['--model', model, '--labels', SYNSET_PATH, '--port', '0', '--s3-port', '0', '--data', path.join(dir, 'cli')]);
    const deadline = Date.now() + 90_000;
    while (!p.output().includes('Ctrl-C stops') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    const api = /API\s+(http:\/\/\S+)/.exec(p.output())?.[1];
    expect(api).toBeDefined();
    expect(p.output()).toMatch(/S3\s+http:\/\/127\.0\.0\.1:\d+/);
    expect(p.output()).toContain('s3://resnet-input/');
    const res = await fetch(`${api}/classify`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: await gradientJpeg() });
    expect(res.status).toBe(200);
    p.child.kill('SIGINT');
    expect(await p.exited).toBe(0);
  }, 120_000);

  test('a zoo model that is not cached, with --no-download, fails with a clear message and exit code 2', async () => {
    const empty = await mkdtemp(path.join(os.tmpdir(), 'empty-cache-'));
    const p = run(['--model', 'resnet152-v1', '--no-download', '--port', '0', '--s3-port', '0', '--data', path.join(dir, 'cli2')], { RESNET_CACHE_DIR: empty });
    expect(await p.exited).toBe(2);
    expect(p.output()).toContain('--model path/to/model.onnx');
    expect(p.output()).toContain('npm start -- --demo');
    await rm(empty, { recursive: true, force: true });
  }, 60_000);

  test('offline with no model chosen, it serves an untrained demo model and says so', async () => {
    const empty = await mkdtemp(path.join(os.tmpdir(), 'offline-cache-'));
    // A closed local port stands in for "no internet": the download fails at once.
    const p = run(['--port', '0', '--s3-port', '0', '--data', path.join(dir, 'cli3')], { RESNET_CACHE_DIR: empty, RESNET_MODEL_BASE_URL: 'http://127.0.0.1:9' });
    const deadline = Date.now() + 90_000;
    while (!p.output().includes('Ctrl-C stops') && Date.now() < deadline && p.child.exitCode === null) await new Promise((r) => setTimeout(r, 200));
    expect(p.output()).toContain('UNTRAINED weights');
    expect(p.output()).toMatch(/model\s+resnet50-v2-untrained/);
    const api = /API\s+(http:\/\/\S+)/.exec(p.output())![1];
    const res = await fetch(`${api}/classify`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: await gradientJpeg() });
    const body = (await res.json()) as { model: string; labels: Array<{ index: number; id: string; name: string }> };
    expect(body.model).toBe('resnet50-v2-untrained');
    expect(body.labels[0]!.name).toBe(`untrained-class-${body.labels[0]!.index}`);
    p.child.kill('SIGINT');
    expect(await p.exited).toBe(0);
    await rm(empty, { recursive: true, force: true });
  }, 120_000);
});
