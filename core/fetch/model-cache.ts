/** Zoo models and their labels in the local cache (layout: index.ts): paths, cache hits, downloads. */
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { InvalidLabelsError } from '../errors.js';
import { parseLabels } from '../labels.js';
import { getZooModel, LABELS_SPEC, type ZooModel } from '../registry.js';
import { fetchFile } from './fetch-file.js';
import type { FetchFileOptions, FileSource, FileSpec, ProgressCallback } from './types.js';
import { verifyExistingSync } from './verify.js';

/** Where a model's files live (or will live) in a cache. */
export interface ModelPaths {
  modelPath: string;
  labelsPath: string;
}

/** The model cache folder: env RESNET_CACHE_DIR, else `~/.cache/resnet-serverless`. */
export function defaultCacheDir(): string {
  const env = process.env.RESNET_CACHE_DIR;
  return env && env.trim() !== '' ? path.resolve(env) : path.join(os.homedir(), '.cache', 'resnet-serverless');
}

/** The paths a model and its labels have in a cache, whether or not they exist yet. */
export function modelCachePaths(id: string, cacheDir: string = defaultCacheDir()): ModelPaths {
  return {
    modelPath: path.join(cacheDir, id, 'model.onnx'),
    labelsPath: path.join(cacheDir, 'labels', LABELS_SPEC.file),
  };
}

function resolveModel(model: string | ZooModel): ZooModel {
  return typeof model === 'string' ? getZooModel(model) : model;
}

/**
 * Paths of a cached model and its labels, or `null` unless both are present and verified.
 * A verified marker whose size and mtime still match the file is trusted; otherwise the file
 * is rehashed once (synchronously: ~0.3 s per 100 MB) and the marker rewritten.
 * @param model zoo id, or a ZooModel (tests, custom registries).
 * @throws UnknownModelError for an id not in the registry.
 */
export function cachedModelPaths(model: string | ZooModel, cacheDir: string = defaultCacheDir()): ModelPaths | null {
  const spec = resolveModel(model);
  const paths = modelCachePaths(spec.id, cacheDir);
  if (!verifyExistingSync(paths.modelPath, modelSources(spec, undefined))) return null;
  if (!labelsValidSync(paths.labelsPath)) return null;
  return paths;
}

/**
 * Downloads a zoo model and the ImageNet labels into the cache (skipping what is already
 * there and verified) and returns their paths.
 *
 * Sources: the zoo's GitHub URL (sha256 + size), then the seed's S3 copy (its MD5 file).
 * With `baseUrl` (or env RESNET_MODEL_BASE_URL) only `<baseUrl>/<file>` and
 * `<baseUrl>/synset.txt` are used, checked against the registry's size and sha256.
 * @param model zoo id or a ZooModel.
 * @throws DownloadFailedError naming the URLs and how to place the file by hand;
 *   ChecksumMismatchError when the bytes do not match (the download is deleted);
 *   UnknownModelError for an unknown id.
 */
export async function fetchModel(
  model: string | ZooModel,
  opts: { cacheDir?: string; onProgress?: ProgressCallback; baseUrl?: string } & Omit<FetchFileOptions, 'onProgress'> = {},
): Promise<ModelPaths> {
  const spec = resolveModel(model);
  const { cacheDir = defaultCacheDir(), onProgress, baseUrl = process.env.RESNET_MODEL_BASE_URL, ...transfer } = opts;
  const paths = modelCachePaths(spec.id, cacheDir);
  const base = baseUrl && baseUrl.trim() !== '' ? baseUrl : undefined;
  const modelFile: FileSpec = { name: `${spec.id} model`, sources: modelSources(spec, base) };
  // Labels first: small, so an offline machine learns it in a second, not after a timeout on
  // 100 MB; its error then names both files to place by hand.
  await fetchFile({ ...labelsFileSpec(base), alsoNeeded: [{ spec: modelFile, dest: paths.modelPath }] }, paths.labelsPath, transfer);
  await fetchFile(modelFile, paths.modelPath, { ...transfer, ...(onProgress ? { onProgress } : {}) });
  return paths;
}

function joinBase(base: string, file: string): string {
  return `${base.replace(/\/+$/, '')}/${file}`;
}

function modelSources(spec: ZooModel, base: string | undefined): FileSource[] {
  const primary: FileSource = {
    url: base ? joinBase(base, spec.file) : spec.url,
    bytes: spec.bytes,
    ...(spec.sha256 ? { sha256: spec.sha256 } : {}),
  };
  if (base || !spec.mirrorUrl || !spec.md5Url) return [primary];
  return [primary, { url: spec.mirrorUrl, md5Url: spec.md5Url }];
}

function labelsFileSpec(base: string | undefined): FileSpec {
  return {
    name: 'ImageNet labels',
    sources: [{ url: base ? joinBase(base, LABELS_SPEC.file) : LABELS_SPEC.url }],
    validate: async (file) => checkLabels(await readFile(file, 'utf8'), file),
    expect: `${LABELS_SPEC.classes} lines "<wnid> <name>"`,
  };
}

function checkLabels(text: string, file: string): void {
  const labels = parseLabels(text, file);
  if (labels.length !== LABELS_SPEC.classes) {
    throw new InvalidLabelsError(`${file} has ${labels.length} classes, expected ${LABELS_SPEC.classes}`);
  }
  const bad = labels.find((l) => !LABELS_SPEC.idPattern.test(l.id));
  if (bad) throw new InvalidLabelsError(`${file} line ${bad.index + 1} has no WordNet id ("${bad.id}")`);
}

function labelsValidSync(file: string): boolean {
  if (!existsSync(file)) return false;
  try {
    checkLabels(readFileSync(file, 'utf8'), file);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Verification
