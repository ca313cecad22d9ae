/**
 * S3 throttling at scale, injected: a proxy in front of the local S3 answers `503 SlowDown` to a
 * share of the LIST, GET, HEAD, PUT, GetObjectTagging and PutObjectTagging requests. The sweep
 * and the batch worker, each with its client from labelling/aws-clients.ts, must lose nothing
 * (every object found, labelled and tagged) and write nothing twice (each result and each tag
 * set reaches S3 once; each key is handed out once).
 */
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';

import { runBatch } from '../../batch/run-batch.js';
import type { Classifier } from '../../core/classifier.js';
import { createS3Client } from '../../labelling/aws-clients.js';
import type { ObjectJobMessage } from '../../labelling/events.js';
import { resultKey } from '../../labelling/results.js';
import { sweepBacklog } from '../../labelling/sweep.js';
import { putTinyJpegs, startBatchFixture } from '../helpers/batch-fixture.js';
import type { LocalS3 } from '../helpers/s3.js';
import { startSlowDownProxy, type SlowDownProxy } from '../helpers/slowdown-proxy.js';

jest.setTimeout(240_000);

const BUCKET = 'photos';
const RP = 'resnet-results/';
const MODEL = 'r18-slowdown';
const N = 30;
const SHARE = 0.25;
const BULK_SHARE = 0.1;
const keys = Array.from({ length: N }, (_, i) => `in/${String(i).padStart(2, '0')}.jpg`);
let s3: LocalS3;
let proxy: SlowDownProxy;
let classifier: Classifier;
let tmp: string;

beforeAll(async () => {
  ({ s3, classifier, tmp } = await startBatchFixture(BUCKET, MODEL));
  await putTinyJpegs(s3.client, BUCKET, keys);
  proxy = await startSlowDownProxy(s3.endpoint, { list: SHARE, get: SHARE, head: SHARE, put: SHARE, 'get-tagging': SHARE, 'put-tagging': SHARE });
});
afterAll(async () => {
  await proxy?.close();
  await classifier?.dispose();
  await s3?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

test('sweeps under SlowDown: every unlabelled key handed out exactly once', async () => {
  const client = createS3Client({ profile: 'event', endpoint: proxy.endpoint, credentials });
  const queued: ObjectJobMessage[] = [];
  let failedSweeps = 0;
  for (let pass = false, i = 0; !pass && i < 40; i++) {
    try {
      const r = await sweepBacklog(client, { bucket: BUCKET, prefix: 'in/', model: MODEL, resultsPrefix: RP, maxList: 7 }, {
        queue: { enqueue: async (jobs) => (queued.push(...jobs), jobs.length) },
      });
      pass = r.passComplete;
    } catch {
      // The scheduler retries a failed sweep; its cursor did not move.
      failedSweeps++;
    }
  }
  expect(proxy.refused.list).toBeGreaterThan(0);
  expect(queued.map((j) => j.key)).toEqual(keys);
  expect(failedSweeps).toBe(0);
});

test('the batch worker under SlowDown on GET, PUT and PutObjectTagging: every object labelled, each result and tag set written once', async () => {
  // A tenth here: the adaptive client's rate limiter slows to about one request a second under a
  // steady quarter of 503s (the sweep's test above), which would make this test minutes long.
  await proxy.close();
  proxy = await startSlowDownProxy(s3.endpoint, { get: BULK_SHARE, head: BULK_SHARE, put: BULK_SHARE, 'get-tagging': BULK_SHARE, 'put-tagging': BULK_SHARE });
  const before = proxy.forwarded.length;
  const client = createS3Client({ profile: 'bulk', endpoint: proxy.endpoint, credentials });
  const list = path.join(tmp, 'keys.jsonl');
  await writeFile(list, keys.map((key) => JSON.stringify({ bucket: BUCKET, key })).join('\n'));
  const sum = await runBatch({
    input: list, classifier, ep: 'cpu', workers: 1, s3: client, progress: { tty: 'off' }, log: () => undefined, resultsPrefix: RP,
    retry: { baseMs: 20, maxMs: 200 },
  });
  expect(sum).toMatchObject({ listed: N, done: N, failed: 0, unfinished: 0 });
  const seen = proxy.forwarded.slice(before).filter((f) => f.status === 200);
  const writes = (kind: string) => seen.filter((f) => f.kind === kind).map((f) => f.path).sort();
  expect(writes('put')).toEqual(keys.map((k) => `/${BUCKET}/${resultKey(RP, BUCKET, k, MODEL)}`).sort());
  expect(writes('put-tagging')).toEqual(keys.map((k) => `/${BUCKET}/${k}`).sort());
  for (const kind of ['get', 'put', 'put-tagging', 'get-tagging']) expect(proxy.refused[kind]).toBeGreaterThan(0);

  // A rerun under the same throttling finds everything done and writes nothing.
  const mark = proxy.forwarded.length;
  const again = await runBatch({ input: list, classifier, ep: 'cpu', workers: 1, s3: client, progress: { tty: 'off' }, log: () => undefined, resultsPrefix: RP, retry: { baseMs: 20, maxMs: 200 } });
  expect(again).toMatchObject({ skipped: N, done: 0, failed: 0 });
  expect(proxy.forwarded.slice(mark).filter((f) => f.kind === 'put' || f.kind === 'put-tagging')).toEqual([]);
});
