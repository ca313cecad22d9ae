/**
 * Generates ResNet ONNX models with seeded weights, for offline tests and benchmarks where the zoo's
 * pretrained files cannot be downloaded. Same architecture, tensor layout, opset and (within a few
 * hundred KB) byte size as the zoo's files; the weights are random, so predictions are meaningless.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

import { InvalidArgumentError } from '../errors.js';
import { encodeModel } from './onnx-model.js';
import { resnetGraph, type ResNetSpec } from './resnet-graph.js';

export { BUILDER_PRODUCER, BUILDER_REVISION } from './resnet-graph.js';

/** What to build. */
export interface ResNetBuildOptions {
  /** Number of weighted layers: 18 and 34 use basic blocks, 50/101/152 bottleneck blocks. */
  depth: 18 | 34 | 50 | 101 | 152;
  /** 1: post-activation (He et al. 2015); 2: pre-activation (He et al. 2016, "Identity mappings"). */
  version: 1 | 2;
  /** Weight seed; the same options always give the same bytes. @default 0 */
  seed?: number;
  /** Batch dimension of input and output: fixed 1 like the zoo's opset-7 files, or symbolic `N`. @default 'dynamic' */
  batch?: 1 | 'dynamic';
  /** Size of the classifier output. @default 1000 */
  classes?: number;
}

const DEPTHS: readonly number[] = [18, 34, 50, 101, 152];

function resolve(opts: ResNetBuildOptions): ResNetSpec {
  const seed = opts.seed ?? 0;
  const batch = opts.batch ?? 'dynamic';
  const classes = opts.classes ?? 1000;
  if (!DEPTHS.includes(opts.depth)) throw new InvalidArgumentError(`ResNet depth must be one of ${DEPTHS.join(', ')}; got ${String(opts.depth)}.`);
  if (opts.version !== 1 && opts.version !== 2) throw new InvalidArgumentError(`ResNet version must be 1 or 2; got ${String(opts.version)}.`);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new InvalidArgumentError(`Seed must be a non-negative integer; got ${String(seed)}.`);
  if (batch !== 1 && batch !== 'dynamic') throw new InvalidArgumentError(`Batch must be 1 or 'dynamic'; got ${String(batch)}.`);
  if (!Number.isSafeInteger(classes) || classes < 1 || classes > 1_000_000) throw new InvalidArgumentError(`Classes must be an integer from 1 to 1000000; got ${String(classes)}.`);
  return { depth: opts.depth, version: opts.version, seed, batch, classes };
}

/**
 * Builds a ResNet as a serialized ONNX ModelProto (IR version 3, opset 7), in one buffer of the file's
 * exact size: ResNet-50 ≈ 102 MB, ResNet-152 ≈ 242 MB. Prefer {@link writeResNet} for files, which
 * streams and never holds the whole model.
 * @throws InvalidArgumentError for an unsupported depth, version, seed, batch or class count.
 */
export function buildResNet(opts: ResNetBuildOptions): Uint8Array {
  return encodeModel(resnetGraph(resolve(opts)).model).toBytes();
}

/**
 * Writes a ResNet ONNX file atomically (temporary file in the same folder, then rename), creating the
 * folder. Peak memory is one weight tensor (≤ 10 MB), whatever the depth.
 * @returns the path, the file size in bytes and the trainable parameter count.
 * @throws InvalidArgumentError for invalid options; file-system errors as thrown by node:fs.
 */
export async function writeResNet(opts: ResNetBuildOptions, outPath: string): Promise<{ path: string; bytes: number; parameters: number }> {
  const graph = resnetGraph(resolve(opts));
  const writer = encodeModel(graph.model);
  const target = path.resolve(outPath);
  await mkdir(path.dirname(target), { recursive: true });
  const temp = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const file = await open(temp, 'w');
  try {
    try {
      for (const chunk of writer.chunks()) await file.write(chunk);
    } finally {
      await file.close();
    }
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  return { path: target, bytes: writer.length, parameters: graph.parameters };
}

/**
 * Trainable parameters: convolution weights, classifier weight and bias, and BatchNorm gamma and beta;
 * not BatchNorm running mean/variance and not v2's fixed input BatchNorm (gamma 1, beta 0). This is
 * how torchvision's published counts are made (sum of `p.numel()` over `model.parameters()`).
 * No weights are generated.
 */
export function countParameters(opts: ResNetBuildOptions): number {
  return resnetGraph(resolve(opts)).parameters;
}
