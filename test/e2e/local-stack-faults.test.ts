/**
 * The local stack under faults: a kill -9 with uploads waiting (the restart's sweep labels every
 * one), uploads during shutdown (every one accepted gets its result; later ones are refused),
 * and a 98 MP PNG decoding while the API keeps answering.
 */
import { gradientJpeg, testClassifier, TEST_MODEL_ID } from '../integration/functions-harness.js';

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import sharp from 'sharp';

import type { Classifier } from '../../core/classifier.js';
import { LOCAL_CREDENTIALS, localS3Client, startLocalStack } from '../../local/stack.js';
import { resultKey } from '../../labelling/results.js';
import { testModelPath } from '../helpers/models.js';
import { REPO_ROOT, SYNSET_PATH, TEST_CACHE } from '../helpers/paths.js';

const BUCKET = 'faults-input';
const RESULTS = 'resnet-results/';
const LOCAL_CLIENT = { region: 'us-east-1', forcePathStyle: true, credentials: LOCAL_CREDENTIALS } as const;

/** Starts `npm start`'s entry from the sources; resolves with its endpoints once the banner is printed. */
function startChild(dataDir: string, model: string): Promise<{ child: ChildProcess; api: string; s3: string; banner: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'local/start.ts'),
    '--model', model, '--labels', SYNSET_PATH, '--model-id', 'faults-model', '--port', '0', '--s3-port', '0', '--bucket', BUCKET, '--data', dataDir, '--sweep-interval', '0'], {
    cwd: REPO_ROOT, env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'WARN' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const api = /API\s+(http:\/\/\S+)/.exec(out)?.[1];
      const s3 = /S3\s+(http:\/\/\S+)/.exec(out)?.[1];
      if (api && s3 && out.includes('Ctrl-C stops.')) resolve({ child, api, s3, banner: out });
    });
    child.once('exit', (code) => reject(new Error(`local stack exited (${code}): ${err}`)));
  });
}

const exited = (child: ChildProcess): Promise<void> => new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r())));

async function hasResult(s3: ReturnType<typeof localS3Client>, key: string, model: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: resultKey(RESULTS, BUCKET, key, model) }));
    return true;
  } catch {
    return false;
  }
}

describe('local stack under faults', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'local-faults-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('kill -9 with uploads waiting, then a restart: every upload gets its result', async () => {
    const model = await testModelPath({ depth: 18, version: 2, classes: 1000 });
    const first = await startChild(dir, model);
    const s3 = localS3Client(first.s3);
    const keys = Array.from({ length: 24 }, (_, i) => `uploads/${String(i).padStart(2, '0')} photo.jpg`);
    const body = await gradientJpeg(320, 240, 3);
    // All at once, so the tagger is still working through them when the process dies.
    await Promise.all(keys.map((key) => s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }))));
    first.child.kill('SIGKILL');
    await exited(first.child);
    s3.destroy();

    const second = await startChild(dir, model);
    const s3b = localS3Client(second.s3);
    try {
      // The queue died with the process: some uploads had no result when it was killed.
      const found = Number(/(\d+) found now/.exec(second.banner)?.[1] ?? 0);
      expect(found).toBeGreaterThan(0);
      const deadline = Date.now() + 120_000;
      let missing = keys;
      while (missing.length > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
        const have = await Promise.all(missing.map((k) => hasResult(s3b, k, 'faults-model')));
        missing = missing.filter((_, i) => !have[i]);
      }
      expect(missing).toEqual([]);
    } finally {
      second.child.kill('SIGTERM');
      await exited(second.child);
      s3b.destroy();
    }
  }, 240_000);

  test('uploads during shutdown: each one accepted gets its result before the stack stops, later ones are refused', async () => {
    const classifier: Classifier = await testClassifier();
    const stack = await startLocalStack({ classifier, port: 0, s3Port: 0, dataDir: dir, bucket: BUCKET, sweepIntervalSeconds: 0 });
    const body = await gradientJpeg(320, 240, 5);
    // A second writer, as `aws s3 cp` would be, with no retries so each answer is seen.
    const writer = new S3Client({ ...LOCAL_CLIENT, endpoint: stack.s3Endpoint, maxAttempts: 1 });
    // Enough waiting uploads that draining them takes a while (each is a ResNet-18 inference).
    const before = Array.from({ length: 40 }, (_, i) => `before/${i}.jpg`);
    for (const key of before) await writer.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
    const closed = stack.close();
    let done = false;
    void closed.then(() => (done = true));
    const accepted: string[] = [];
    let refused = 0;
    for (let i = 0; !done && i < 200; i++) {
      const key = `during/${i}.jpg`;
      try {
        await writer.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
        accepted.push(key);
      } catch (err) {
        if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 503) refused++;
        else break; // the server is gone
      }
    }
    await closed;
    writer.destroy();
    expect(refused).toBeGreaterThan(0);
    expect(stack.stats.refused).toBe(refused);
    // Read what the stopped server stored, without starting a stack (whose sweep would hide a loss).
    const stored = (key: string): boolean => existsSync(path.join(dir, BUCKET, `${resultKey(RESULTS, BUCKET, key, TEST_MODEL_ID)}._S3rver_object`));
    expect([...before, ...accepted].filter((k) => !stored(k))).toEqual([]);
  }, 120_000);

  test('the API answers while a 98 MP PNG decodes', async () => {
    const png = path.join(TEST_CACHE, 'zero-9900x9900.png');
    if (!existsSync(png)) {
      await mkdir(path.dirname(png), { recursive: true });
      await writeFile(png, await sharp({ create: { width: 9900, height: 9900, channels: 3, background: { r: 0, g: 0, b: 0 } } }).png({ compressionLevel: 9 }).toBuffer());
    }
    const bytes = await readFile(png);
    const classifier: Classifier = await testClassifier();
    const stack = await startLocalStack({ classifier, port: 0, s3Port: 0, dataDir: dir, bucket: BUCKET, sweepIntervalSeconds: 0 });
    try {
      let classified = false;
      const big = fetch(`${stack.apiUrl}/classify`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: bytes }).then(async (r) => {
        classified = true;
        return r;
      });
      const answeredDuring: number[] = [];
      while (!classified) {
        const t0 = performance.now();
        const r = await fetch(`${stack.apiUrl}/model`);
        expect(r.status).toBe(200);
        await r.json();
        if (!classified) answeredDuring.push(performance.now() - t0);
        await new Promise((r2) => setTimeout(r2, 100));
      }
      const res = await big;
      const answer = (await res.json()) as { model?: string; error?: unknown };
      expect({ status: res.status, answer }).toMatchObject({ status: 200, answer: { model: TEST_MODEL_ID } });
      // Several answers while the decode ran, none of them waiting for it (it takes seconds).
      expect(answeredDuring.length).toBeGreaterThanOrEqual(3);
      expect(Math.max(...answeredDuring)).toBeLessThan(1000);
    } finally {
      await stack.close();
    }
  }, 180_000);
});
