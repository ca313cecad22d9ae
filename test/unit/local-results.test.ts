/**
 * Results of a local-folder run: written atomically under the output folder (its sub-folders made
 * once per process, and again if removed meanwhile), read back, and a local file described like
 * an S3 object.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { LOCAL_BUCKET, localSource, readLocalResult, writeLocalResult } from '../../batch/sources/local-results.js';
import { buildResult } from '../../labelling/results.js';

const facts = { size: 1234, mtimeMs: Date.UTC(2026, 10, 29, 6, 30, 15, 750), md5: '0123456789abcdef0123456789abcdef', readMs: 0.5 };

describe('local results', () => {
  let out: string;
  beforeEach(async () => {
    out = await mkdtemp(path.join(os.tmpdir(), 'local-results-'));
  });
  afterEach(async () => {
    await rm(out, { recursive: true, force: true });
  });

  it('describes a local file as S3 would: MD5 ETag, whole-second LastModified, no version', () => {
    expect(localSource('a/b.jpg', facts)).toEqual({
      bucket: LOCAL_BUCKET,
      key: 'a/b.jpg',
      versionId: null,
      etag: facts.md5,
      lastModified: '2026-11-29T06:30:15.000Z',
      size: 1234,
    });
  });

  it('writes a result that reads back equal, leaving no temporary file, and makes its folder again if it was removed', async () => {
    const doc = buildResult(localSource('sub/x.jpg', facts), 'm', { labels: [{ rank: 1, index: 3, id: 'n3', name: 'three', score: 0.5 }] });
    const file = await writeLocalResult(out, 'm/local/sub/x.jpg.json', doc);
    expect(await readLocalResult(out, 'm/local/sub/x.jpg.json')).toEqual(doc);
    await rm(path.join(out, 'm'), { recursive: true });
    expect(await writeLocalResult(out, 'm/local/sub/x.jpg.json', doc)).toBe(file);
    expect(await readLocalResult(out, 'm/local/sub/x.jpg.json')).toEqual(doc);
    expect(await readdir(path.dirname(file))).toEqual(['x.jpg.json']);
  });

  it('reads a missing or unreadable result as none', async () => {
    expect(await readLocalResult(out, 'nothing.json')).toBeNull();
  });
});
