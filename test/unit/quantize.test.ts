import { buildResNet } from '../../core/model-builder/index.js';
import { encodeModel } from '../../core/model-builder/onnx-model.js';
import { decodeModel, toOnnxModel } from '../../core/model-builder/onnx-reader.js';
import { TensorStats } from '../../core/quantize/calibrate.js';
import { CannotQuantizeError, quantizeModel } from '../../core/quantize/index.js';
import { rng } from '../helpers/rng.js';

const SIDE = 224;

/** One calibration tensor of noise (the rejections happen before calibration runs). */
function noise(seed: number): Float32Array[] {
  const r = rng(seed);
  return [Float32Array.from({ length: 3 * SIDE * SIDE }, () => r() * 4 - 2)];
}

describe('quantizeModel', () => {
  it.each([
    ['an already quantized model', async (): Promise<Uint8Array> => {
      const m = toOnnxModel(decodeModel(buildResNet({ depth: 18, version: 1, classes: 10 })));
      return encodeModel({ ...m, nodes: m.nodes.map((n, i) => (i === 3 ? { ...n, opType: 'QLinearConv' } : n)) }).toBytes();
    }, /already quantized/],
    ['a model without Conv', async (): Promise<Uint8Array> => {
      const m = toOnnxModel(decodeModel(buildResNet({ depth: 18, version: 1, classes: 10 })));
      return encodeModel({ ...m, nodes: m.nodes.filter((n) => n.opType !== 'Conv') }).toBytes();
    }, /no Conv/],
    ['a model with a custom-domain operator', async (): Promise<Uint8Array> => {
      const m = toOnnxModel(decodeModel(buildResNet({ depth: 18, version: 1, classes: 10 })));
      return encodeModel({ ...m, nodes: m.nodes.map((n, i) => (i === 3 ? { ...n, domain: 'com.example' } : n)) }).toBytes();
    }, /not a standard ONNX operator/],
  ])('rejects %s with CANNOT_QUANTIZE (the end-to-end path is in test/integration/quantize.test.ts)', async (_what, make, message) => {
    const bytes = await make();
    const err = await quantizeModel(bytes, noise(4), { threads: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CannotQuantizeError);
    expect((err as CannotQuantizeError).code).toBe('CANNOT_QUANTIZE');
    expect((err as Error).message).toMatch(message);
  }, 60_000);
});

describe('TensorStats.range', () => {
  // 10,000 quantiles of the exponential distribution (a ReLU activation's long tail): max ≈ 9.9.
  const values = Float32Array.from({ length: 10_000 }, (_, i) => -Math.log(1 - (i + 0.5) / 10_000));
  it.each([
    ['minmax', true, 9.9, 9.92],
    ['percentile', true, 6.85, 6.95], // the 99.9th percentile is ln 1000 = 6.91, to one bin
    ['entropy', false, 5, 9.5], // the KL threshold clips the sparse tail
  ] as const)('%s (range grown: %s) keeps [0, t] with t in [%f, %f]', (method, grown, lo, hi) => {
    const s = new TensorStats(true);
    if (grown) {
      s.add(values.subarray(0, 5000)); // max 0.69: bins narrow
      s.add(values.subarray(5000)); // the range grows: bins merge
    } else s.add(values);
    const r = s.range(method, 99.9, 128);
    expect(r.min).toBe(0);
    expect(r.max).toBeGreaterThanOrEqual(lo);
    expect(r.max).toBeLessThanOrEqual(hi);
  });

  it('keeps a signed range symmetric around 0 when clipping', () => {
    const s = new TensorStats(true);
    s.add(Float32Array.from({ length: 2001 }, (_, i) => (i - 1000) / 1000));
    const r = s.range('percentile', 99);
    expect(r.min).toBeCloseTo(-r.max, 2);
    expect(r.max).toBeGreaterThan(0.95);
  });
});
