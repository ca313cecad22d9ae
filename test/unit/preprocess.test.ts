import { InvalidArgumentError } from '../../core/errors.js';
import { centerCropOffset, preprocess, resizedSize, resizeShortSide, tenCrop } from '../../core/preprocess.js';
import { IMAGENET_PREPROCESS, type RgbImage } from '../../core/types.js';

const { mean, std } = IMAGENET_PREPROCESS;
const norm = (v: number, c: number): number => (v / 255 - mean[c]) / std[c];
const PLANE = 224 * 224;

function image(w: number, h: number, f: (x: number, y: number) => [number, number, number]): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set(f(x, y), (y * w + x) * 3);
  return { width: w, height: h, data };
}
const at = (t: Float32Array, c: number, x: number, y: number, size = 224): number => t[c * size * size + y * size + x];

describe('resizedSize (short side → 256, long side floored like torchvision)', () => {
  it.each([
    [480, 360, 341, 256],
    [640, 427, 383, 256],
    [1000, 872, 293, 256],
    [300, 451, 256, 384],
    [1, 1, 256, 256],
    [4000, 3000, 341, 256],
    [262.5, 350, 256, 341],
  ])('%p×%p → %p×%p', (w, h, ew, eh) => {
    expect(resizedSize(w, h, 256)).toEqual({ width: ew, height: eh });
  });
});

describe('centerCropOffset (Python round, half to even)', () => {
  it.each([
    [341, 224, 58],
    [383, 224, 80],
    [293, 224, 34],
    [256, 224, 16],
    [225, 224, 0],
    [227, 224, 2],
    [224, 224, 0],
  ])('size %p crop %p → %p', (size, crop, off) => expect(centerCropOffset(size, crop)).toBe(off));
});

describe('resizeShortSide', () => {
  it.each([
    [1, 1],
    [7, 5],
    [300, 200],
    [1000, 40],
    [513, 2048],
  ])('keeps a constant %p×%p image constant', (w, h) => {
    const out = resizeShortSide(image(w, h, () => [200, 17, 99]), 256);
    expect(Math.min(out.width, out.height)).toBe(256);
    let off = 0;
    for (let i = 0; i < out.data.length; i += 3) {
      if (out.data[i] !== 200 || out.data[i + 1] !== 17 || out.data[i + 2] !== 99) off++;
    }
    expect(off).toBe(0);
  });

  it.each([2, 4, 8])('averages a 1-pixel checkerboard when shrinking by %p (antialiased)', (factor) => {
    const n = 256 * factor;
    const out = resizeShortSide(image(n, n, (x, y) => ((x + y) % 2 ? [255, 255, 255] : [0, 0, 0])), 256);
    expect(out.width).toBe(256);
    // Interior pixels: the border's taps are clipped by the image edge, so they are not a pure average.
    let worst = 0;
    for (let y = 1; y < 255; y++) {
      for (let x = 3; x < 255 * 3; x++) worst = Math.max(worst, Math.abs(out.data[y * 256 * 3 + x] - 127.5));
    }
    expect(worst).toBeLessThanOrEqual(0.5);
  });

  it('is the identity at the same size', () => {
    const img = image(256, 300, (x, y) => [x % 256, y % 256, (x * y) % 256]);
    expect(Buffer.compare(Buffer.from(resizeShortSide(img, 256).data), Buffer.from(img.data))).toBe(0);
  });

  it('interpolates linearly when enlarging', () => {
    // 2×2 → 256×256: a horizontal ramp from 0 to 255 must rise monotonically and stay within the ends.
    const out = resizeShortSide(image(2, 2, (x) => (x ? [255, 255, 255] : [0, 0, 0])), 256);
    const row = Array.from({ length: 256 }, (_, x) => out.data[(10 * 256 + x) * 3]);
    expect(row[0]).toBe(0);
    expect(row[255]).toBe(255);
    expect(row[128]).toBeGreaterThan(120);
    expect(row[128]).toBeLessThan(135);
    for (let x = 1; x < 256; x++) expect(row[x]).toBeGreaterThanOrEqual(row[x - 1]);
  });

  it('rejects a bad short side', () => {
    expect(() => resizeShortSide(image(2, 2, () => [0, 0, 0]), 0)).toThrow(InvalidArgumentError);
  });
});

describe('preprocess', () => {
  it.each([
    [[255, 0, 128]],
    [[0, 0, 0]],
    [[124, 116, 104]],
  ])('normalises a constant colour %p exactly', (rgb) => {
    const t = preprocess(image(300, 260, () => rgb as [number, number, number]));
    expect(t).toBeInstanceOf(Float32Array);
    expect(t.length).toBe(3 * PLANE);
    for (let c = 0; c < 3; c++) {
      expect(at(t, c, 0, 0)).toBeCloseTo(norm(rgb[c], c), 5);
      expect(at(t, c, 223, 223)).toBeCloseTo(norm(rgb[c], c), 5);
      expect(at(t, c, 100, 57)).toBeCloseTo(norm(rgb[c], c), 5);
    }
  });

  it('takes the centre 224×224 of the 256-resized image, CHW', () => {
    // 256×300 needs no horizontal resize (identity) and only a vertical one, so x coordinates survive.
    const t = preprocess(image(256, 256, (x, y) => [x, y, 255 - x]));
    // offset 16 on both axes
    expect(at(t, 0, 0, 0)).toBeCloseTo(norm(16, 0), 5);
    expect(at(t, 0, 223, 5)).toBeCloseTo(norm(239, 0), 5);
    expect(at(t, 1, 7, 0)).toBeCloseTo(norm(16, 1), 5);
    expect(at(t, 1, 7, 223)).toBeCloseTo(norm(239, 1), 5);
    expect(at(t, 2, 0, 100)).toBeCloseTo(norm(255 - 16, 2), 5);
  });

  it('writes into a given buffer of the right length, and ignores one of another length', () => {
    const img = image(300, 260, (x, y) => [x % 256, y % 256, (x * y) % 256]);
    const want = preprocess(img);
    const into = new Float32Array(3 * PLANE).fill(Number.NaN);
    expect(preprocess(img, undefined, into)).toBe(into);
    expect(into).toEqual(want);
    const wrong = new Float32Array(10);
    const t = preprocess(img, undefined, wrong);
    expect(t).not.toBe(wrong);
    expect(t).toEqual(want);
  });

  it('upscales a 1×1 image', () => {
    const t = preprocess(image(1, 1, () => [10, 20, 30]));
    expect(at(t, 2, 111, 111)).toBeCloseTo(norm(30, 2), 5);
  });

  it('rejects a crop larger than the resize', () => {
    expect(() => preprocess(image(4, 4, () => [0, 0, 0]), { ...IMAGENET_PREPROCESS, cropSize: 300 })).toThrow(InvalidArgumentError);
  });

  it('rejects an image whose buffer is too short', () => {
    expect(() => preprocess({ width: 10, height: 10, data: new Uint8Array(10) })).toThrow(InvalidArgumentError);
  });
});

describe('preprocess matches a direct float implementation of the triangle filter', () => {
  // Straightforward double-precision PIL BILINEAR (per-output weights, no fixed point, no padding) over the
  // centre crop. The fast path (integer weights, unrolled 3-/4-tap kernels) may differ by one level only
  // where the exact value sits at a rounding boundary.
  function taps(inSize: number, outSize: number, i: number): [number, number[]] {
    const scale = inSize / outSize;
    const fs = Math.max(scale, 1);
    const center = (i + 0.5) * scale;
    const lo = Math.max(Math.trunc(center - fs + 0.5), 0);
    const hi = Math.min(Math.trunc(center + fs + 0.5), inSize);
    const w = Array.from({ length: hi - lo }, (_, k) => Math.max(0, 1 - Math.abs((lo + k - center + 0.5) / fs)));
    const total = w.reduce((a, b) => a + b, 0);
    return [lo, w.map((v) => v / total)];
  }
  function reference(img: RgbImage): number[] {
    const short = Math.min(img.width, img.height);
    const ow = img.width <= img.height ? 256 : Math.floor((256 * img.width) / img.height);
    const oh = img.width <= img.height ? Math.floor((256 * img.height) / img.width) : 256;
    const x0 = centerCropOffset(ow, 224);
    const y0 = centerCropOffset(oh, 224);
    expect(short).toBeGreaterThan(0);
    const out = new Array<number>(3 * PLANE);
    for (let y = 0; y < 224; y++) {
      const [ylo, wy] = taps(img.height, oh, y0 + y);
      for (let x = 0; x < 224; x++) {
        const [xlo, wx] = taps(img.width, ow, x0 + x);
        for (let c = 0; c < 3; c++) {
          let s = 0;
          wy.forEach((a, j) => wx.forEach((b, i) => (s += a * b * img.data[((ylo + j) * img.width + xlo + i) * 3 + c])));
          out[c * PLANE + y * 224 + x] = Math.round(s);
        }
      }
    }
    return out;
  }
  it.each([
    [640, 480, '4 taps'],
    [500, 375, '3 taps'],
    [1200, 800, '7 taps, generic loop'],
    [300, 200, '2 taps, slight enlargement'],
    [100, 120, 'enlarging 2.6×'],
  ])('%p×%p (%s)', (w, h) => {
    // Smooth content plus noise, so both flat areas and edges are exercised.
    const img = image(w, h, (x, y) => [(x * 7 + y * 3) % 256, (Math.sin(x / 9) * 100 + 128 + ((x * y) % 17)) | 0, (x ^ y) & 255]);
    const ref = reference(img);
    const t = preprocess(img);
    let off = 0;
    let worst = 0;
    for (let i = 0; i < ref.length; i++) {
      const c = Math.floor(i / PLANE);
      const level = (t[i] * std[c] + mean[c]) * 255;
      const d = Math.abs(level - ref[i]);
      worst = Math.max(worst, d);
      if (d > 0.01) off++;
    }
    expect(worst).toBeLessThanOrEqual(1.01);
    expect(off / ref.length).toBeLessThan(0.01);
  });
});

describe('tenCrop', () => {
  // 256 wide (no horizontal resize) × 320 high (no vertical resize either: short side is 256).
  const img = image(256, 320, (x, y) => [x, y % 256, Math.floor(y / 256) * 100]);
  const crops = tenCrop(img);

  it('returns 10 CHW tensors', () => {
    expect(crops).toHaveLength(10);
    for (const c of crops) expect(c.length).toBe(3 * PLANE);
  });

  it.each([
    ['top-left', 0, 0, 0],
    ['top-right', 1, 32, 0],
    ['bottom-left', 2, 0, 96],
    ['bottom-right', 3, 32, 96],
    ['centre', 4, 16, 48],
  ])('%s crop starts at the right place', (_n, i, x0, y0) => {
    expect(at(crops[i], 0, 0, 0)).toBeCloseTo(norm(x0, 0), 5);
    expect(at(crops[i], 0, 223, 0)).toBeCloseTo(norm(x0 + 223, 0), 5);
    expect(at(crops[i], 1, 0, 0)).toBeCloseTo(norm(y0 % 256, 1), 5);
  });

  it('crops 5..9 mirror crops 0..4 left↔right', () => {
    for (let i = 0; i < 5; i++) {
      for (const [x, y, c] of [[0, 0, 0], [10, 200, 1], [223, 17, 2], [111, 111, 0]]) {
        expect(at(crops[i + 5], c, x, y)).toBe(at(crops[i], c, 223 - x, y));
      }
    }
  });

  it('centre crop equals preprocess()', () => {
    expect(Array.from(crops[4])).toEqual(Array.from(preprocess(img)));
  });
});
