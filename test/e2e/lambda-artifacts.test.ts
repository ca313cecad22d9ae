/**
 * The synthesised artefacts, run as Lambda runs them: each function's code asset and layers from
 * the cloud assembly laid out as /var/task and /opt under a temporary root outside the
 * repository, the handler loaded by its template handler string in a clean `node` process with
 * Lambda's NODE_PATH and no project node_modules reachable, and invoked with AWS-shaped events
 * against a local S3 server (and a local SQS endpoint for the sweeper).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { GetObjectCommand, GetObjectTaggingCommand, PutObjectCommand } from '@aws-sdk/client-s3';

import { resultKey } from '../../labelling/results.js';
import {
  type AssemblyFunction, type LambdaLayout, type SandboxReport, invokeInSandbox, layOutFunction, readAssemblyFunctions, resolveEnvironment,
} from '../../scripts/lambda-sandbox.js';
import { type LocalSqs, startLocalSqs } from '../../scripts/local-sqs.js';
import { gradientJpeg } from '../integration/functions-harness.js';
import { httpEvent, s3Event, scheduledEvent, sqsEvent } from '../../scripts/lambda-events.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { type LocalS3, startLocalS3 } from '../helpers/s3.js';
import { type Synth, synth } from '../infra/fixtures.js';

const BUCKET = 'resnet-artifacts';
/** A key S3 URL-encodes in events: spaces become `+`, a real `+` becomes %2B, unicode is %-escaped. */
const TRICKY_KEY = 'uploads/cat + dog/été 写真 1+1.jpg';
const SQS_KEY = 'uploads/queued/ünïcode+plus.jpg';
const SWEEP_KEY = 'uploads/backlog/left over.jpg';
const MODEL_ID = 'small';

let s: Synth;
let s3: LocalS3;
let sqs: LocalSqs;
let fns: AssemblyFunction[];
const roots: string[] = [];

const SLOW = 240_000;

beforeAll(async () => {
  [s, s3, sqs] = await Promise.all([synth({ modelId: MODEL_ID, 'aws:cdk:enable-asset-metadata': true }), startLocalS3({ buckets: [BUCKET] }), startLocalSqs()]);
  fns = readAssemblyFunctions(s.app.outdir, s.stack.stackName);
  for (const [i, key] of [TRICKY_KEY, SQS_KEY, SWEEP_KEY].entries()) {
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: await gradientJpeg(96, 80, i), ContentType: 'image/jpeg' }));
  }
}, SLOW);
afterAll(async () => {
  await Promise.all([s3?.stop(), sqs?.stop()]);
  s?.cleanup();
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function fnFor(constructId: string): AssemblyFunction {
  const logicalId = s.stack.getLogicalId(s.stack.node.findChild(constructId).node.findChild('Function').node.defaultChild as never);
  const fn = fns.find((f) => f.logicalId === logicalId);
  if (!fn) throw new Error(`${constructId} (${logicalId}) is not among the assembly's functions: ${fns.map((f) => f.logicalId).join(', ')}`);
  return fn;
}

function layOut(fn: AssemblyFunction): LambdaLayout {
  const root = mkdtempSync(path.join(os.tmpdir(), 'lambda-root-'));
  roots.push(root);
  return layOutFunction(fn, root);
}

async function run(constructId: string, events: unknown[], mutate?: (l: LambdaLayout) => void): Promise<{ report: SandboxReport; layout: LambdaLayout }> {
  const fn = fnFor(constructId);
  const layout = layOut(fn);
  mutate?.(layout);
  const environment = {
    ...resolveEnvironment(fn.environment, layout, { StorageBucket: BUCKET, BacklogWorkQueue: sqs.queueUrl }),
    S3_ENDPOINT: s3.endpoint,
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    POWERTOOLS_METRICS_DISABLED: 'true',
  };
  const report = await invokeInSandbox(fn, layout, { events, environment, functionName: constructId, timeoutMs: 180_000 });
  return { report, layout };
}

function ok(report: SandboxReport): unknown[] {
  const failed = report.invokes.filter((i) => i.error);
  if (failed.length) throw new Error(`invocation failed: ${JSON.stringify(failed)}\n${report.logs.slice(-3000)}`);
  return report.invokes.map((i) => i.result);
}

async function tagsOf(key: string): Promise<Record<string, string>> {
  const out = await s3.client.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: key }));
  return Object.fromEntries((out.TagSet ?? []).map((t) => [t.Key!, t.Value!]));
}

async function resultOf(key: string): Promise<Record<string, unknown>> {
  const out = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: resultKey('resnet-results/', BUCKET, key, MODEL_ID) }));
  return JSON.parse(await out.Body!.transformToString()) as Record<string, unknown>;
}

/** Nothing the process loaded may come from outside the layout (the repository's node_modules above all). */
function expectSelfContained(report: SandboxReport, layout: LambdaLayout): void {
  const outside = report.loadedFiles.filter((f) => !f.startsWith(`${layout.root}/`));
  expect(outside).toEqual([]);
  expect(report.loadedFiles.some((f) => f.startsWith(`${layout.opt}/nodejs/node_modules/onnxruntime-node/`))).toBe(true);
}

test('the layout root is outside the repository and no node_modules folder above it exists', () => {
  const root = layOut(fnFor('Sweeper')).root;
  expect(path.relative(REPO_ROOT, root).startsWith('..')).toBe(true);
  for (let dir = path.dirname(root); ; dir = path.dirname(dir)) {
    expect(existsSync(path.join(dir, 'node_modules'))).toBe(false);
    if (dir === path.dirname(dir)) break;
  }
});

// Before the labellers run: all three uploads are backlog.
test('sweeper: the scheduled event enqueues the unlabelled uploads to the work queue', async () => {
  const { report, layout } = await run('Sweeper', [scheduledEvent()]);
  const [result] = ok(report) as Array<{ enqueued: number; backlog: number }>;
  expect(result).toMatchObject({ enqueued: 3, backlog: 3 });
  expect(sqs.messages.map((m) => (JSON.parse(m) as { key: string }).key).sort()).toEqual([TRICKY_KEY, SQS_KEY, SWEEP_KEY].sort());
  expect(report.loadedFiles.filter((f) => !f.startsWith(`${layout.root}/`))).toEqual([]);
}, SLOW);

test('s3-tagger: an S3 ObjectCreated event with a URL-encoded key (+, space, unicode) tags the object and writes the result', async () => {
  const event = s3Event({ bucket: BUCKET, key: TRICKY_KEY, size: 1 });
  expect(event.Records[0]!.s3.object.key).toContain('+%2B+');
  const { report, layout } = await run('S3Tagger', [event, event]);
  expect(ok(report)).toHaveLength(2);
  const tags = await tagsOf(TRICKY_KEY);
  expect(tags['resnet:model']).toBe(MODEL_ID);
  expect(tags['resnet:label1']).toMatch(/^class \d$/);
  const result = await resultOf(TRICKY_KEY);
  expect(result).toMatchObject({ model: MODEL_ID, key: TRICKY_KEY });
  expect((result.labels as unknown[]).length).toBe(5);
  expectSelfContained(report, layout);
}, SLOW);

test('sqs-worker: an SQS-wrapped S3 event labels the object and reports no failures', async () => {
  const { report, layout } = await run('SqsWorker', [sqsEvent([s3Event({ bucket: BUCKET, key: SQS_KEY, size: 1 })])]);
  const [result] = ok(report);
  expect(result).toEqual({ batchItemFailures: [] });
  expect((await tagsOf(SQS_KEY))['resnet:model']).toBe(MODEL_ID);
  expect(await resultOf(SQS_KEY)).toMatchObject({ model: MODEL_ID, key: SQS_KEY });
  expectSelfContained(report, layout);
}, SLOW);

test('classify-api: an HTTP API v2 event with a base64 binary body answers 200 with labels (cold, then warm); POST /uploads presigns into the bucket', async () => {
  const body = await gradientJpeg(120, 90, 7);
  const event = httpEvent({ method: 'POST', path: '/classify', headers: { 'content-type': 'image/jpeg' }, body });
  expect(event.isBase64Encoded).toBe(true);
  const upload = httpEvent({ method: 'POST', path: '/uploads', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ filename: 'big photo.jpg', contentType: 'image/jpeg' }) });
  const { report, layout } = await run('ClassifyApi', [event, event, upload]);
  const [cold, warm, presigned] = ok(report) as Array<{ statusCode: number; body: string }>;
  // The presigned upload goes to the stack's bucket under the uploads prefix (INPUT_BUCKET, UPLOADS_PREFIX from the template).
  expect(presigned!.statusCode).toBe(201);
  expect(JSON.parse(presigned!.body)).toMatchObject({ bucket: BUCKET, key: expect.stringMatching(/^uploads\/.*big-photo\.jpg$/), method: 'POST' });
  const results = [cold!, warm!];
  for (const r of results) {
    expect(r.statusCode).toBe(200);
    const parsed = JSON.parse(r.body) as { model: string; labels: Array<{ label: string; score: number }> };
    expect(parsed.model).toBe(MODEL_ID);
    expect(parsed.labels).toHaveLength(5);
  }
  expect(JSON.parse(results[0]!.body).labels).toEqual(JSON.parse(results[1]!.body).labels);
  expectSelfContained(report, layout);
}, SLOW);


test('a module missing from the artefact fails the import, as it would in Lambda', async () => {
  const { report } = await run('ClassifyApi', [httpEvent({ method: 'POST', path: '/classify', headers: { 'content-type': 'image/jpeg' }, body: await gradientJpeg(32, 32) })],
    (l) => rmSync(path.join(l.opt, 'nodejs/node_modules/onnxruntime-common'), { recursive: true }));
  const failure = report.invokes.find((i) => i.error);
  expect(failure?.error?.message).toMatch(/Cannot find module 'onnxruntime-common'/);
}, SLOW);
