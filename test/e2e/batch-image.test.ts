/**
 * The batch container's file tree without Docker: what batch/Dockerfile puts in /app (the
 * compiled dist/ of its build stage, and the production node_modules `npm ci --omit=dev` installs
 * from package-lock.json), assembled in a temporary folder outside the repository, and
 * `resnet batch` run from it in a clean process, as the image's ENTRYPOINT would, with the
 * model mounted at MODEL_DIR: on a local folder and on a local S3 server.
 *
 * The S3 runs use the job definition's command and environment from the synthesised template
 * (its model from the S3 copy the template names), through a recording proxy; every call is then
 * evaluated against the job role's policies and the bucket policies (test/helpers/iam-check.ts).
 *
 * What this cannot check (needs a Docker host): the CUDA base image, the onnxruntime-node CUDA
 * download (ONNXRUNTIME_NODE_INSTALL=cuda12), the non-root user, and GPU inference.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';

import { GetObjectTaggingCommand, PutObjectCommand } from '@aws-sdk/client-s3';

import { INVENTORY_ID } from '../../infra/constructs/backlog-inventory.js';
import { type AwsCall, type RecordingProxy, startRecordingProxy } from '../helpers/aws-recorder.js';
import { StackPermissions, grantLine, iamRequestsOf } from '../helpers/iam-check.js';
import { TemplateResolver } from '../helpers/template-resolver.js';

import { gradientJpeg } from '../integration/functions-harness.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { type LocalS3, startLocalS3 } from '../helpers/s3.js';
import { type Synth, smallModelLayerDir, synth } from '../infra/fixtures.js';

const exec = promisify(execFile);
const SLOW = 240_000;
const root = mkdtempSync(path.join(os.tmpdir(), 'batch-image-'));
const app = path.join(root, 'app');
const work = path.join(root, 'work');
const BUCKET = 'photos';
let s3: LocalS3;
let modelDir: string;
let s: Synth;
let proxy: RecordingProxy;
let resolver: TemplateResolver;
let permissions: StackPermissions;
/** The job role's logical id, and the job definition's command and environment, resolved. */
let jobRole: string;
let jobCommand: string[];
let jobEnv: Record<string, string>;
const jobCalls: AwsCall[] = [];

/**
 * Grants of the job role no recorded call uses, each with why it stays. The permission test fails
 * when this list and the grants actually unused differ.
 */
const UNUSED_BUT_KEPT: Record<string, string> = {};

/** The packages `npm ci --omit=dev` installs: every lockfile entry not marked dev (optional ones only where this platform has them). */
function productionPackages(): string[] {
  const lock = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; optional?: boolean }> };
  const out: string[] = [];
  for (const [p, meta] of Object.entries(lock.packages)) {
    if (p === '' || meta.dev) continue;
    if (!existsSync(path.join(REPO_ROOT, p))) {
      if (meta.optional) continue;
      throw new Error(`${p} is a production dependency in package-lock.json but is not installed; run npm ci.`);
    }
    out.push(p);
  }
  return out;
}

beforeAll(async () => {
  // The build stage's `npx tsc -p tsconfig.build.json` output is dist/ (`npm ci` builds it through `prepare`).
  if (!existsSync(path.join(REPO_ROOT, 'dist/cli/resnet.js'))) throw new Error('dist/ is missing: run `npm run build` first.');
  mkdirSync(app, { recursive: true });
  for (const f of ['package.json', 'package-lock.json', '.npmrc']) cpSync(path.join(REPO_ROOT, f), path.join(app, f));
  // Outermost first, so a nested node_modules/a/node_modules/b lands inside its copied parent.
  for (const p of productionPackages().sort((a, b) => a.length - b.length)) {
    cpSync(path.join(REPO_ROOT, p), path.join(app, p), { recursive: true, dereference: true, filter: (src) => !src.slice(path.join(REPO_ROOT, p).length).includes('/node_modules/') });
  }
  cpSync(path.join(REPO_ROOT, 'dist'), path.join(app, 'dist'), { recursive: true });
  mkdirSync(path.join(work, 'images'), { recursive: true });
  for (let i = 0; i < 3; i++) writeFileSync(path.join(work, 'images', `img ${i}.jpg`), await gradientJpeg(80, 64, i));
  // The template only: the functions are not bundled (their code is not what runs here).
  [s3, modelDir, s] = await Promise.all([startLocalS3({ buckets: [BUCKET] }), smallModelLayerDir(), synth({ modelId: 'small', 'aws:cdk:bundling-stacks': [] })]);
  const gpu = s.stack.gpu!;
  const idOf = (c: { node: { defaultChild?: unknown } }): string => s.stack.getLogicalId(c.node.defaultChild as never);
  const template = s.template.toJSON() as { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
  resolver = new TemplateResolver(template, { stackName: s.stack.stackName, names: { [idOf(s.stack.storage.bucket)]: BUCKET } });
  permissions = new StackPermissions(template, resolver);
  jobRole = idOf(gpu.jobRole);
  const job = resolver.resolve(template.Resources[idOf(gpu.jobDefinition)]!.Properties) as {
    Parameters: Record<string, string>; ContainerProperties: { Command: string[]; JobRoleArn: string; Environment: Array<{ Name: string; Value: string }> };
  };
  expect(job.ContainerProperties.JobRoleArn).toBe(resolver.arn(jobRole));
  jobCommand = job.ContainerProperties.Command.map((a) => a.replace(/^Ref::(\w+)$/, (_, p: string) => job.Parameters[p]!));
  jobEnv = Object.fromEntries(job.ContainerProperties.Environment.map((e) => [e.Name, e.Value]));
  for (let i = 0; i < 2; i++) await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `uploads/pic+${i} é.jpg`, Body: await gradientJpeg(72, 72, i + 5) }));
  // The model's S3 copy, where the job definition says it is (the CDK assets bucket).
  const created = new Set<string>();
  for (const [uri, file] of [[jobEnv.MODEL_S3_URI, 'model.onnx'], [jobEnv.LABELS_S3_URI, 'labels.txt']] as const) {
    const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri ?? '');
    if (!m) throw new Error(`the job definition has no S3 model location (${uri})`);
    if (!created.has(m[1]!)) await s3.createBucket(m[1]!);
    created.add(m[1]!);
    await s3.client.send(new PutObjectCommand({ Bucket: m[1], Key: m[2], Body: readFileSync(path.join(modelDir, 'model', file)) }));
  }
  proxy = await startRecordingProxy('s3', s3.endpoint);
}, SLOW);
afterAll(async () => {
  await Promise.all([s3?.stop(), proxy?.close()]);
  s?.cleanup();
  rmSync(root, { recursive: true, force: true });
});

/** `resnet <args>` from the image tree: ENTRYPOINT ["resnet"] is /app/dist/cli/resnet.js, cwd /work, the image's ENV. */
async function resnet(args: string[], env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [path.join(app, 'dist/cli/resnet.js'), ...args], {
      cwd: work,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work, NODE_ENV: 'production', MODEL_DIR: path.join(modelDir, 'model'),
        RESNET_CACHE_DIR: path.join(work, 'models'), POWERTOOLS_LOG_LEVEL: 'WARN', ...env,
      },
      maxBuffer: 16 * 1024 * 1024,
    });
    return { stdout, stderr, code: 0 };
  } catch (e) {
    const err = e as { stdout: string; stderr: string; code: number };
    return { stdout: err.stdout, stderr: err.stderr, code: err.code };
  }
}

test("the Dockerfile's build stage copies every folder the build compiles, so its dist/ is the one tested here", () => {
  const dockerfile = readFileSync(path.join(REPO_ROOT, 'batch/Dockerfile'), 'utf8');
  const copied = [...dockerfile.matchAll(/^COPY (\S+) \.\/(\S+)$/gm)].filter((m) => m[1] === m[2]).map((m) => m[1]);
  const compiled = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] }).include;
  expect([...copied].sort()).toEqual([...compiled].sort());
});

test('the tree holds no dev dependency and nothing resolves from the repository', () => {
  const installed = readdirSync(path.join(app, 'node_modules'));
  for (const dev of ['typescript', 'jest', 'aws-cdk-lib', 'sharp', 'esbuild']) expect(installed).not.toContain(dev);
  expect(path.relative(REPO_ROOT, app).startsWith('..')).toBe(true);
});

test('resnet batch labels a local folder from the image tree', async () => {
  const r = await resnet(['batch', './images', '--model-id', 'small', '--out', './results', '--workers', '0', '--json']);
  expect(r.stderr).not.toMatch(/Cannot find module|ERR_MODULE_NOT_FOUND/);
  expect(r.code).toBe(0);
  const results = readdirSync(path.join(work, 'results'), { recursive: true }).map(String).filter((f) => f.endsWith('.json'));
  expect(results).toHaveLength(3);
}, SLOW);

/** Runs the job definition's command with its environment against the local S3, through the recording proxy. */
async function runJob(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  const before = proxy.calls.length;
  const r = await resnet([...args, '--endpoint', proxy.endpoint, '--workers', '0', '--json'], {
    ...jobEnv, MODEL_DIR: '', AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1',
  });
  jobCalls.push(...proxy.calls.slice(before));
  return r;
}

test('the job definition\'s command labels the uploads prefix on the local S3 server (model from its S3 copy) and tags the objects', async () => {
  expect(jobCommand).toEqual(['batch', `s3://${BUCKET}/uploads/`]);
  const r = await runJob(jobCommand);
  expect(r.stderr).not.toMatch(/Cannot find module|ERR_MODULE_NOT_FOUND/);
  expect(r.code).toBe(0);
  for (let i = 0; i < 2; i++) {
    const tags = await s3.client.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: `uploads/pic+${i} é.jpg` }));
    expect(tags.TagSet).toEqual(expect.arrayContaining([{ Key: 'resnet:model', Value: 'small' }]));
  }
  expect(jobCalls.some((c) => c.operation === 'GetObject' && `s3://${c.bucket}/${c.key}` === jobEnv.MODEL_S3_URI)).toBe(true);
}, SLOW);

test('the job labels what an S3 Inventory report of the inventory bucket lists', async () => {
  const reports = resolver.name(s.stack.getLogicalId(s.stack.inventory.bucket!.node.defaultChild as never));
  await s3.createBucket(reports);
  const base = `${BUCKET}/${INVENTORY_ID}`;
  await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'uploads/from inventory.jpg', Body: await gradientJpeg(64, 64, 9) }));
  const csv = `"${BUCKET}","${encodeURIComponent('uploads/from inventory.jpg')}","1","2026-01-01T00:00:00.000Z","d41d8cd98f00b204e9800998ecf8427e"\n`;
  await s3.client.send(new PutObjectCommand({ Bucket: reports, Key: `${base}/data/part-0.csv.gz`, Body: gzipSync(csv) }));
  const manifest = { sourceBucket: BUCKET, destinationBucket: `arn:aws:s3:::${reports}`, fileFormat: 'CSV', fileSchema: 'Bucket, Key, Size, LastModifiedDate, ETag', files: [{ key: `${base}/data/part-0.csv.gz` }] };
  await s3.client.send(new PutObjectCommand({ Bucket: reports, Key: `${base}/2026-01-01T01-00Z/manifest.json`, Body: JSON.stringify(manifest) }));
  const r = await runJob(['batch', `s3://${reports}/${base}/2026-01-01T01-00Z/manifest.json`]);
  expect(r.code).toBe(0);
  const tags = await s3.client.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: 'uploads/from inventory.jpg' }));
  expect(tags.TagSet).toEqual(expect.arrayContaining([{ Key: 'resnet:model', Value: 'small' }]));
}, SLOW);

test('every S3 call of the batch worker is allowed by the job role and the bucket policies; no grant goes unused but the listed ones', async () => {
  expect(jobCalls.length).toBeGreaterThan(0);
  const trust = await permissions.check({ service: 'ecs-tasks.amazonaws.com', context: {} }, { action: 'sts:AssumeRole', resource: resolver.arn(jobRole), why: 'ECS assumes the job role' });
  expect(trust).toBeUndefined();
  const refusals = await permissions.checkAll({ role: jobRole }, jobCalls.flatMap(iamRequestsOf));
  expect(refusals.map((r) => `${r.request.action} on ${r.request.resource} (${r.request.why}) -> ${r.result}`)).toEqual([]);
  const unused = permissions.unused(jobRole).map(grantLine);
  console.log(`Job role grants never used (${unused.length}):\n${unused.map((u) => `  ${u}${UNUSED_BUT_KEPT[u] ? `  [kept: ${UNUSED_BUT_KEPT[u]}]` : ''}`).join('\n')}`);
  expect(unused.sort()).toEqual(Object.keys(UNUSED_BUT_KEPT).sort());
});
