/**
 * The CLI behaviours a first-time user meets: de-duplicated inputs, the offline routes in the
 * error, one execution-provider line, and batch's wording for nothing-to-do runs and storage failures.
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { codeOf } from '../../batch/error-code.js';
import { openWithProvider, providerPlan } from '../../batch/gpu/ep.js';
import { formatSummary } from '../../batch/summary.js';
import type { BatchSummary } from '../../batch/types.js';
import { expandInputs } from '../../cli/inputs.js';
import { offlineRoutes } from '../../cli/offline.js';
import { InvalidModelError } from '../../core/errors.js';
import { isTransientS3Error, TransientStorageError } from '../../labelling/errors.js';

describe('expandInputs', () => {
  it('lists a file named by a folder, a glob and its own path once, where it first appears', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'resnet-inputs-'));
    await mkdir(path.join(dir, 'sub'));
    for (const f of ['a.jpg', 'b.png', 'sub/c.jpg']) await writeFile(path.join(dir, f), 'x');
    const files = await expandInputs([dir, path.join(dir, '**/*.jpg'), path.join(dir, 'a.jpg'), `${dir}/./sub/c.jpg`]);
    expect(files).toEqual([path.join(dir, 'a.jpg'), path.join(dir, 'b.png'), path.join(dir, 'sub/c.jpg')]);
  });

  it('keeps a missing path (reported as that image\'s error) and still de-duplicates it', async () => {
    expect(await expandInputs(['/nope/x.jpg', '/nope/x.jpg'])).toEqual(['/nope/x.jpg']);
  });
});

describe('offlineRoutes', () => {
  it.each(['DOWNLOAD_FAILED', 'MODEL_NOT_CACHED'])('names --demo and build-model + --labels after %s', (code) => {
    const text = offlineRoutes(code)!;
    expect(text).toContain('resnet classify <images> --demo');
    expect(text).toContain('resnet build-model --arch resnet50 --out r50.onnx');
    expect(text).toContain('--labels');
  });

  it('says nothing after other errors', () => {
    expect(offlineRoutes('CORRUPT_IMAGE')).toBeNull();
  });
});

describe('execution provider choice', () => {
  const noGpu = { listed: ['cpu', 'webgpu'], cudaInstalled: false, vulkan: false };

  it('without a Vulkan loader, auto does not try WebGPU and logs one line naming the provider and why', async () => {
    const logs: string[] = [];
    const tried: string[][] = [];
    const r = await openWithProvider('auto', async (eps) => { tried.push(eps); return eps[0]; }, (m) => logs.push(m), noGpu);
    expect(r.ep).toBe('cpu');
    expect(tried).toEqual([['cpu']]);
    expect(logs).toEqual(['execution provider: cpu (auto; CUDA: not installed (ONNXRUNTIME_NODE_INSTALL=cuda12); WebGPU: no Vulkan loader (libvulkan.so.1))']);
  });

  it('a provider that fails to open is one clause of the same line, with the cause rather than the wrapper', async () => {
    const logs: string[] = [];
    const r = await openWithProvider(
      'auto',
      async (eps) => {
        if (eps[0] === 'webgpu') throw new InvalidModelError('onnxruntime could not load m.onnx (x)', new Error('no adapter found\nstack...'));
        return eps[0];
      },
      (m) => logs.push(m),
      { ...noGpu, vulkan: true },
    );
    expect(r.ep).toBe('cpu');
    expect(logs).toHaveLength(1);
    expect(logs[0]).toBe('execution provider: cpu (auto; CUDA: not installed (ONNXRUNTIME_NODE_INSTALL=cuda12); webgpu: no adapter found)');
    expect(logs[0]).not.toContain('cannot be used as a classifier');
  });

  it('a forced provider is tried even without its prerequisites, and its failure is thrown', async () => {
    expect(providerPlan('webgpu', noGpu).candidates).toEqual(['webgpu']);
    await expect(openWithProvider('webgpu', async () => { throw new Error('boom'); }, () => undefined, noGpu)).rejects.toThrow('boom');
  });
});

describe('batch wording', () => {
  const stats = { count: 0, perSecond: 0, parallelism: 1 } as unknown as BatchSummary['stages']['download'];
  const summary = (over: Partial<BatchSummary>): BatchSummary => ({
    model: 'm', ep: 'cpu', shard: { index: 0, count: 1 }, listed: 4, done: 0, skipped: 4, failed: 0, unfinished: 0, failuresByCode: {},
    interrupted: false, wallMs: 1200, setupMs: 900, imagesPerSecond: 0, cpuMsPerImage: 0, mainThreadMsPerImage: 0.01, prepareMode: 'workers', meanBatch: 0,
    stages: { download: stats, decode: stats, preprocess: stats, inference: stats, write: stats }, results: 'per-object', ...over,
  });

  it('a rerun with nothing to label prints no rates', () => {
    const text = formatSummary(summary({}));
    expect(text).toBe('finished: 4 listed (shard 0/1), 0 labelled, 4 skipped, 0 failed (0 without a result) in 1.2 s: nothing to label (every object already has a result for this model; --force labels them again)');
    expect(text).not.toMatch(/img\/s/);
  });

  it('a run that labelled something keeps its rates', () => {
    expect(formatSummary(summary({ done: 2, skipped: 2, imagesPerSecond: 3 }))).toMatch(/= 3 img\/s end to end/);
  });

  it('no AWS credentials at all: NO_CREDENTIALS with what to set, not INTERNAL and not a storage outage', async () => {
    const saved = { ...process.env };
    for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k];
    Object.assign(process.env, { AWS_CONFIG_FILE: '/nonexistent/config', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials', AWS_EC2_METADATA_DISABLED: 'true' });
    try {
      const { S3Client, ListObjectsV2Command } = await import('@aws-sdk/client-s3');
      const err: unknown = await new S3Client({ region: 'us-east-1' }).send(new ListObjectsV2Command({ Bucket: 'b' })).catch((e: unknown) => e);
      expect(isTransientS3Error(err)).toBe(false);
      const e = codeOf(err);
      expect(e.code).toBe('NO_CREDENTIALS');
      expect(e.message).toMatch(/AWS_PROFILE .*--endpoint/);
    } finally {
      process.env = saved;
    }
  });

  it('a storage failure says a rerun retries it, not that the event will be retried', () => {
    const e = codeOf(new TransientStorageError('GetObject s3://b/k', new Error('socket hang up')));
    expect(e.code).toBe('STORAGE_UNAVAILABLE');
    expect(e.message).toBe('GetObject s3://b/k failed transiently (Error: socket hang up); rerun the batch to retry it (objects that have a result are skipped).');
  });
});

describe('findDocker (the synth-time Docker check)', () => {
  it('finds docker on PATH, honours CDK_DOCKER, and says null when there is none', async () => {
    const { findDocker } = await import('../../infra/docker.js');
    const { chmod } = await import('node:fs/promises');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'docker-path-'));
    expect(findDocker({ PATH: dir })).toBeNull();
    await writeFile(path.join(dir, 'docker'), '#!/bin/sh\n');
    await chmod(path.join(dir, 'docker'), 0o755);
    expect(findDocker({ PATH: `/nonexistent${path.delimiter}${dir}` })).toBe(path.join(dir, 'docker'));
    expect(findDocker({ PATH: dir, CDK_DOCKER: 'podman' })).toBeNull();
    expect(findDocker({ PATH: '', CDK_DOCKER: path.join(dir, 'docker') })).toBe(path.join(dir, 'docker'));
  });
});
