/**
 * The synthesised artefacts, run as Lambda runs them: each function's code asset and layers from
 * the cloud assembly laid out as /var/task and /opt under a temporary root outside the
 * repository, the handler loaded by its template handler string in a clean `node` process with
 * Lambda's NODE_PATH and no project node_modules reachable, and invoked with AWS-shaped events
 * against a local S3 server (and a local SQS endpoint for the sweeper).
 *
 * Every AWS call the functions make goes through a recording proxy; the last tests evaluate each,
 * and what Lambda, S3 and EventBridge Scheduler do for the stack, against the template's policies
 * with an IAM policy evaluator (test/helpers/iam-check.ts), and list the grants nothing used.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { GetObjectCommand, GetObjectTaggingCommand, PutObjectCommand } from '@aws-sdk/client-s3';

import { INVENTORY_ID } from '../../infra/constructs/backlog-inventory.js';
import { resultKey } from '../../labelling/results.js';
import {
  type AssemblyFunction, type LambdaLayout, type SandboxReport, invokeInSandbox, layOutFunction, readAssemblyFunctions, resolveEnvironment,
} from '../../scripts/lambda-sandbox.js';
import { type LocalSqs, startLocalSqs } from '../../scripts/local-sqs.js';
import { type AwsCall, type RecordingProxy, startRecordingProxy } from '../helpers/aws-recorder.js';
import { type Caller, type IamRequest, type Refusal, StackPermissions, grantLine, iamRequestsOf } from '../helpers/iam-check.js';
import { TemplateResolver } from '../helpers/template-resolver.js';
import { gradientJpeg } from '../integration/functions-harness.js';
import { httpEvent, s3Event, scheduledEvent, sqsEvent } from '../../scripts/lambda-events.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { type LocalS3, startLocalS3 } from '../helpers/s3.js';
import { type Synth, synth } from '../infra/fixtures.js';

const BUCKET = 'resnet-artifacts';
/** The inventory reports' bucket (INVENTORY_BUCKET); the template's inventory writes to `<BUCKET>/resnet-uploads/`. */
const INVENTORY = 'resnet-artifacts-inventory';
/** A key S3 URL-encodes in events: spaces become `+`, a real `+` becomes %2B, unicode is %-escaped. */
const TRICKY_KEY = 'uploads/cat + dog/été 写真 1+1.jpg';
const SQS_KEY = 'uploads/queued/ünïcode+plus.jpg';
const SWEEP_KEY = 'uploads/backlog/left over.jpg';
const MODEL_ID = 'small';
const WORK_QUEUE = 'resnet-work';

/**
 * Grants no recorded call uses, each with why it stays. The permission test fails when this
 * list and the grants actually unused differ, in either direction.
 */
const UNUSED_BUT_KEPT: Record<string, string> = {};

let s: Synth;
let s3: LocalS3;
let sqs: LocalSqs;
let fns: AssemblyFunction[];
let s3Proxy: RecordingProxy;
let sqsProxy: RecordingProxy;
let batchProxy: RecordingProxy;
let resolver: TemplateResolver;
let permissions: StackPermissions;
/** The calls each function made (by its template logical id), in order. */
const callsBy = new Map<string, AwsCall[]>();
const roots: string[] = [];

const SLOW = 240_000;

beforeAll(async () => {
  [s, s3, sqs] = await Promise.all([synth({ modelId: MODEL_ID, 'aws:cdk:enable-asset-metadata': true }), startLocalS3({ buckets: [BUCKET, INVENTORY] }), startLocalSqs(WORK_QUEUE)]);
  fns = readAssemblyFunctions(s.app.outdir, s.stack.stackName);
  [s3Proxy, sqsProxy, batchProxy] = await Promise.all([startRecordingProxy('s3', s3.endpoint, { echoVersionId: true }), startRecordingProxy('sqs', new URL(sqs.queueUrl).origin), startRecordingProxy('batch')]);
  resolver = new TemplateResolver(s.template.toJSON() as never, {
    stackName: s.stack.stackName,
    names: { [idOf(s.stack.storage.bucket)]: BUCKET, [idOf(s.stack.inventory.bucket!)]: INVENTORY, [idOf(s.stack.sweeper.work.queue)]: WORK_QUEUE },
  });
  permissions = new StackPermissions(s.template.toJSON() as never, resolver);
  for (const [i, key] of [TRICKY_KEY, SQS_KEY, SWEEP_KEY].entries()) {
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: await gradientJpeg(96, 80, i), ContentType: 'image/jpeg' }));
  }
}, SLOW);
afterAll(async () => {
  await Promise.all([s3?.stop(), sqs?.stop(), s3Proxy?.close(), sqsProxy?.close(), batchProxy?.close()]);
  s?.cleanup();
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function idOf(c: { node: { defaultChild?: unknown } }): string {
  return s.stack.getLogicalId(c.node.defaultChild as never);
}

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

/**
 * Runs a function's artefacts on `events`, its S3, SQS and Batch calls going through the
 * recording proxies; `env` overrides template variables (another sweep prefix or threshold).
 */
async function run(constructId: string, events: unknown[], opts: { mutate?: (l: LambdaLayout) => void; env?: Record<string, string> } = {}): Promise<{ report: SandboxReport; layout: LambdaLayout; calls: AwsCall[] }> {
  const fn = fnFor(constructId);
  const layout = layOut(fn);
  opts.mutate?.(layout);
  const gpu = s.stack.gpu;
  const environment = {
    ...resolveEnvironment(fn.environment, layout, {
      StorageBucket: BUCKET,
      [idOf(s.stack.inventory.bucket!)]: INVENTORY,
      BacklogWorkQueue: `${sqsProxy.endpoint}/123456789012/${WORK_QUEUE}`,
      // The sweeper's Batch job queue and definition, as the template's ARNs.
      ...(gpu ? { [idOf(gpu.jobQueue)]: resolver.arn(idOf(gpu.jobQueue)), [idOf(gpu.jobDefinition)]: resolver.ref(idOf(gpu.jobDefinition)) } : {}),
    }),
    S3_ENDPOINT: s3Proxy.endpoint,
    AWS_ENDPOINT_URL_BATCH: batchProxy.endpoint,
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    POWERTOOLS_METRICS_DISABLED: 'true',
    ...opts.env,
  };
  const before = [s3Proxy, sqsProxy, batchProxy].map((p) => p.calls.length);
  const report = await invokeInSandbox(fn, layout, { events, environment, functionName: constructId, timeoutMs: 180_000 });
  const calls = [s3Proxy, sqsProxy, batchProxy].flatMap((p, i) => p.calls.slice(before[i]));
  callsBy.set(fn.logicalId, [...(callsBy.get(fn.logicalId) ?? []), ...calls]);
  expectRuntimeNode(fn, report);
  return { report, layout, calls };
}

/**
 * The handler process runs on the Node the tests run on. Where that is the function's runtime
 * (Node 24 for nodejs24.x, as in CI) it must be the one the handler reported; on a development
 * Node of another major version the test says the run is not the runtime's.
 */
const warnedNode = new Set<string>();
function expectRuntimeNode(fn: AssemblyFunction, report: SandboxReport): void {
  const runtimeMajor = /^nodejs(\d+)\.x$/.exec(fn.runtime)?.[1];
  expect(runtimeMajor).toBeDefined();
  if (process.versions.node.split('.')[0] === runtimeMajor) expect(report.nodeVersion).toMatch(new RegExp(`^v${runtimeMajor}\\.`));
  else if (!warnedNode.has(fn.runtime)) {
    warnedNode.add(fn.runtime);
    console.warn(`handlers ran on Node ${report.nodeVersion}, not the functions' runtime ${fn.runtime}: run the tests on Node ${runtimeMajor ?? '?'} (.ci/run does) to test what Lambda runs`);
  }
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
  // The stack's bucket is versioned, so S3's events carry a versionId (the tagger then reads and
  // tags that version); an imported, unversioned bucket's do not.
  const versioned = s3Event({ bucket: BUCKET, key: TRICKY_KEY, size: 1, versionId: 'v1' });
  const { report, layout, calls } = await run('S3Tagger', [event, versioned]);
  expect(ok(report)).toHaveLength(2);
  expect(calls.filter((c) => c.versionId === 'v1').map((c) => c.operation)).toEqual(expect.arrayContaining(['GetObject', 'PutObjectTagging']));
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
  const fromS3 = httpEvent({ method: 'POST', path: '/classify', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ s3: { bucket: BUCKET, key: SQS_KEY } }) });
  const resultPath = (key: string): string => `/results/${encodeURIComponent(key)}`;
  const stored = httpEvent({ method: 'GET', path: resultPath(TRICKY_KEY), routeKey: 'GET /results/{key+}', pathParameters: { key: TRICKY_KEY } });
  const none = httpEvent({ method: 'GET', path: resultPath(SWEEP_KEY), routeKey: 'GET /results/{key+}', pathParameters: { key: SWEEP_KEY } });
  const { report, layout } = await run('ClassifyApi', [event, event, upload, fromS3, stored, none]);
  const [cold, warm, presigned, s3Classified, storedResult, noResult] = ok(report) as Array<{ statusCode: number; body: string }>;
  // The presigned upload goes to the stack's bucket under the uploads prefix (INPUT_BUCKET, UPLOADS_PREFIX from the template).
  expect(presigned!.statusCode).toBe(201);
  const grant = JSON.parse(presigned!.body) as { bucket: string; key: string };
  expect(grant).toMatchObject({ bucket: BUCKET, key: expect.stringMatching(/^uploads\/.*big-photo\.jpg$/), method: 'POST' });
  // The client's upload is signed with the function's credentials: S3 authorises the presigned
  // POST as the function's s3:PutObject of that key.
  callsBy.get(fnFor('ClassifyApi').logicalId)!.push({ service: 's3', operation: 'PutObject', bucket: grant.bucket, key: grant.key, status: 200 });
  expect([s3Classified!.statusCode, storedResult!.statusCode, noResult!.statusCode]).toEqual([200, 200, 404]);
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
    { mutate: (l) => rmSync(path.join(l.opt, 'nodejs/node_modules/onnxruntime-common'), { recursive: true }) });
  const failure = report.invokes.find((i) => i.error);
  expect(failure?.error?.message).toMatch(/Cannot find module 'onnxruntime-common'/);
}, SLOW);

// After the fan-out sweep above, and on a prefix of its own (its own cursor): a backlog above the
// threshold is written as a manifest and submitted to AWS Batch (a local endpoint answers SubmitJob).
// The template sets INVENTORY_BUCKET, but no report has been delivered yet: the manifest path.
test('sweeper: above the threshold, before the first inventory report, it writes a manifest and submits a Batch job on the template\'s queue and definition', async () => {
  const gpu = s.stack.gpu!;
  const { report, calls } = await run('Sweeper', [scheduledEvent()], { env: { SWEEP_PREFIX: 'uploads/backlog/', BACKLOG_THRESHOLD: '0' } });
  const [result] = ok(report) as Array<{ backlog: number; batch?: { input: string }; inventory?: unknown }>;
  expect(result).toMatchObject({ backlog: 1 });
  expect(result!.inventory).toBeUndefined();
  expect(result!.batch?.input).toMatch(/^s3:\/\/resnet-artifacts\/resnet-results\/_sweep\/.*backlog\.json$/);
  expect(calls.some((c) => c.operation === 'ListObjectsV2' && c.bucket === INVENTORY)).toBe(true);
  const submit = calls.filter((c) => c.operation === 'SubmitJob');
  expect(submit).toEqual([expect.objectContaining({ status: 200, jobQueue: resolver.arn(idOf(gpu.jobQueue)), jobDefinition: resolver.ref(idOf(gpu.jobDefinition)) })]);
}, SLOW);

// A delivered report, laid out as S3 writes it (<source bucket>/<inventory id>/<date>/manifest.json,
// .../data/*.csv.gz, .../hive/), beside a newer report still being delivered (no manifest.json yet):
// the next sweep submits one job over the delivered report, reading the inventory bucket with the
// sweeper's role (checked below).
test('sweeper: above the threshold, with an inventory report delivered, it submits one job over the report', async () => {
  const folder = `${BUCKET}/${INVENTORY_ID}/`;
  const manifestKey = `${folder}2026-12-06T01-00Z/manifest.json`;
  const put = (Key: string, Body: string): Promise<unknown> => s3.client.send(new PutObjectCommand({ Bucket: INVENTORY, Key, Body }));
  await put(`${folder}data/part-0.csv.gz`, 'not read by the sweeper');
  await put(manifestKey, JSON.stringify({ sourceBucket: BUCKET, fileFormat: 'CSV', fileSchema: 'Bucket, Key, Size, LastModifiedDate, ETag', files: [{ key: `${folder}data/part-0.csv.gz` }] }));
  await put(`${folder}2026-12-06T01-00Z/manifest.checksum`, 'x');
  await put(`${folder}hive/dt=2026-12-06-01-00/symlink.txt`, 'x');
  await put(`${folder}2026-12-07T01-00Z/manifest.checksum`, 'x');
  const { report, calls } = await run('Sweeper', [scheduledEvent()], { env: { SWEEP_PREFIX: 'uploads/backlog/', BACKLOG_THRESHOLD: '0' } });
  const [result] = ok(report) as Array<{ backlog: number; batch?: { input: string; plan: { arraySize: number } }; inventory?: unknown }>;
  expect(result).toMatchObject({ backlog: 1, inventory: { report: '2026-12-06T01-00Z', held: false } });
  expect(result!.batch).toMatchObject({ input: `s3://${INVENTORY}/${manifestKey}`, plan: { arraySize: 1 } });
  expect(calls.filter((c) => c.operation === 'SubmitJob')).toHaveLength(1);
  // The sweeper reads the manifest, and nothing else of the inventory bucket.
  expect(calls.filter((c) => c.bucket === INVENTORY && c.operation === 'GetObject').map((c) => c.key)).toEqual([manifestKey]);
}, SLOW);

describe('permissions: each call above, evaluated against the role the template gives its caller', () => {
  const functions = ['S3Tagger', 'SqsWorker', 'ClassifyApi', 'Sweeper'];
  const refusals: Refusal[] = [];
  const explain = (r: Refusal): string => `${r.caller}: ${r.request.action} on ${r.request.resource} (${r.request.why}) -> ${r.result}`;

  test('every recorded S3, SQS and Batch call of each function is allowed by its role and the bucket or queue policy', async () => {
    for (const id of functions) {
      const fn = fnFor(id);
      const calls = callsBy.get(fn.logicalId) ?? [];
      expect(calls.length).toBeGreaterThan(0);
      const requests: IamRequest[] = calls.flatMap(iamRequestsOf);
      refusals.push(...await permissions.checkAll({ role: permissions.functionRole(fn.logicalId) }, requests));
    }
    expect(refusals.map(explain)).toEqual([]);
  });

  test('what Lambda does with each function role (logs, X-Ray, SQS polling, failure destination) is allowed', async () => {
    const denied: Refusal[] = [];
    for (const id of functions) {
      for (const { caller, request } of permissions.lambdaPlatformRequests(fnFor(id).logicalId)) {
        const r = await permissions.check(caller, request);
        if (r) denied.push(r);
      }
    }
    expect(denied.map(explain)).toEqual([]);
  });

  test('S3 may send the upload events to the queue (queue policy, aws:SourceArn = the bucket), and no other bucket may', async () => {
    const sends = permissions.notificationRequests();
    expect(sends).toHaveLength(1);
    expect(sends[0]!.request.resource).toBe(resolver.arn(idOf(s.stack.uploads.events.queue)));
    const denied = (await Promise.all(sends.map(({ caller, request }) => permissions.check(caller, request)))).filter((r) => r !== undefined);
    expect(denied.map(explain)).toEqual([]);
    const other: Caller = { service: 's3.amazonaws.com', context: { 'aws:SourceArn': 'arn:aws:s3:::someone-elses-bucket', 'aws:SourceAccount': '123456789012' } };
    expect((await permissions.check(other, sends[0]!.request))?.result).toBe('ImplicitlyDenied');
  });

  test('the schedule may assume its role, invoke the sweeper and dead-letter a failed delivery', async () => {
    const steps = permissions.scheduleRequests();
    expect(steps.map((x) => x.request.action)).toEqual(['sts:AssumeRole', 'lambda:InvokeFunction', 'sqs:SendMessage']);
    expect(steps[1]!.request.resource).toBe(resolver.arn(fnFor('Sweeper').logicalId));
    const denied = (await Promise.all(steps.map(({ caller, request }) => permissions.check(caller, request)))).filter((r) => r !== undefined);
    expect(denied.map(explain)).toEqual([]);
  });

  test('no grant of these roles goes unused, except the ones listed with a reason', () => {
    const roles = [...functions.map((id) => permissions.functionRole(fnFor(id).logicalId)), ...new Set(permissions.scheduleRequests().flatMap((x) => ('role' in x.caller ? [x.caller.role] : [])))];
    const unused = roles.flatMap((role) => permissions.unused(role).map((g) => `${role}: ${grantLine(g)}`));
    console.log(`Granted but never used (${unused.length}):\n${unused.map((u) => `  ${u}${UNUSED_BUT_KEPT[u] ? `  [kept: ${UNUSED_BUT_KEPT[u]}]` : ''}`).join('\n')}`);
    expect(unused.sort()).toEqual(Object.keys(UNUSED_BUT_KEPT).sort());
  });
});
