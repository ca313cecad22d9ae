/**
 * Downloads against a local HTTP server started here: a fake "model" of random bytes whose
 * sha256/size go into a ZooModel-shaped spec, and a generated 1000-line synset.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

import { ChecksumMismatchError, DownloadFailedError, InvalidLabelsError } from '../../core/errors.js';
import { cachedModelPaths, defaultCacheDir, fetchFile, fetchModel, modelCachePaths, type FileSpec } from '../../core/fetch/index.js';
import { getZooModel, type ZooModel } from '../../core/registry.js';
import { sendBody, startTestServer, type TestServer } from '../helpers/http-server.js';

const BODY = randomBytes(300_000);
const SHA = createHash('sha256').update(BODY).digest('hex');
const MD5 = createHash('md5').update(BODY).digest('hex');
const SYNSET = Buffer.from(Array.from({ length: 1000 }, (_, i) => `n${String(i).padStart(8, '0')} class ${i}, alias`).join('\n') + '\n');

const FAKE: ZooModel = {
  ...getZooModel('resnet18-v1'),
  id: 'fake-resnet',
  file: 'fake-resnet.onnx',
  url: 'http://127.0.0.1:9/unused.onnx',
  bytes: BODY.length,
  sha256: SHA,
};

const FAST = { retryDelayMs: 5, stallTimeoutMs: 2000 };
let dir: string;
const servers: TestServer[] = [];

async function server(handler: Parameters<typeof startTestServer>[0]): Promise<TestServer> {
  const s = await startTestServer(handler);
  servers.push(s);
  return s;
}

function spec(url: string, extra: Partial<FileSpec['sources'][number]> = {}): FileSpec {
  return { name: 'fake model', sources: [{ url, bytes: BODY.length, sha256: SHA, ...extra }] };
}

/** A port nobody listens on: bind one, then close it. */
async function deadPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'fetch-test-'));
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});

describe('fetchModel', () => {
  it('downloads model and labels into <cache>/<id>/model.onnx and <cache>/labels/synset.txt, with progress', async () => {
    const s = await server((req, res) => {
      if (req.url === '/fake-resnet.onnx') sendBody(req, res, BODY);
      else if (req.url === '/synset.txt') sendBody(req, res, SYNSET);
      else res.writeHead(404).end();
    });
    expect(cachedModelPaths(FAKE, dir)).toBeNull();
    const calls: [number, number][] = [];
    const paths = await fetchModel(FAKE, { cacheDir: dir, baseUrl: s.origin, onProgress: (d, t) => calls.push([d, t]), ...FAST });

    expect(paths).toEqual({ modelPath: path.join(dir, 'fake-resnet', 'model.onnx'), labelsPath: path.join(dir, 'labels', 'synset.txt') });
    expect(readFileSync(paths.modelPath).equals(BODY)).toBe(true);
    expect(readFileSync(paths.labelsPath).equals(SYNSET)).toBe(true);
    expect(existsSync(`${paths.modelPath}.part`)).toBe(false);
    const marker = JSON.parse(await readFile(`${paths.modelPath}.verified`, 'utf8')) as { sha256: string; bytes: number; verifiedBy: string };
    expect(marker).toMatchObject({ sha256: SHA, bytes: BODY.length, verifiedBy: 'sha256' });

    expect(calls.length).toBeGreaterThan(1);
    expect(calls.every(([, t]) => t === BODY.length)).toBe(true);
    expect(calls.every(([d], i) => i === 0 || d >= calls[i - 1]![0])).toBe(true);
    expect(calls.at(-1)).toEqual([BODY.length, BODY.length]);
    expect(s.requests.map((r) => r.path)).toEqual(['/synset.txt', '/fake-resnet.onnx']);
    expect(cachedModelPaths(FAKE, dir)).toEqual(paths);
  });

  it('a cache hit makes no request, even with the server gone', async () => {
    const s = await server((req, res) => sendBody(req, res, req.url === '/synset.txt' ? SYNSET : BODY));
    await fetchModel(FAKE, { cacheDir: dir, baseUrl: s.origin, ...FAST });
    const before = s.requests.length;
    await s.close();
    const again = await fetchModel(FAKE, { cacheDir: dir, baseUrl: s.origin, ...FAST });
    expect(s.requests.length).toBe(before);
    expect(again.modelPath).toBe(path.join(dir, 'fake-resnet', 'model.onnx'));
  });

  it('honours RESNET_MODEL_BASE_URL', async () => {
    const s = await server((req, res) => sendBody(req, res, req.url === '/mirror/synset.txt' ? SYNSET : BODY));
    process.env.RESNET_MODEL_BASE_URL = `${s.origin}/mirror/`;
    try {
      await fetchModel(FAKE, { cacheDir: dir, ...FAST });
    } finally {
      delete process.env.RESNET_MODEL_BASE_URL;
    }
    expect(s.requests.map((r) => r.path)).toEqual(['/mirror/synset.txt', '/mirror/fake-resnet.onnx']);
  });

  it('offline: DownloadFailedError names both files, their cache paths and the model checksum', async () => {
    const base = `http://127.0.0.1:${await deadPort()}`;
    const err = await fetchModel(FAKE, { cacheDir: dir, baseUrl: base, ...FAST }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadFailedError);
    const { modelPath, labelsPath } = modelCachePaths('fake-resnet', dir);
    const msg = (err as Error).message;
    for (const part of [`${base}/synset.txt`, labelsPath, `${base}/fake-resnet.onnx`, modelPath, `sha256 ${SHA}`, 'RESNET_MODEL_BASE_URL']) {
      expect(msg).toContain(part);
    }
  });

  it('rejects a labels file without 1000 classes and leaves nothing in the cache', async () => {
    const s = await server((req, res) => sendBody(req, res, req.url === '/synset.txt' ? Buffer.from('n01440764 tench\n') : BODY));
    await expect(fetchModel(FAKE, { cacheDir: dir, baseUrl: s.origin, ...FAST })).rejects.toThrow(InvalidLabelsError);
    expect(existsSync(modelCachePaths('fake-resnet', dir).labelsPath)).toBe(false);
    expect(existsSync(`${modelCachePaths('fake-resnet', dir).labelsPath}.part`)).toBe(false);
  });

  it('trusts a hand-placed file that verifies, without network, and writes its marker', async () => {
    const paths = modelCachePaths('fake-resnet', dir);
    await mkdir(path.dirname(paths.modelPath), { recursive: true });
    await mkdir(path.dirname(paths.labelsPath), { recursive: true });
    await writeFile(paths.modelPath, BODY);
    await writeFile(paths.labelsPath, SYNSET);
    expect(cachedModelPaths(FAKE, dir)).toEqual(paths);
    expect(existsSync(`${paths.modelPath}.verified`)).toBe(true);
    // fetchModel accepts them as they are: offline base URL, no error, nothing replaced.
    await expect(fetchModel(FAKE, { cacheDir: dir, baseUrl: `http://127.0.0.1:${await deadPort()}`, ...FAST })).resolves.toEqual(paths);
    expect(readFileSync(paths.labelsPath).equals(SYNSET)).toBe(true);
    // A changed file (same size, new bytes → new mtime) is rehashed, not trusted by its marker.
    await new Promise((r) => setTimeout(r, 20));
    await writeFile(paths.modelPath, randomBytes(BODY.length));
    expect(cachedModelPaths(FAKE, dir)).toBeNull();
  });

  it('replaces a cached file that no longer verifies', async () => {
    const s = await server((req, res) => sendBody(req, res, req.url === '/synset.txt' ? SYNSET : BODY));
    const paths = modelCachePaths('fake-resnet', dir);
    await mkdir(path.dirname(paths.modelPath), { recursive: true });
    await writeFile(paths.modelPath, Buffer.from('stale'));
    await fetchModel(FAKE, { cacheDir: dir, baseUrl: s.origin, ...FAST });
    expect(readFileSync(paths.modelPath).equals(BODY)).toBe(true);
  });
});

describe('fetchFile', () => {
  it('two downloads of the same file at once make one transfer; the second waits and uses its result', async () => {
    // The body starts after 300 ms, so the two calls overlap; without the lock both would write one .part.
    const s = await server((req, res) => void setTimeout(() => sendBody(req, res, BODY), 300));
    const dest = path.join(dir, 'm.onnx');
    const [a, b] = await Promise.all([fetchFile(spec(`${s.origin}/m.onnx`), dest, FAST), fetchFile(spec(`${s.origin}/m.onnx`), dest, FAST)]);
    expect(s.requests).toHaveLength(1);
    expect([a.requests, b.requests].sort()).toEqual([0, 1]);
    expect(readFileSync(dest).equals(BODY)).toBe(true);
    expect(existsSync(`${dest}.lock`)).toBe(false);
  });

  it('takes over a lock left by a killed process once it is stale', async () => {
    const s = await server((req, res) => sendBody(req, res, BODY));
    const dest = path.join(dir, 'm.onnx');
    await mkdir(`${dest}.lock`);
    const old = new Date(Date.now() - 60_000);
    await utimes(`${dest}.lock`, old, old);
    const got = await fetchFile(spec(`${s.origin}/m.onnx`), dest, FAST);
    expect(got.requests).toBe(1);
    expect(readFileSync(dest).equals(BODY)).toBe(true);
    expect(existsSync(`${dest}.lock`)).toBe(false);
  });

  it('waits at most lockWaitMs on a live lock, then names the lock file', async () => {
    const s = await server((req, res) => sendBody(req, res, BODY));
    const dest = path.join(dir, 'm.onnx');
    await mkdir(`${dest}.lock`);
    const err = await fetchFile(spec(`${s.origin}/m.onnx`), dest, { ...FAST, lockWaitMs: 400 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadFailedError);
    expect((err as Error).message).toContain(`${dest}.lock`);
    expect(s.requests).toHaveLength(0);
  });

  it('deletes a corrupted download and throws ChecksumMismatchError saying so', async () => {
    const wrong = Buffer.from(BODY);
    wrong[1234] ^= 0xff;
    const s = await server((req, res) => sendBody(req, res, wrong));
    const dest = path.join(dir, 'm.onnx');
    const err = await fetchFile(spec(`${s.origin}/m.onnx`), dest, FAST).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChecksumMismatchError);
    expect((err as Error).message).toContain(`expected ${SHA}`);
    expect((err as Error).message).toContain('the file was deleted');
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(`${dest}.part`)).toBe(false);
    expect(s.requests).toHaveLength(1);
  });

  it('stops reading and throws when the body is longer than the published size', async () => {
    const s = await server((req, res) => sendBody(req, res, Buffer.concat([BODY, Buffer.alloc(1000)])));
    const dest = path.join(dir, 'm.onnx');
    await expect(fetchFile(spec(`${s.origin}/m.onnx`), dest, FAST)).rejects.toThrow(ChecksumMismatchError);
    expect(existsSync(`${dest}.part`)).toBe(false);
  });

  it('resumes a truncated download with Range + If-Range and succeeds', async () => {
    const s = await server((req, res, n) => sendBody(req, res, BODY, n === 0 ? { truncateAt: 100_000, etag: '"abc"' } : { etag: '"abc"' }));
    const dest = path.join(dir, 'm.onnx');
    const seen: number[] = [];
    const got = await fetchFile(spec(`${s.origin}/m.onnx`), dest, { ...FAST, onProgress: (d) => seen.push(d) });
    expect(got).toMatchObject({ sha256: SHA, bytes: BODY.length, resumed: true, requests: 2, verifiedBy: 'sha256' });
    expect(readFileSync(dest).equals(BODY)).toBe(true);
    expect(s.requests).toHaveLength(2);
    expect(s.requests[0]!.range).toBeUndefined();
    const offset = Number(/^bytes=(\d+)-$/.exec(s.requests[1]!.range ?? '')?.[1]);
    expect(offset).toBeGreaterThan(0);
    expect(offset).toBeLessThanOrEqual(100_000);
    expect(s.requests[1]!.ifRange).toBe('"abc"');
    // Progress restarts at the resume offset, not at zero.
    expect(seen).toContain(offset);
    expect(seen.at(-1)).toBe(BODY.length);
  });

  it('resumes a .part left by an earlier run', async () => {
    const s = await server((req, res) => sendBody(req, res, BODY));
    const dest = path.join(dir, 'm.onnx');
    await writeFile(`${dest}.part`, BODY.subarray(0, 123_456));
    await writeFile(`${dest}.part.json`, JSON.stringify({ url: `${s.origin}/m.onnx`, etag: '"v1"' }));
    const got = await fetchFile(spec(`${s.origin}/m.onnx`), dest, FAST);
    expect(got.resumed).toBe(true);
    expect(s.requests[0]!.range).toBe('bytes=123456-');
    expect(readFileSync(dest).equals(BODY)).toBe(true);
  });

  it('restarts cleanly when the server ignores Range (200 instead of 206)', async () => {
    const s = await server((req, res, n) => sendBody(req, res, BODY, n === 0 ? { ranges: false, truncateAt: 150_000 } : { ranges: false }));
    const dest = path.join(dir, 'm.onnx');
    const got = await fetchFile(spec(`${s.origin}/m.onnx`), dest, FAST);
    expect(s.requests).toHaveLength(2);
    expect(s.requests[1]!.range).toMatch(/^bytes=\d+-$/);
    expect(got).toMatchObject({ sha256: SHA, resumed: false });
    expect(readFileSync(dest).equals(BODY)).toBe(true);
  });

  it('restarts from zero when a resumed file fails its checksum (server changed the file)', async () => {
    const other = randomBytes(BODY.length);
    // First answer: the old version, cut short, with no validator to put in If-Range.
    const s = await server((req, res, n) => {
      if (n === 0) {
        res.writeHead(200, { 'content-length': other.length });
        res.write(other.subarray(0, 50_000), () => setTimeout(() => res.socket?.destroy(), 20));
        return;
      }
      sendBody(req, res, BODY);
    });
    const dest = path.join(dir, 'm.onnx');
    const got = await fetchFile(spec(`${s.origin}/m.onnx`), dest, FAST);
    expect(s.requests.map((r) => r.range === undefined)).toEqual([true, false, true]);
    expect(got.sha256).toBe(SHA);
  });

  it('aborts a stalled transfer after stallTimeoutMs and resumes', async () => {
    const s = await server((req, res, n) => {
      if (n === 0) {
        res.writeHead(200, { 'content-length': BODY.length, etag: '"v1"' });
        res.write(BODY.subarray(0, 64_000)); // …then silence, connection left open
        return;
      }
      sendBody(req, res, BODY);
    });
    const got = await fetchFile(spec(`${s.origin}/m.onnx`), path.join(dir, 'm.onnx'), { ...FAST, stallTimeoutMs: 300 });
    expect(got).toMatchObject({ sha256: SHA, resumed: true, requests: 2 });
    expect(s.requests[1]!.range).toMatch(/^bytes=\d+-$/);
  });

  it('retries transient 503s with backoff', async () => {
    const s = await server((req, res, n) => (n < 2 ? res.writeHead(503).end() : sendBody(req, res, BODY)));
    const got = await fetchFile(spec(`${s.origin}/m.onnx`), path.join(dir, 'm.onnx'), FAST);
    expect(got.requests).toBe(3);
  });

  it('gives up after maxAttempts transient failures, keeping the .part for the next run', async () => {
    const s = await server((req, res) => sendBody(req, res, BODY, { truncateAt: 10_000, ranges: false }));
    const dest = path.join(dir, 'm.onnx');
    const err = await fetchFile(spec(`${s.origin}/m.onnx`), dest, { ...FAST, maxAttempts: 3 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadFailedError);
    expect(s.requests).toHaveLength(3);
    expect(existsSync(`${dest}.part`)).toBe(true);
  });

  it('404 → DownloadFailedError naming the URL and how to place the file by hand', async () => {
    const s = await server((_req, res) => res.writeHead(404).end());
    const dest = path.join(dir, 'm.onnx');
    const url = `${s.origin}/m.onnx`;
    const err = await fetchFile(spec(url), dest, FAST).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadFailedError);
    const e = err as DownloadFailedError;
    expect(e.code).toBe('DOWNLOAD_FAILED');
    expect(e.message).toContain(`Download of ${url} failed`);
    expect(e.message).toContain('HTTP 404');
    expect(e.message).toContain(`save it as ${dest}`);
    expect(e.message).toContain(`sha256 ${SHA}`);
    expect(e.message).toContain(`${BODY.length} bytes`);
    expect(s.requests).toHaveLength(1);
  });

  it('unreachable port → DownloadFailedError at once, naming the URL', async () => {
    const url = `http://127.0.0.1:${await deadPort()}/m.onnx`;
    const t0 = Date.now();
    const err = await fetchFile(spec(url), path.join(dir, 'm.onnx'), { ...FAST, retryDelayMs: 1000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadFailedError);
    expect((err as Error).message).toContain(url);
    expect((err as Error).message).toContain('ECONNREFUSED');
    expect((err as Error).message).toContain('by hand');
    expect(Date.now() - t0).toBeLessThan(900);
  });

  it('falls back to the next source when the first is unreachable', async () => {
    const s = await server((req, res) => sendBody(req, res, BODY));
    const file: FileSpec = {
      name: 'fake model',
      sources: [
        { url: `http://127.0.0.1:${await deadPort()}/m.onnx`, bytes: BODY.length, sha256: SHA },
        { url: `${s.origin}/mirror.onnx`, bytes: BODY.length, sha256: SHA },
      ],
    };
    const got = await fetchFile(file, path.join(dir, 'm.onnx'), FAST);
    expect(got.url).toBe(`${s.origin}/mirror.onnx`);
  });

  it('follows redirects to another host (GitHub raw → LFS media)', async () => {
    const media = await server((req, res) => sendBody(req, res, BODY));
    const raw = await server((_req, res) => res.writeHead(302, { location: `${media.origin}/lfs/objects/abc` }).end());
    const got = await fetchFile(spec(`${raw.origin}/m.onnx`), path.join(dir, 'm.onnx'), FAST);
    expect(got.sha256).toBe(SHA);
    expect(raw.requests).toHaveLength(1);
    expect(media.requests.map((r) => r.path)).toEqual(['/lfs/objects/abc']);
  });

  it('verifies with the MD5 from an -md5.txt file (seed S3 layout) and rejects a wrong one', async () => {
    const s = await server((req, res) => {
      if (req.url === '/good-md5.txt') res.end(`${MD5}  resnet18v1.onnx\n`);
      else if (req.url === '/bad-md5.txt') res.end(`${'0'.repeat(32)}\n`);
      else sendBody(req, res, BODY);
    });
    const ok = await fetchFile({ name: 'm', sources: [{ url: `${s.origin}/m.onnx`, md5Url: `${s.origin}/good-md5.txt` }] }, path.join(dir, 'a.onnx'), FAST);
    expect(ok.verifiedBy).toBe('md5');
    const bad = fetchFile({ name: 'm', sources: [{ url: `${s.origin}/m.onnx`, md5Url: `${s.origin}/bad-md5.txt` }] }, path.join(dir, 'b.onnx'), FAST);
    await expect(bad).rejects.toThrow(/md5 is [0-9a-f]{32}, expected 0{32}/);
    expect(existsSync(path.join(dir, 'b.onnx'))).toBe(false);
  });

  it('accepts a published sha256 prefix (zoo-facts) and reports it as such', async () => {
    const s = await server((req, res) => sendBody(req, res, BODY));
    const got = await fetchFile(spec(`${s.origin}/m.onnx`, { sha256: SHA.slice(0, 8) }), path.join(dir, 'm.onnx'), FAST);
    expect(got.verifiedBy).toBe('sha256-prefix');
  });
});

describe('defaultCacheDir', () => {
  it('uses RESNET_CACHE_DIR, else ~/.cache/resnet-serverless', () => {
    const saved = process.env.RESNET_CACHE_DIR;
    try {
      process.env.RESNET_CACHE_DIR = '/tmp/x-cache';
      expect(defaultCacheDir()).toBe('/tmp/x-cache');
      delete process.env.RESNET_CACHE_DIR;
      expect(defaultCacheDir()).toBe(path.join(os.homedir(), '.cache', 'resnet-serverless'));
    } finally {
      if (saved === undefined) delete process.env.RESNET_CACHE_DIR;
      else process.env.RESNET_CACHE_DIR = saved;
    }
  });
});
