/**
 * `resnet sweep` as an operator runs it (a child process from the sources) against a real local S3:
 * budgeted runs continue from the saved cursor and together write every unlabelled key, once, as
 * manifests `resnet batch` reads; `--json` prints the report.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';

import { resultKey } from '../../labelling/results.js';
import type { SweepReport } from '../../labelling/sweep.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { startLocalS3, type LocalS3 } from '../helpers/s3.js';

const exec = promisify(execFile);
const BUCKET = 'pics';
const MODEL = 'resnet50-v2';
let s3: LocalS3;
let tmp: string;
const keys = Array.from({ length: 12 }, (_, i) => `u/${i % 2 ? 'a b' : 'a-b'}/${String(i).padStart(2, '0')}.jpg`);
const labelled = new Set(keys.filter((_, i) => i % 3 === 0));

async function sweep(args: string[]): Promise<SweepReport> {
  const { stdout } = await exec(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'cli/resnet.ts'), 'sweep', `s3://${BUCKET}/u/`, '--endpoint', s3.endpoint, '--json', ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1', NODE_OPTIONS: '' },
  });
  return JSON.parse(stdout) as SweepReport;
}

const lines = (text: string): string[] => text.trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { key: string }).key);

beforeAll(async () => {
  s3 = await startLocalS3({ buckets: [BUCKET] });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'cli-sweep-'));
  for (const Key of keys) await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: 'x' }));
  for (const k of labelled) await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: resultKey('resnet-results/', BUCKET, k, MODEL), Body: '{}' }));
}, 60_000);
afterAll(async () => {
  await s3?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test('budgeted runs resume from the cursor and write each unlabelled key once', async () => {
  const found: string[] = [];
  const reports: SweepReport[] = [];
  for (let i = 0; i < 3; i++) {
    const out = path.join(tmp, `run-${i}.jsonl`);
    reports.push(await sweep(['--max-list', '5', '--model', MODEL, '--out', out]));
    found.push(...lines(await readFile(out, 'utf8')));
  }
  expect(reports.map((r) => [r.listed, r.truncated])).toEqual([[5, true], [5, true], [2, false]]);
  expect(reports[2]).toMatchObject({ passComplete: true, passBacklog: 8 });
  expect(found.sort()).toEqual(keys.filter((k) => !labelled.has(k)).sort());
}, 90_000);

test('--out s3://… writes the manifest into the bucket; --restart --no-save looks without moving the cursor', async () => {
  const report = await sweep(['--model', MODEL, '--restart', '--no-save', '--out', `s3://${BUCKET}/backlog.jsonl`]);
  expect(report).toMatchObject({ listed: 12, backlog: 8, passComplete: true });
  const body = await (await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'backlog.jsonl' }))).Body!.transformToString();
  expect(lines(body).sort()).toEqual(keys.filter((k) => !labelled.has(k)).sort());
}, 60_000);
