/**
 * One-command synth: which model layer `cdk synth` packages when nothing was built or fetched
 * (the generated untrained ResNet-50 v2, named in an output and a tag), when a layer is built,
 * and with -c modelDir; plus the open-API decision (publicApi=true) staying cdk-nag clean.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { buildModelLayer } from '../../layers/build-model-layer.js';
import { UNTRAINED_MODEL_ID, resolveModelLayer } from '../../layers/resolve-model-layer.js';
import { MissingArtefactError } from '../../infra/errors.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { INFRA_CACHE, nagFindings, smallModelLayerDir, type Synth, synth } from './fixtures.js';

type Json = Record<string, unknown>;
const SLOW = 240_000;
/** Persisted between runs: generating the untrained ResNet-50 v2 costs seconds, and it is what a fresh clone's cache would hold after one synth. */
const DEMO_CACHE = path.join(INFRA_CACHE, 'demo-cache');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'resnet-synth-model-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('resolveModelLayer', () => {
  test('nothing built, nothing fetched: builds the untrained ResNet-50 v2 layer and says so', async () => {
    const buildDir = path.join(tmp, 'build-empty');
    const m = await resolveModelLayer({ cacheDir: DEMO_CACHE, buildDir });
    expect(m).toMatchObject({ modelId: UNTRAINED_MODEL_ID, origin: 'untrained', modelDir: path.join(buildDir, `model-${UNTRAINED_MODEL_ID}`) });
    expect(m.message).toMatch(/^WARNING: resnet50-v2 is not fetched; packaging resnet50-v2-untrained .*UNTRAINED.*npx resnet fetch resnet50-v2/);
    expect(m.message).not.toContain('\n');
    // The zoo's ResNet-50 v2 graph: ~102 MB of float32 weights.
    expect(readFileSync(path.join(m.modelDir, 'model/model.onnx')).length).toBeGreaterThan(90e6);
    expect(readFileSync(path.join(m.modelDir, 'model/labels.txt'), 'utf8').trim().split('\n')).toHaveLength(1000);
  }, SLOW);

  test('a built layer of the requested model wins over the untrained one', async () => {
    const buildDir = path.join(tmp, 'build-real');
    const small = await smallModelLayerDir();
    buildModelLayer({ modelId: 'resnet50-v2', modelPath: path.join(small, 'model/model.onnx'), labelsPath: path.join(small, 'model/labels.txt'), outDir: path.join(buildDir, 'model-resnet50-v2') });
    await expect(resolveModelLayer({ cacheDir: path.join(tmp, 'no-cache'), buildDir })).resolves.toMatchObject({ modelId: 'resnet50-v2', origin: 'built' });
  });

  test('-c modelDir is used as given, with the requested id', async () => {
    const dir = await smallModelLayerDir();
    await expect(resolveModelLayer({ modelId: 'my-net', modelDir: dir, cacheDir: path.join(tmp, 'no-cache'), buildDir: path.join(tmp, 'unused') }))
      .resolves.toMatchObject({ modelId: 'my-net', modelDir: dir, origin: 'modelDir' });
  });

  test('another zoo model that is not fetched is an error saying how to fetch it', async () => {
    const err = await resolveModelLayer({ modelId: 'resnet101-v2', cacheDir: path.join(tmp, 'no-cache'), buildDir: path.join(tmp, 'unused') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MissingArtefactError);
    expect((err as Error).message).toMatch(/npx resnet fetch resnet101-v2/);
  });
});

describe('a stack with the untrained model and the open demo API', () => {
  let s: Synth;
  let resources: Record<string, { Type: string; Properties: Json }>;
  beforeAll(async () => {
    s = await synth({ modelId: UNTRAINED_MODEL_ID, publicApi: 'true', batch: 'false' });
    resources = s.template.toJSON().Resources as typeof resources;
  }, SLOW);
  afterAll(() => s?.cleanup());

  test('names the model in an output and a tag on every function', () => {
    const outputs = s.template.toJSON().Outputs as Record<string, { Value: unknown; Description: string }>;
    expect(outputs.ModelId).toMatchObject({ Value: UNTRAINED_MODEL_ID, Description: expect.stringMatching(/^UNTRAINED/) });
    const fns = Object.values(resources).filter((r) => r.Type === 'AWS::Lambda::Function');
    expect(fns.length).toBeGreaterThanOrEqual(4);
    for (const f of fns) expect(f.Properties.Tags).toEqual(expect.arrayContaining([{ Key: 'resnet:model', Value: UNTRAINED_MODEL_ID }]));
  });

  test('publicApi=true leaves the routes without an authoriser, still throttled, and cdk-nag clean', () => {
    const routes = Object.values(resources).filter((r) => r.Type === 'AWS::ApiGatewayV2::Route');
    expect(routes).toHaveLength(4);
    for (const r of routes) expect(r.Properties.AuthorizationType).toBe('NONE');
    const stage = Object.values(resources).find((r) => r.Type === 'AWS::ApiGatewayV2::Stage')!;
    expect(stage.Properties.DefaultRouteSettings).toMatchObject({ ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 });
    expect(nagFindings(s.app)).toEqual([]);
  });
});

test('the CDK app synthesises in one command with an empty model cache, and names the model it packaged', () => {
  const outdir = path.join(tmp, 'cdk.out');
  mkdirSync(outdir);
  const r = spawnSync(path.join(REPO_ROOT, 'node_modules/.bin/tsx'), ['infra/app.ts'], {
    cwd: REPO_ROOT,
    env: { ...process.env, RESNET_CACHE_DIR: DEMO_CACHE, CDK_OUTDIR: outdir, CDK_CONTEXT_JSON: JSON.stringify({ batch: false }) },
    encoding: 'utf8',
    timeout: SLOW,
  });
  expect(r.stderr).not.toMatch(/synth failed/);
  expect(r.status).toBe(0);
  const first = /^\[resnet\] (.*)$/m.exec(r.stderr)?.[1] ?? '';
  const template = JSON.parse(readFileSync(path.join(outdir, 'ResnetServerless.template.json'), 'utf8')) as { Outputs: Record<string, { Value: string }> };
  const modelId = template.Outputs.ModelId!.Value;
  // Whatever this checkout has (a built or fetched resnet50-v2, or nothing), the log line and the output agree.
  expect(first).toContain(modelId);
  expect(existsSync(path.join(REPO_ROOT, 'layers/build', `model-${modelId}`, 'model/model.onnx'))).toBe(true);
}, SLOW);
