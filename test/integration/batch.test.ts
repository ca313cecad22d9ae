/**
 * The batch worker end to end against a real local S3 server (s3rver) with a generated
 * ResNet-18: 500 generated JPEGs (+ 3 bad ones) labelled; a rerun does no work; kill -9 then
 * rerun loses and repeats nothing; SIGTERM drains and flushes; shards are disjoint and complete;
 * an S3 restart mid-run is retried; batch output equals the s3-tagger's for the same image. The
 * per-object S3 requests run on the main thread or in I/O threads: both are tested.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { GetObjectTaggingCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import sharp from 'sharp';

import { runBatch } from '../../batch/run-batch.js';
import type { ManifestLine } from '../../batch/sources/manifest.js';
import { Classifier } from '../../core/classifier.js';
import { labelObject } from '../../labelling/label-object.js';
import { parseResult, resultKey, stableBody, type ResultDoc } from '../../labelling/results.js';
import { withEnv } from '../helpers/env.js';
import { testModelPath } from '../helpers/models.js';
import { REPO_ROOT, SYNSET_PATH } from '../helpers/paths.js';
import { startLocalS3, type LocalS3 } from '../helpers/s3.js';

jest.setTimeout(240_000);

const BUCKET = 'photos';
const PREFIX = 'resnet-results/';
const N = 500;
let s3: LocalS3;
let client: S3Client;
let modelPath: string;
let tmp: string;
const keys: string[] = [];

/** A 64×48 JPEG whose colours depend on `i` (a gradient over a per-image base colour). */
async function makeJpeg(i: number): Promise<Buffer> {
  const w = 64;
  const h = 48;
  const px = Buffer.alloc(w * h * 3);
  const base = [(i * 53) % 256, (i * 97) % 256, (i * 29) % 256];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      px[o] = (base[0]! + x * 3) % 256;
      px[o + 1] = (base[1]! + y * 4) % 256;
      px[o + 2] = (base[2]! + ((x * y) % 64)) % 256;
    }
  }
  return sharp(px, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
}

async function mapLimit<T>(items: readonly T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

async function listKeys(prefix: string): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) out.push(o.Key!);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

async function readDoc(key: string): Promise<ResultDoc> {
  const { GetObjectCommand } = await import('@aws-sdk/client-s3');
  const out = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return parseResult(await out.Body!.transformToString('utf8'));
}

async function readManifest(file: string): Promise<ManifestLine[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as ManifestLine);
}

const quiet = { tty: 'off' as const };
const baseOpts = () => ({
  model: modelPath,
  labels: SYNSET_PATH,
  ep: 'cpu' as const,
  threads: 2,
  workers: 1,
  s3: client,
  progress: quiet,
  log: () => undefined,
  resultsPrefix: PREFIX,
});

/**
 * Runs `fn` with the environment the batch worker's own S3 clients are built from (the CLI's
 * --endpoint sets the same), so that its S3 I/O threads reach the local server.
 */
function withS3Env<T>(fn: () => Promise<T>): Promise<T> {
  return withEnv({ AWS_ENDPOINT_URL_S3: s3.endpoint, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' }, fn);
}

/** Starts the worker as a separate process (tsx from sources), as AWS Batch would. */
function spawnWorker(args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'batch/main.ts'), 'batch', ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1', NODE_OPTIONS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

async function waitFor(cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(200);
  }
}

beforeAll(async () => {
  [s3, modelPath, tmp] = await Promise.all([
    startLocalS3({ buckets: [BUCKET] }),
    testModelPath({ depth: 18, version: 1, batch: 'dynamic', classes: 1000 }),
    mkdtemp(path.join(os.tmpdir(), 'batch-test-')),
  ]);
  client = s3.makeClient({ maxAttempts: 2 });
  const ids = Array.from({ length: N }, (_, i) => i);
  await mapLimit(ids, 16, async (i) => {
    const key = `in/${String(i).padStart(3, '0')}.jpg`;
    keys.push(key);
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: await makeJpeg(i), ContentType: 'image/jpeg' }));
  });
  const good = await makeJpeg(7);
  await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'in/bad-empty.jpg', Body: new Uint8Array(0) }));
  await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'in/bad-text.jpg', Body: 'this is not an image' }));
  await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'in/bad-truncated.jpg', Body: good.subarray(0, 200) }));
  keys.sort();
}, 120_000);

afterAll(async () => {
  await s3?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('batch worker against local S3', () => {
  test('labels 500 images end to end, reports bad ones with codes, and a rerun does no work', async () => {
    const manifest = path.join(tmp, 'full.jsonl');
    const first = await runBatch({ ...baseOpts(), input: `s3://${BUCKET}/in/`, manifestPath: manifest });
    expect(first.listed).toBe(N + 3);
    expect(first.done).toBe(N);
    expect(first.failed).toBe(3);
    expect(first.unfinished).toBe(0);
    expect(first.prepareMode).toBe('workers');
    expect(first.meanBatch).toBeGreaterThan(1);
    // Every image costs CPU somewhere (decode workers, onnxruntime): a zero here means the clock is not wired.
    expect(first.cpuMsPerImage).toBeGreaterThan(1);
    expect(Object.keys(first.failuresByCode).sort()).toEqual(expect.arrayContaining(['EMPTY_INPUT', 'UNSUPPORTED_FORMAT']));
    expect(Object.values(first.failuresByCode).reduce((a, b) => a + b, 0)).toBe(3);

    const results = await listKeys(`${PREFIX}resnet18-v1-bdynamic-c1000-s0/${BUCKET}/in/`);
    expect(results).toHaveLength(N + 3);
    const doc = await readDoc(resultKey(PREFIX, BUCKET, 'in/042.jpg', first.model));
    expect(doc.labels).toHaveLength(5);
    expect(doc.producer).toBe('batch');
    expect(doc.labels![0]!.score).toBeGreaterThan(0);
    const bad = await readDoc(resultKey(PREFIX, BUCKET, 'in/bad-text.jpg', first.model));
    expect(bad.error?.code).toBe('UNSUPPORTED_FORMAT');
    const tags = await client.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: 'in/042.jpg' }));
    const tagMap = Object.fromEntries((tags.TagSet ?? []).map((t) => [t.Key, t.Value]));
    expect(tagMap['resnet:model']).toBe(first.model);
    expect(tagMap['resnet:label1']).toBeDefined();

    const lines = await readManifest(manifest);
    expect(lines).toHaveLength(N + 3);
    expect(new Set(lines.map((l) => l.key)).size).toBe(N + 3);
    expect(lines.filter((l) => l.status === 'failed').every((l) => typeof l.code === 'string')).toBe(true);

    const again = await runBatch({ ...baseOpts(), input: `s3://${BUCKET}/in/` });
    expect(again.done).toBe(0);
    expect(again.failed).toBe(0);
    expect(again.skipped).toBe(N + 3);
    // No work: no image downloaded, decoded or inferred (the listing's ETags match the results).
    expect(again.stages.download.count).toBe(0);
    expect(again.stages.inference.count).toBe(0);
  });

  test.each([
    ['on the main thread', 0],
    ['in S3 I/O threads', 2],
  ])('batch result and tags equal the s3-tagger path (labelObject) for the same image and model, S3 requests %s', async (_how, ioThreads) => {
    const dir = `same${ioThreads}`;
    const classifier = await Classifier.load({ model: modelPath, labels: SYNSET_PATH, modelId: 'r18-same', executionProviders: ['cpu'], threads: 2 });
    try {
      await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${dir}/a.jpg`, Body: await makeJpeg(11) }));
      await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${dir}/b.jpg`, Body: await makeJpeg(11) }));
      // b.jpg: labelled by the s3-tagger's code path; a.jpg (identical bytes): by the batch worker with others in its batch.
      await labelObject({ s3: client, classifier }, { bucket: BUCKET, key: `${dir}/b.jpg` }, { resultsPrefix: PREFIX });
      for (let i = 0; i < 6; i++) await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${dir}/c${i}.jpg`, Body: await makeJpeg(100 + i) }));
      const lines: string[] = [];
      const summary = await withS3Env(() => runBatch({ ...baseOpts(), classifier, ioThreads, input: `s3://${BUCKET}/${dir}/`, batchWaitMs: 200, log: (l: string) => lines.push(l) }));
      expect(summary.done).toBe(7);
      expect(lines.some((l) => l.includes(ioThreads > 0 ? `S3 requests on ${ioThreads} I/O threads` : 'S3 requests on the main thread'))).toBe(true);
      const viaTagger = await readDoc(resultKey(PREFIX, BUCKET, `${dir}/b.jpg`, 'r18-same'));
      const viaBatch = await readDoc(resultKey(PREFIX, BUCKET, `${dir}/a.jpg`, 'r18-same'));
      expect(viaTagger.producer).toBe('s3-tagger');
      expect(viaBatch.producer).toBe('batch');
      // Same bytes apart from what differs between the two source objects (key, upload time)
      // and the volatile fields that stableBody leaves out.
      const asB = stableBody(viaBatch)
        .replace(`${dir}/a.jpg`, `${dir}/b.jpg`)
        .replace(`"lastModified": ${JSON.stringify(viaBatch.lastModified)}`, `"lastModified": ${JSON.stringify(viaTagger.lastModified)}`);
      expect(asB).toBe(stableBody(viaTagger));
      const tagsA = await client.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: `${dir}/a.jpg` }));
      const tagsB = await client.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: `${dir}/b.jpg` }));
      expect(tagsA.TagSet).toEqual(tagsB.TagSet);
    } finally {
      await classifier.dispose();
    }
  });

  test('kill -9 mid-run, then rerun: every object labelled exactly once, none lost, manifest complete', async () => {
    const manifest = path.join(tmp, 'kill.jsonl');
    const mine = keys.filter((k) => k.startsWith('in/1'));
    const model = 'r18-kill';
    const child = spawnWorker([
      `s3://${BUCKET}/in/1`, '--endpoint', s3.endpoint, '--model', modelPath, '--labels', SYNSET_PATH, '--model-id', model,
      '--ep', 'cpu', '--threads', '2', '--workers', '1', '--manifest', manifest, '--progress', 'off', '--results-prefix', PREFIX,
    ]);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor(async () => (await listKeys(`${PREFIX}${model}/`)).length >= 15, 90_000);
    } catch (err) {
      child.kill('SIGKILL');
      throw new Error(`worker made no progress: ${stderr.slice(-2000)}`, { cause: err });
    }
    child.kill('SIGKILL');
    await exited;
    // The CLI builds its own S3 client, so its per-object requests ran in I/O threads.
    expect(stderr).toMatch(/S3 requests on \d+ I\/O threads/);
    const beforeRerun = new Map<string, string>();
    for (const k of await listKeys(`${PREFIX}${model}/`)) beforeRerun.set(k, (await readDoc(k)).labelledAt!);
    expect(beforeRerun.size).toBeGreaterThanOrEqual(15);
    expect(beforeRerun.size).toBeLessThan(mine.length);
    const firstLines = await readManifest(manifest);

    const rerun = await runBatch({ ...baseOpts(), modelId: model, input: `s3://${BUCKET}/in/1`, manifestPath: manifest });
    expect(rerun.failed).toBe(0);
    expect(rerun.done + rerun.skipped).toBe(mine.length);
    expect(rerun.done).toBe(mine.length - beforeRerun.size);

    const after = await listKeys(`${PREFIX}${model}/`);
    expect(after.sort()).toEqual(mine.map((k) => resultKey(PREFIX, BUCKET, k, model)).sort());
    // Nothing labelled twice: results written before the kill were not rewritten.
    for (const [k, at] of beforeRerun) expect((await readDoc(k)).labelledAt).toBe(at);
    // Every result is whole (parses, right ETag source).
    for (const k of after) expect((await readDoc(k)).labels).toHaveLength(5);
    // Manifest: complete over both runs, no key done twice, no torn line.
    const lines = await readManifest(manifest);
    expect(lines.length).toBe(firstLines.length + mine.length);
    const doneCount = new Map<string, number>();
    for (const l of lines) if (l.status === 'done') doneCount.set(l.key, (doneCount.get(l.key) ?? 0) + 1);
    expect([...doneCount.values()].every((n) => n === 1)).toBe(true);
    const covered = new Set(lines.filter((l) => l.status === 'done' || l.status === 'skipped').map((l) => l.key));
    expect([...covered].sort()).toEqual([...mine].sort());
  });

  test('SIGTERM drains in-flight work, flushes the manifest and exits 143 within the grace period', async () => {
    const manifest = path.join(tmp, 'term.jsonl');
    const model = 'r18-term';
    const child = spawnWorker([
      `s3://${BUCKET}/in/2`, '--endpoint', s3.endpoint, '--model', modelPath, '--labels', SYNSET_PATH, '--model-id', model,
      '--ep', 'cpu', '--threads', '2', '--workers', '1', '--manifest', manifest, '--progress', 'off', '--grace', '30', '--results-prefix', PREFIX,
      // Small queues (about 45 objects in flight at most), so the listing of 100 is not exhausted when
      // SIGTERM comes: with all of it in flight already, draining would finish the run (exit 0).
      '--downloads', '1', '--batch-size', '4', '--writers', '2',
    ]);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await waitFor(async () => (await listKeys(`${PREFIX}${model}/`)).length >= 10, 90_000);
    const t0 = Date.now();
    child.kill('SIGTERM');
    const code = await exited;
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(code).toBe(143);
    const written = await listKeys(`${PREFIX}${model}/`);
    expect(written.length).toBeLessThan(100);
    // Drained and flushed: every result written has its manifest line.
    const doneKeys = new Set((await readManifest(manifest)).filter((l) => l.status === 'done').map((l) => resultKey(PREFIX, BUCKET, l.key, model)));
    expect([...doneKeys].sort()).toEqual(written.sort());
  });

  test('a model onnxruntime cannot open: one typed error, and no claim that the main thread took over', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'batch-bad-model-'));
    try {
      const bad = path.join(dir, 'broken.onnx');
      await writeFile(bad, 'not an onnx file');
      const lines: string[] = [];
      const err: unknown = await runBatch({ ...baseOpts(), model: bad, input: dir, outDir: path.join(dir, 'out'), log: (l: string) => lines.push(l) }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'INVALID_MODEL' });
      // Both the inference thread and the main thread fail; the fallback line is only for a provider
      // that then works, so nothing says 'running it on the main thread'.
      expect(lines.some((l) => l.includes('running it on the main thread'))).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a local folder: results under --out with the MD5 of each file as its ETag (labelled or not), and a rerun does no work', async () => {
    const dir = await mkdtemp(path.join(tmp, 'local-'));
    const out = path.join(dir, 'out');
    try {
      const files: Record<string, Buffer> = {
        'a.jpg': await makeJpeg(1),
        'sub/b.jpg': await makeJpeg(2),
        'c.jpg': await makeJpeg(3),
        'bad.jpg': (await makeJpeg(4)).subarray(0, 300),
      };
      await mkdir(path.join(dir, 'in/sub'), { recursive: true });
      for (const [name, bytes] of Object.entries(files)) await writeFile(path.join(dir, 'in', name), bytes);
      const first = await runBatch({ ...baseOpts(), input: path.join(dir, 'in'), outDir: out });
      expect([first.done, first.failed]).toEqual([3, 1]);
      for (const [name, bytes] of Object.entries(files)) {
        const docs = (await readdir(out, { recursive: true })).filter((f) => f.endsWith(`/local/${name}.json`));
        expect(docs).toHaveLength(1);
        const doc = parseResult(await readFile(path.join(out, docs[0]!), 'utf8'));
        expect(doc).toMatchObject({ key: name, size: bytes.length, etag: createHash('md5').update(bytes).digest('hex') });
        expect(name === 'bad.jpg' ? doc!.error?.code : doc!.labels?.length).toBe(name === 'bad.jpg' ? 'CORRUPT_IMAGE' : 5);
      }
      const again = await runBatch({ ...baseOpts(), input: path.join(dir, 'in'), outDir: out });
      expect([again.done, again.failed, again.skipped]).toEqual([0, 0, 4]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('shards: two of four are disjoint, all four cover the set exactly once', async () => {
    // Input: a JSONL manifest of 40 keys (plain strings and objects), to exercise that source too.
    const mine = keys.filter((k) => k.startsWith('in/3')).slice(0, 40);
    const list = path.join(tmp, 'keys.jsonl');
    await writeFile(list, mine.map((k, i) => (i % 2 ? JSON.stringify(k) : JSON.stringify({ key: k, bucket: BUCKET }))).join('\n'));
    const model = 'r18-shard';
    const classifier = await Classifier.load({ model: modelPath, labels: SYNSET_PATH, modelId: model, executionProviders: ['cpu'], threads: 2 });
    const byShard: string[][] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const manifest = path.join(tmp, `shard-${i}.jsonl`);
        const sum = await runBatch({ ...baseOpts(), classifier, input: list, bucket: BUCKET, shard: { index: i, count: 4 }, manifestPath: manifest });
        expect(sum.failed).toBe(0);
        byShard.push((await readManifest(manifest)).filter((l) => l.status === 'done').map((l) => l.key));
      }
    } finally {
      await classifier.dispose();
    }
    const [a, b] = [new Set(byShard[0]), new Set(byShard[1])];
    expect([...a].filter((k) => b.has(k))).toEqual([]);
    expect(a.size).toBeGreaterThan(0);
    expect(b.size).toBeGreaterThan(0);
    const all = byShard.flat();
    expect(all.length).toBe(mine.length);
    expect(new Set(all).size).toBe(mine.length);
    expect([...all].sort()).toEqual([...mine].sort());
  });

  test.each([
    ['on the main thread', 0],
    ['in S3 I/O threads', 2],
  ])('S3 server restarted mid-run: calls are retried and nothing is lost, S3 requests %s', async (_how, ioThreads) => {
    // Input: an S3 Batch Operations style CSV manifest (bucket,url-encoded key) stored in S3 itself.
    const mine = keys.filter((k) => k.startsWith('in/4')).slice(0, 50);
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'lists/restart.csv', Body: mine.map((k) => `${BUCKET},${encodeURIComponent(k)}`).join('\n') }));
    const model = `r18-restart-${ioThreads}`;
    let restarted = false;
    const lines: string[] = [];
    const sum = await withS3Env(async () => {
      const run = runBatch({ ...baseOpts(), ioThreads, modelId: model, input: `s3://${BUCKET}/lists/restart.csv`, downloads: 4, retry: { attempts: 10, baseMs: 100, maxMs: 1000 }, log: (l: string) => lines.push(l) });
      await waitFor(async () => (await listKeys(`${PREFIX}${model}/`)).length >= 10, 60_000);
      await s3.pause();
      await sleep(1500);
      await s3.resume();
      restarted = true;
      return run;
    });
    expect(restarted).toBe(true);
    expect(sum.failed).toBe(0);
    // The outage was seen (retries logged) by the side that made the requests, and retried.
    expect(lines.some((l) => l.startsWith('retry '))).toBe(true);
    expect(lines.some((l) => l.includes(ioThreads > 0 ? `S3 requests on ${ioThreads} I/O threads` : 'S3 requests on the main thread'))).toBe(true);
    // A result PUT that reached the server before the connections dropped is found by the retry
    // ("duplicate") and not written twice; at most one per writer lane (8) can be in that state.
    expect(sum.done + sum.skipped).toBe(mine.length);
    expect(sum.done).toBeGreaterThanOrEqual(mine.length - 8);
    expect((await listKeys(`${PREFIX}${model}/`)).sort()).toEqual(mine.map((k) => resultKey(PREFIX, BUCKET, k, model)).sort());
  });
});
