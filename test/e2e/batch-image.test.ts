/**
 * The batch container's file tree without Docker: what batch/Dockerfile puts in /app (the
 * compiled dist/ of its build stage, and the production node_modules `npm ci --omit=dev` installs
 * from package-lock.json), assembled in a temporary folder outside the repository, and
 * `resnet batch` run from it in a clean process, as the image's ENTRYPOINT would, with the
 * model mounted at MODEL_DIR: on a local folder and on a local S3 server.
 *
 * What this cannot check (needs a Docker host): the CUDA base image, the onnxruntime-node CUDA
 * download (ONNXRUNTIME_NODE_INSTALL=cuda12), the non-root user, and GPU inference.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { GetObjectTaggingCommand, PutObjectCommand } from '@aws-sdk/client-s3';

import { gradientJpeg } from '../integration/functions-harness.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { type LocalS3, startLocalS3 } from '../helpers/s3.js';
import { smallModelLayerDir } from '../infra/fixtures.js';

const exec = promisify(execFile);
const SLOW = 240_000;
const root = mkdtempSync(path.join(os.tmpdir(), 'batch-image-'));
const app = path.join(root, 'app');
const work = path.join(root, 'work');
let s3: LocalS3;
let modelDir: string;

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
  [s3, modelDir] = await Promise.all([startLocalS3({ buckets: ['photos'] }), smallModelLayerDir()]);
  for (let i = 0; i < 2; i++) await s3.client.send(new PutObjectCommand({ Bucket: 'photos', Key: `uploads/pic+${i} é.jpg`, Body: await gradientJpeg(72, 72, i + 5) }));
}, SLOW);
afterAll(async () => {
  await s3?.stop();
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

test('resnet batch labels an S3 prefix on the local S3 server and tags the objects', async () => {
  const r = await resnet(['batch', 's3://photos/uploads/', '--model-id', 'small', '--endpoint', s3.endpoint, '--workers', '0', '--json'],
    { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' });
  expect(r.stderr).not.toMatch(/Cannot find module|ERR_MODULE_NOT_FOUND/);
  expect(r.code).toBe(0);
  for (let i = 0; i < 2; i++) {
    const tags = await s3.client.send(new GetObjectTaggingCommand({ Bucket: 'photos', Key: `uploads/pic+${i} é.jpg` }));
    expect(tags.TagSet).toEqual(expect.arrayContaining([{ Key: 'resnet:model', Value: 'small' }]));
  }
}, SLOW);
