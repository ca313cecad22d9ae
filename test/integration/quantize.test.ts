/**
 * `resnet quantize` end to end on small generated ResNet-18s: the int8 file runs, onnxruntime turns
 * it into integer kernels, and it agrees with float32 on the held-out photos.
 *
 * The quantizer runs in a child process (the CLI from its sources): inside jest's vm context the
 * calibration loops over typed arrays of the host realm (see test/helpers/node-environment.js) run
 * some twenty times slower than in plain Node.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import * as ort from 'onnxruntime-node';

import { readOnnxHeader } from '../../core/model-info.js';
import { decodeModel } from '../../core/model-builder/onnx-reader.js';
import type { AgreementReport } from '../../core/quantize/agreement.js';
import { ModelSession } from '../../core/session.js';
import { testModelPath } from '../helpers/models.js';
import { REPO_ROOT, PHOTOS_DIR } from '../helpers/paths.js';

const exec = promisify(execFile);

interface Summary {
  bytes: number;
  calibrationImages: number;
  quantizedWeights: number;
  agreement: AgreementReport;
}

async function quantize(args: string[]): Promise<Summary> {
  const { stdout } = await exec(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'cli/resnet.ts'), 'quantize', '--json', '--threads', '1', ...args], {
    cwd: REPO_ROOT,
    maxBuffer: 8 * 1024 * 1024,
  });
  return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Summary;
}

/** Op types of the graph onnxruntime runs, read from the optimised model it saves. */
async function optimisedOps(modelPath: string): Promise<Map<string, number>> {
  const optimized = modelPath.replace(/\.onnx$/, '-optimized.onnx');
  const s = await ort.InferenceSession.create(modelPath, { graphOptimizationLevel: 'extended', optimizedModelFilePath: optimized, intraOpNumThreads: 1 });
  await s.release();
  const ops = new Map<string, number>();
  for (const n of decodeModel(await readFile(optimized)).nodes) ops.set(n.opType, (ops.get(n.opType) ?? 0) + 1);
  return ops;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'quantize-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// Bounds, from the six shared photos (three calibrate, three are held out): the int8 logits of these
// generated ResNet-18s keep a cosine above 0.99 with float32's and the same top-1 class. A wrong
// scale, per-channel axis or bias, or a skipped Relu, puts the cosine far below that.
// The v1 case quantizes the classifier too (--exclude none); the v2 case takes the default, which
// keeps the final Gemm in float32.
describe.each([
  { version: 1 as const, batch: 'dynamic' as const, flags: ['--per-channel', '--method', 'minmax', '--exclude', 'none'], convs: 20, int8Head: true },
  // v2 runs its 8 unit, final and input BatchNorms as depthwise integer convolutions.
  { version: 2 as const, batch: 1 as const, flags: ['--method', 'percentile'], convs: 20 + 8 + 1 + 1, int8Head: false },
])('resnet quantize: ResNet-18 v$version, batch $batch, $flags', ({ version, batch, flags, convs, int8Head }) => {
  let fp32Path: string;
  let int8Path: string;
  let summary: Summary;
  beforeAll(async () => {
    fp32Path = await testModelPath({ depth: 18, version, batch, classes: 10 });
    int8Path = path.join(dir, `r18v${version}-int8.onnx`);
    summary = await quantize(['--model', fp32Path, '--calibrate', PHOTOS_DIR, '--out', int8Path, '--holdout', '3', ...flags]);
  }, 180_000);

  it(`writes int8 weights for every Conv${int8Head ? ' and the Gemm' : ' (the Gemm stays float32)'}, about a quarter of the float32 size`, async () => {
    expect(summary.calibrationImages).toBe(3);
    expect(summary.quantizedWeights).toBe(convs + (int8Head ? 1 : 0));
    const fp32Bytes = (await readFile(fp32Path)).length;
    expect(summary.bytes / fp32Bytes).toBeGreaterThan(0.24);
    expect(summary.bytes / fp32Bytes).toBeLessThan(0.3);
  });

  it(`runs as integer kernels in onnxruntime: no float Conv or Add${int8Head ? ' or Gemm' : ''} is left`, async () => {
    const ops = await optimisedOps(int8Path);
    expect(ops.get('QLinearConv')).toBe(convs);
    expect(ops.get('QLinearAdd')).toBe(8);
    expect(ops.get('QGemm') ?? 0).toBe(int8Head ? 1 : 0);
    expect(ops.get('Gemm') ?? 0).toBe(int8Head ? 0 : 1);
    for (const fp of ['Conv', 'BatchNormalization', 'Add']) expect(ops.get(fp) ?? 0).toBe(0);
    // A float head is fed through one DequantizeLinear; an int8 one leaves none.
    expect(ops.get('DequantizeLinear') ?? 0).toBe(int8Head ? 0 : 1);
  });

  it('keeps the source\'s producer, so the served model still reads as untrained', async () => {
    const header = await readOnnxHeader(int8Path);
    expect(header.producerName).toBe('resnet-serverless');
    expect(header.docString).toMatch(new RegExp(`^ResNet-18 v${version}, .*Quantized to int8 QDQ by resnet quantize`));
  });

  it('keeps the model contract the classifier checks', async () => {
    const s = await ModelSession.create(int8Path, { threads: 1 });
    try {
      expect(s.numClasses).toBe(10);
      expect(s.maxBatch).toBe(batch === 1 ? 1 : null);
      const [logits] = await s.run([new Float32Array(3 * 224 * 224)]);
      expect(logits.every(Number.isFinite)).toBe(true);
    } finally {
      await s.dispose();
    }
  });

  it('agrees with float32 on the held-out photos', () => {
    const a = summary.agreement;
    expect(a.images).toBe(3);
    expect(a.top1Agreement).toBe(1);
    expect(a.meanLogitCosine).toBeGreaterThan(0.99);
    expect(a.meanSoftmaxDelta).toBeLessThan(0.05);
  });
});
