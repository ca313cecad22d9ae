import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { defaultCacheDir, modelCachePaths } from '../fetch/index.js';
import { writeResNet } from './index.js';

/** A locally generated model for offline demos: real ResNet-50 v2 architecture, untrained weights. */
export interface DemoModel {
  modelPath: string;
  labelsPath: string;
  /** Written into every result so nobody mistakes its labels for real ones. */
  modelId: string;
  /** Whether the ImageNet labels came from the cache (else placeholder class names). */
  imagenetLabels: boolean;
}

/**
 * Builds (once) an untrained ResNet-50 v2 with the zoo's conventions into the cache. Its
 * answers are meaningless but its cost and shapes are the real model's, so the whole stack
 * can be tried offline. Uses the cached ImageNet labels when present, else numbered
 * placeholders that say they are untrained.
 */
export async function ensureDemoModel(cacheDir: string = defaultCacheDir()): Promise<DemoModel> {
  const dir = path.join(cacheDir, 'demo');
  const modelPath = path.join(dir, 'resnet50-v2-untrained.onnx');
  if (!existsSync(modelPath)) await writeResNet({ depth: 50, version: 2, seed: 0, batch: 'dynamic', classes: 1000 }, modelPath);
  const imagenet = modelCachePaths('resnet50-v2', cacheDir).labelsPath;
  if (existsSync(imagenet)) return { modelPath, labelsPath: imagenet, modelId: 'resnet50-v2-untrained', imagenetLabels: true };
  const labelsPath = path.join(dir, 'placeholder-labels.txt');
  if (!existsSync(labelsPath)) {
    await mkdir(dir, { recursive: true });
    const lines = Array.from({ length: 1000 }, (_, i) => `${i} untrained-class-${i}`);
    await writeFile(labelsPath, `${lines.join('\n')}\n`);
  }
  return { modelPath, labelsPath, modelId: 'resnet50-v2-untrained', imagenetLabels: false };
}
