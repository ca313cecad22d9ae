/**
 * Shared set-up of the infra tests: a small generated model packaged as a model layer (so the
 * tests never need the real 100 MB zoo file), and one synthesised stack per context.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { writeResNet } from '../../core/model-builder/index.js';
import { buildModelForm } from '../../layers/build-model-form.js';
import { buildModelLayer } from '../../layers/build-model-layer.js';
import { type ResnetStack, buildResnetApp } from '../../infra/stack.js';
import { REPO_ROOT, TEST_CACHE } from '../helpers/paths.js';

/** Where the infra tests keep their generated artefacts. */
export const INFRA_CACHE = path.join(TEST_CACHE, 'infra');

/**
 * A model layer folder holding a ResNet-18 with 10 classes (~45 MB) and 10 labels; built once
 * and reused across runs.
 */
export async function smallModelLayerDir(): Promise<string> {
  const dir = path.join(INFRA_CACHE, 'layer-resnet18-10');
  if (existsSync(path.join(dir, 'model/model.onnx')) && existsSync(path.join(dir, 'model/labels.txt'))) return dir;
  const modelPath = path.join(INFRA_CACHE, 'resnet18-v1-10.onnx');
  if (!existsSync(modelPath)) await writeResNet({ depth: 18, version: 1, classes: 10 }, modelPath);
  const labelsPath = path.join(INFRA_CACHE, 'labels-10.txt');
  writeFileSync(labelsPath, Array.from({ length: 10 }, (_, i) => `n0000000${i} class ${i}`).join('\n') + '\n');
  buildModelLayer({ modelId: 'small', modelPath, labelsPath, outDir: dir });
  return dir;
}

/** The feature flags (`@aws-cdk/…` keys) of cdk.json's context. */
export function featureFlags(): Record<string, unknown> {
  const { context } = JSON.parse(readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> };
  return Object.fromEntries(Object.entries(context).filter(([k]) => k.startsWith('@aws-cdk')));
}

/** A synthesised app. */
export interface Synth {
  readonly app: App;
  readonly stack: ResnetStack;
  readonly template: Template;
  /** Deletes the cloud assembly folder (staged assets: tens to hundreds of MB). */
  cleanup(): void;
}

/**
 * Builds and synthesises the app with the given context (modelDir defaults to the small model).
 * Like infra/app.ts, builds the model form first (the optimised one unless the context names
 * another; cached beside the model layer). Policy validation (cdk-nag) is left to the test,
 * which runs the packs with validateScope.
 */
export async function synth(context: Record<string, unknown> = {}): Promise<Synth> {
  const modelDir = await smallModelLayerDir();
  const form = context.modelForm ?? 'optimized';
  if (form === 'optimized') await buildModelForm({ sourceDir: typeof context.modelDir === 'string' ? context.modelDir : modelDir, form });
  const app = new App({
    outdir: mkdtempSync(path.join(os.tmpdir(), 'resnet-cdk-')),
    // cdk.json's feature flags, so that the tests see the template `cdk synth` and `cdk deploy` make.
    context: { ...featureFlags(), modelDir, modelId: 'resnet50-v2', ...context },
  });
  const cleanup = (): void => rmSync(app.outdir, { recursive: true, force: true });
  try {
    const stack = buildResnetApp(app, { nag: false });
    return { app, stack, template: Template.fromStack(stack), cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}

/**
 * A model layer folder with a generated ResNet of the zoo's size (depth 50 ≈ 102.5 MB,
 * 152 ≈ 241.6 MB) and 1000 labels; the .onnx is cached in INFRA_CACHE.
 */
export async function generatedModelLayerDir(depth: 50 | 152, tag: string): Promise<string> {
  const dir = path.join(INFRA_CACHE, `layer-resnet${depth}-v1-${tag}`);
  const modelPath = path.join(INFRA_CACHE, `resnet${depth}-v1.onnx`);
  if (!existsSync(modelPath)) await writeResNet({ depth, version: 1 }, modelPath);
  const built = path.join(dir, 'model/model.onnx');
  if (existsSync(built) && statSync(built).size === statSync(modelPath).size && existsSync(path.join(dir, 'model/labels.txt'))) return dir;
  const labelsPath = path.join(INFRA_CACHE, `labels-1000-${tag}.txt`);
  writeFileSync(labelsPath, Array.from({ length: 1000 }, (_, i) => `n${String(i).padStart(8, '0')} class ${i}`).join('\n') + '\n');
  buildModelLayer({ modelId: `resnet${depth}-v1`, modelPath, labelsPath, outDir: dir });
  return dir;
}

/** Every cdk-nag AwsSolutions and Serverless finding left unacknowledged, as "rule at path" lines. */
export function nagFindings(app: App): string[] {
  const lines: string[] = [];
  for (const pack of [new AwsSolutionsChecks(), new ServerlessChecks()]) {
    for (const v of pack.validateScope(app).violations) {
      for (const r of v.violatingResources) lines.push(`${v.ruleName} at ${r.resourceLogicalId}`);
    }
  }
  return lines;
}

/** Acknowledgements recorded on the construct tree (rule id → reasons). */
export function acknowledgements(app: App): Array<{ id: string; reason: string; path: string }> {
  const out: Array<{ id: string; reason: string; path: string }> = [];
  for (const c of app.node.findAll()) {
    for (const entry of c.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) out.push({ id, reason, path: c.node.path });
    }
  }
  return out;
}
