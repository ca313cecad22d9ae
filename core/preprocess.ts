/**
 * The zoo card's preprocessing: short side → 256 with linear, antialiased resampling (PIL's
 * BILINEAR, i.e. a triangle filter whose support widens with the downscale factor), centre crop
 * 224, /255, mean/std normalisation, CHW float32.
 *
 * Speed: the resampler is separable with integer weights precomputed per output row/column,
 * {@link preprocess} only computes the resized pixels inside the crop, and the vertical pass writes
 * them straight into the normalised CHW tensor. Both passes run in WebAssembly (`resample-wasm/`,
 * the vertical one four outputs a step) with the same arithmetic as the JavaScript passes below,
 * which remain for engines without WebAssembly SIMD (`npm run bench:resample` on the 2-core dev VM,
 * median per tensor: 640×480 1.2 ms against 2.6 ms in JavaScript, 500×375 — a 12 MP photo at 1/8 —
 * 0.8 against 1.8–2.2 ms).
 */
import { InvalidArgumentError } from './errors.js';
import { resampleWasm } from './resample-wasm/index.js';
import { MID_BITS, WEIGHT_BITS } from './resample-wasm/wat.js';
import { IMAGENET_PREPROCESS, type PreprocessConfig, type RgbImage } from './types.js';

/**
 * An image decoded at reduced scale may say which (fractional) size it stands for: a 1050-row
 * JPEG decoded at 1/4 has 263 rows of which the last covers only half a block. Resampling from
 * the logical size keeps the original's geometry (output size and pixel centres).
 */
export interface ScaledRgbImage extends RgbImage {
  /** Width in this image's pixels of the area the original covers, e.g. 262.5. @default width */
  readonly logicalWidth?: number;
  /** @default height */
  readonly logicalHeight?: number;
}

function logicalSize(img: RgbImage): { lw: number; lh: number } {
  const s = img as ScaledRgbImage;
  return { lw: s.logicalWidth ?? img.width, lh: s.logicalHeight ?? img.height };
}

/** Per-output-pixel filter taps: source start, tap count and integer weights (`ksize` slots each). */
interface Taps {
  start: Int32Array;
  count: Int32Array;
  weights: Int32Array;
  ksize: number;
  /** The tap count every output has, or 0 when counts differ (an input shorter than the filter). */
  fixed: number;
}

/**
 * Triangle-filter taps for resampling `inSize` → `outSize`, for outputs `first .. first+n-1`.
 * Mirrors PIL's `precompute_coeffs` for BILINEAR, then quantises like PIL's `normalize_coeffs_8bpc`
 * (fixed point, here 14 bits), with the rounding remainder given to the largest tap so that a flat
 * image stays exactly flat.
 */
function computeTaps(inSize: number, logicalIn: number, outSize: number, first: number, n: number): Taps {
  const scale = logicalIn / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // the triangle's radius is 1 input pixel, widened when shrinking
  const invFilterScale = 1 / filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const one = 1 << WEIGHT_BITS;
  const start = new Int32Array(n);
  const count = new Int32Array(n);
  const weights = new Int32Array(n * ksize);
  const w = new Float64Array(ksize);
  for (let i = 0; i < n; i++) {
    const center = (first + i + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize);
    const taps = xmax - xmin;
    let total = 0;
    for (let k = 0; k < taps; k++) {
      const t = Math.abs((xmin + k - center + 0.5) * invFilterScale);
      w[k] = t < 1 ? 1 - t : 0;
      total += w[k];
    }
    const base = i * ksize;
    let sum = 0;
    let largest = 0;
    for (let k = 0; k < taps; k++) {
      const q = total > 0 ? Math.round((w[k] / total) * one) : 0;
      weights[base + k] = q;
      sum += q;
      if (q > weights[base + largest]) largest = k;
    }
    if (taps > 0) weights[base + largest] += one - sum;
    start[i] = xmin;
    count[i] = taps;
  }
  const fixed = padTaps(start, count, weights, ksize, inSize);
  return { start, count, weights, ksize, fixed };
}

/**
 * Gives every output the same tap count (the largest) by adding zero-weight taps, moving the start left
 * where the window would run past the input. Results are unchanged; the horizontal pass can then use a
 * fixed, unrolled kernel without a data-dependent branch per output pixel.
 */
function padTaps(start: Int32Array, count: Int32Array, weights: Int32Array, ksize: number, inSize: number): number {
  let k = 0;
  for (let i = 0; i < count.length; i++) k = Math.max(k, count[i]);
  if (k > inSize) return 0;
  for (let i = 0; i < count.length; i++) {
    const base = i * ksize;
    const d = Math.max(0, start[i] + k - inSize);
    if (d > 0) {
      weights.copyWithin(base + d, base, base + count[i]);
      weights.fill(0, base, base + d);
      start[i] -= d;
    }
    count[i] = k;
  }
  return k;
}

/**
 * Output size when the short side becomes `shortSide`: the long side is `floor(shortSide × long / short)`,
 * as torchvision's `Resize(int)` computes it.
 */
export function resizedSize(width: number, height: number, shortSide: number): { width: number; height: number } {
  if (width <= height) return { width: shortSide, height: Math.max(1, Math.floor((shortSide * height) / width)) };
  return { width: Math.max(1, Math.floor((shortSide * width) / height)), height: shortSide };
}

/** Python's round() (half to even), which torchvision's CenterCrop uses for the offset. */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Offset of a centred `crop`-long window in a `size`-long side (torchvision's CenterCrop). */
export function centerCropOffset(size: number, crop: number): number {
  return roundHalfEven((size - crop) / 2);
}

/** The same bytes as a plain `Uint8Array` view (no copy), so the hot loops below see one array kind. */
function plainBytes(data: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(data) === Uint8Array.prototype ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

const MID_SHIFT = WEIGHT_BITS - MID_BITS;
const MID_HALF = 1 << (MID_SHIFT - 1);
const OUT_SHIFT = WEIGHT_BITS + MID_BITS;
const OUT_HALF = 1 << (OUT_SHIFT - 1);

/**
 * Horizontal filter of one interleaved RGB source row (starting at `s`) into the three planes of `mid`
 * (at `o`, `o + midPlane`, `o + 2·midPlane`), `w` outputs. Taps are taken two at a time: at 3–5 taps
 * per output the loop overhead is a large part of the cost.
 */
function filterRow(src: Uint8Array, s: number, mid: Uint16Array, o: number, midPlane: number, w: number, taps: Taps): void {
  const { start, count, weights, ksize, fixed } = taps;
  if (fixed === 4) return filterRow4(src, s, mid, o, midPlane, w, start, weights, ksize);
  if (fixed === 3) return filterRow3(src, s, mid, o, midPlane, w, start, weights, ksize);
  for (let x = 0; x < w; x++, o++) {
    let p = s + start[x] * 3;
    let wb = x * ksize;
    const n = count[x];
    let a = MID_HALF;
    let b = MID_HALF;
    let c = MID_HALF;
    let k = 0;
    for (; k + 1 < n; k += 2, p += 6, wb += 2) {
      const w0 = weights[wb];
      const w1 = weights[wb + 1];
      a += src[p] * w0 + src[p + 3] * w1;
      b += src[p + 1] * w0 + src[p + 4] * w1;
      c += src[p + 2] * w0 + src[p + 5] * w1;
    }
    if (k < n) {
      const w0 = weights[wb];
      a += src[p] * w0;
      b += src[p + 1] * w0;
      c += src[p + 2] * w0;
    }
    mid[o] = a >> MID_SHIFT;
    mid[o + midPlane] = b >> MID_SHIFT;
    mid[o + 2 * midPlane] = c >> MID_SHIFT;
  }
}

/**
 * {@link filterRow} when every output has exactly 4 taps (shrinking by 1.5–2×, e.g. 640×480 → 341×256),
 * fully unrolled: about a third faster than the loop.
 */
function filterRow4(src: Uint8Array, s: number, mid: Uint16Array, o: number, midPlane: number, w: number, start: Int32Array, weights: Int32Array, ksize: number): void {
  for (let x = 0, wb = 0; x < w; x++, o++, wb += ksize) {
    const p = s + start[x] * 3;
    const w0 = weights[wb];
    const w1 = weights[wb + 1];
    const w2 = weights[wb + 2];
    const w3 = weights[wb + 3];
    mid[o] = (MID_HALF + src[p] * w0 + src[p + 3] * w1 + src[p + 6] * w2 + src[p + 9] * w3) >> MID_SHIFT;
    mid[o + midPlane] = (MID_HALF + src[p + 1] * w0 + src[p + 4] * w1 + src[p + 7] * w2 + src[p + 10] * w3) >> MID_SHIFT;
    mid[o + 2 * midPlane] = (MID_HALF + src[p + 2] * w0 + src[p + 5] * w1 + src[p + 8] * w2 + src[p + 11] * w3) >> MID_SHIFT;
  }
}

/** {@link filterRow4} for 3 taps (shrinking by 1–1.5×, e.g. a 1/8-scale 12 MP JPEG, 500×375 → 341×256). */
function filterRow3(src: Uint8Array, s: number, mid: Uint16Array, o: number, midPlane: number, w: number, start: Int32Array, weights: Int32Array, ksize: number): void {
  for (let x = 0, wb = 0; x < w; x++, o++, wb += ksize) {
    const p = s + start[x] * 3;
    const w0 = weights[wb];
    const w1 = weights[wb + 1];
    const w2 = weights[wb + 2];
    mid[o] = (MID_HALF + src[p] * w0 + src[p + 3] * w1 + src[p + 6] * w2) >> MID_SHIFT;
    mid[o + midPlane] = (MID_HALF + src[p + 1] * w0 + src[p + 4] * w1 + src[p + 7] * w2) >> MID_SHIFT;
    mid[o + 2 * midPlane] = (MID_HALF + src[p + 2] * w0 + src[p + 5] * w1 + src[p + 8] * w2) >> MID_SHIFT;
  }
}

/**
 * One output row of the vertical pass when every output has exactly 4 taps, rounded, mapped and stored
 * in one sweep (no accumulator row).
 */
function column4(out: Float32Array, o: number, mid: Uint16Array, m: number, w: number, weights: Int32Array, wb: number, sc: number, sh: number): void {
  const w0 = weights[wb];
  const w1 = weights[wb + 1];
  const w2 = weights[wb + 2];
  const w3 = weights[wb + 3];
  const m1 = m + w;
  const m2 = m1 + w;
  const m3 = m2 + w;
  for (let x = 0; x < w; x++) {
    out[o + x] = ((OUT_HALF + mid[m + x] * w0 + mid[m1 + x] * w1 + mid[m2 + x] * w2 + mid[m3 + x] * w3) >> OUT_SHIFT) * sc - sh;
  }
}

/** {@link column4} for 3 taps. */
function column3(out: Float32Array, o: number, mid: Uint16Array, m: number, w: number, weights: Int32Array, wb: number, sc: number, sh: number): void {
  const w0 = weights[wb];
  const w1 = weights[wb + 1];
  const w2 = weights[wb + 2];
  const m1 = m + w;
  const m2 = m1 + w;
  for (let x = 0; x < w; x++) out[o + x] = ((OUT_HALF + mid[m + x] * w0 + mid[m1 + x] * w1 + mid[m2 + x] * w2) >> OUT_SHIFT) * sc - sh;
}

/**
 * `acc[x] = OUT_HALF + Σ_k mid[m + k·w + x] · weights[wb + k]` for `k < n`: the vertical filter of one
 * output row. Up to four source rows per sweep, so `acc` is read and written once per four taps.
 */
function sumRows(acc: Int32Array, mid: Uint16Array, m: number, w: number, weights: Int32Array, wb: number, n: number): void {
  acc.fill(OUT_HALF);
  let k = 0;
  for (; k + 3 < n; k += 4, m += 4 * w) {
    const w0 = weights[wb + k];
    const w1 = weights[wb + k + 1];
    const w2 = weights[wb + k + 2];
    const w3 = weights[wb + k + 3];
    const m1 = m + w;
    const m2 = m1 + w;
    const m3 = m2 + w;
    for (let x = 0; x < w; x++) acc[x] += mid[m + x] * w0 + mid[m1 + x] * w1 + mid[m2 + x] * w2 + mid[m3 + x] * w3;
  }
  for (; k + 1 < n; k += 2, m += 2 * w) {
    const w0 = weights[wb + k];
    const w1 = weights[wb + k + 1];
    const m1 = m + w;
    for (let x = 0; x < w; x++) acc[x] += mid[m + x] * w0 + mid[m1 + x] * w1;
  }
  if (k < n) {
    const w0 = weights[wb + k];
    for (let x = 0; x < w; x++) acc[x] += mid[m + x] * w0;
  }
}

/**
 * Resamples `img` to `outW`×`outH` but only computes the window (x0, y0, w, h) of the output, rounded
 * to whole 0..255 levels (as the 8-bit resized image the reference crops from), then mapped per channel
 * as `level * scale[c] - shift[c]` (identity for levels; the normalisation for a model input).
 *
 * Integer arithmetic throughout (uint8 × 14-bit weights, 7 fraction bits in between, like PIL's 8-bit
 * path but keeping more precision): it is exact for flat areas and faster than float in V8.
 * @returns channel planes (CHW): `3*w*h` values, R plane then G then B
 */
function resampleWindow(
  img: RgbImage,
  outW: number,
  outH: number,
  window: { x0: number; y0: number; w: number; h: number },
  scale: readonly number[],
  shift: readonly number[],
  dest?: Float32Array,
  wasm = true,
): Float32Array {
  const { x0, y0, w, h } = window;
  const src = plainBytes(img.data);
  const sw = img.width;
  const { lw, lh } = logicalSize(img);
  const hx = computeTaps(sw, lw, outW, x0, w);
  const vy = computeTaps(img.height, lh, outH, y0, h);
  const plane = w * h;
  // Every element is written below, so a reused buffer needs no clearing.
  const out = dest !== undefined && dest.length === plane * 3 ? dest : new Float32Array(plane * 3);
  if (wasm && resampleWasm(src, sw, hx, vy, w, h, scale, shift, out)) return out;
  const { start: vs, count: vc, weights: vw, ksize: vk } = vy;
  // Horizontal pass over just the source rows (and columns) the window touches, into channel planes so
  // the vertical pass reads and writes contiguous rows. Values ≤ 255·2^MID_BITS fit 16 bits.
  const rowLo = vs[0];
  const rows = vs[h - 1] + vc[h - 1] - rowLo;
  const midPlane = rows * w;
  const mid = new Uint16Array(midPlane * 3);
  for (let r = 0; r < rows; r++) filterRow(src, (rowLo + r) * sw * 3, mid, r * w, midPlane, w, hx);
  // Vertical pass row by row into one int32 accumulator row (≤ 255·2^21 + rounding < 2^31), then round, map and store.
  const acc = new Int32Array(w);
  for (let ch = 0; ch < 3; ch++) {
    const sc = scale[ch];
    const sh = shift[ch];
    for (let y = 0; y < h; y++) {
      const m = ch * midPlane + (vs[y] - rowLo) * w;
      const o = ch * plane + y * w;
      if (vy.fixed === 4) {
        column4(out, o, mid, m, w, vw, y * vk, sc, sh);
      } else if (vy.fixed === 3) {
        column3(out, o, mid, m, w, vw, y * vk, sc, sh);
      } else {
        sumRows(acc, mid, m, w, vw, y * vk, vc[y]);
        for (let x = 0; x < w; x++) out[o + x] = (acc[x] >> OUT_SHIFT) * sc - sh;
      }
    }
  }
  return out;
}

function checkImage(img: RgbImage): void {
  if (!(img.width >= 1 && img.height >= 1) || img.data.length < img.width * img.height * 3) {
    throw new InvalidArgumentError(`Image must be at least 1x1 with width*height*3 bytes, got ${img.width}x${img.height} with ${img.data.length} bytes.`);
  }
}

/** Leaves 0..255 levels as they are. */
const IDENTITY = { scale: [1, 1, 1], shift: [0, 0, 0] } as const;

/**
 * Resizes so that the short side is `shortSide` pixels (aspect ratio kept, long side floored),
 * with a linear, antialiased (triangle) filter — PIL's `Image.BILINEAR` / torchvision `antialias=True`.
 * @param shortSide target short side in pixels
 */
export function resizeShortSide(img: RgbImage, shortSide: number): RgbImage {
  checkImage(img);
  if (!(Number.isInteger(shortSide) && shortSide >= 1)) throw new InvalidArgumentError(`shortSide must be a positive integer, got ${shortSide}.`);
  const { lw, lh } = logicalSize(img);
  const { width, height } = resizedSize(lw, lh, shortSide);
  const planes = resampleWindow(img, width, height, { x0: 0, y0: 0, w: width, h: height }, IDENTITY.scale, IDENTITY.shift);
  const plane = width * height;
  const data = new Uint8Array(plane * 3);
  for (let i = 0, o = 0; i < plane; i++, o += 3) {
    data[o] = planes[i];
    data[o + 1] = planes[i + plane];
    data[o + 2] = planes[i + 2 * plane];
  }
  return { width, height, data };
}

/** Per-channel `scale`, `shift` such that `level * scale - shift` = (level/255 − mean)/std. */
function normalisation(cfg: PreprocessConfig): { scale: number[]; shift: number[] } {
  return {
    scale: cfg.std.map((s) => 1 / (255 * s)),
    shift: cfg.mean.map((m, c) => m / cfg.std[c]),
  };
}

/**
 * Normalises the `c`×`c` window at (x0, y0) of CHW levels (planes `srcW`×`srcH`) into a new CHW
 * tensor, optionally mirrored left↔right; the same arithmetic as the fused path of {@link preprocess}.
 */
function normaliseWindow(levels: Float32Array, srcW: number, srcH: number, x0: number, y0: number, c: number, cfg: PreprocessConfig, mirror: boolean): Float32Array {
  const { scale, shift } = normalisation(cfg);
  const plane = c * c;
  const srcPlane = srcW * srcH;
  const out = new Float32Array(plane * 3);
  for (let ch = 0; ch < 3; ch++) {
    const sc = scale[ch];
    const sh = shift[ch];
    let o = ch * plane;
    for (let y = 0; y < c; y++) {
      const row = ch * srcPlane + (y0 + y) * srcW + x0;
      if (mirror) for (let x = c - 1; x >= 0; x--, o++) out[o] = levels[row + x] * sc - sh;
      else for (let x = 0; x < c; x++, o++) out[o] = levels[row + x] * sc - sh;
    }
  }
  return out;
}

function checkConfig(cfg: PreprocessConfig): void {
  if (!(cfg.cropSize >= 1 && cfg.cropSize <= cfg.resizeShortSide)) {
    throw new InvalidArgumentError(`cropSize (${cfg.cropSize}) must be between 1 and resizeShortSide (${cfg.resizeShortSide}).`);
  }
}

/** How {@link preprocess} runs (the result is the same either way). */
export interface PreprocessOptions {
  /**
   * Resample in WebAssembly where it can (taps of one count per axis, at most 16 MB of source rows:
   * every image decoded at reduced scale); false: JavaScript only (tests and benchmarks compare the two).
   * @default true
   */
  wasm?: boolean;
}

/**
 * The model input for one image: resize short side to `cfg.resizeShortSide`, centre crop
 * `cfg.cropSize`², scale to [0,1], subtract mean, divide by std. Only the pixels inside the crop are
 * resampled, and the normalisation is applied as they are written.
 * @param into a buffer of exactly 3·cropSize² floats to write into instead of allocating one (the
 *   batch worker reuses its tensors); any other length is ignored
 * @returns CHW float32 of length 3·cropSize² (R plane, G plane, B plane): `into` when it was used
 * @default cfg IMAGENET_PREPROCESS (256 → 224, ImageNet mean/std)
 */
export function preprocess(img: RgbImage, cfg: PreprocessConfig = IMAGENET_PREPROCESS, into?: Float32Array, opts: PreprocessOptions = {}): Float32Array {
  checkImage(img);
  checkConfig(cfg);
  const { lw, lh } = logicalSize(img);
  const { width, height } = resizedSize(lw, lh, cfg.resizeShortSide);
  const c = cfg.cropSize;
  const { scale, shift } = normalisation(cfg);
  return resampleWindow(img, width, height, { x0: centerCropOffset(width, c), y0: centerCropOffset(height, c), w: c, h: c }, scale, shift, into, opts.wasm ?? true);
}

/**
 * Ten-crop test-time augmentation (ResNet paper): from the image resized to `cfg.resizeShortSide`,
 * the crops top-left, top-right, bottom-left, bottom-right and centre, then the left-right mirror
 * of each of those five, in the same order.
 * @returns 10 CHW float32 tensors, each 3·cropSize²
 */
export function tenCrop(img: RgbImage, cfg: PreprocessConfig = IMAGENET_PREPROCESS): Float32Array[] {
  checkImage(img);
  checkConfig(cfg);
  const { lw, lh } = logicalSize(img);
  const { width, height } = resizedSize(lw, lh, cfg.resizeShortSide);
  const full = resampleWindow(img, width, height, { x0: 0, y0: 0, w: width, h: height }, IDENTITY.scale, IDENTITY.shift);
  const c = cfg.cropSize;
  const origins: [number, number][] = [
    [0, 0],
    [width - c, 0],
    [0, height - c],
    [width - c, height - c],
    [centerCropOffset(width, c), centerCropOffset(height, c)],
  ];
  return [false, true].flatMap((mirror) => origins.map(([x0, y0]) => normaliseWindow(full, width, height, x0, y0, c, cfg, mirror)));
}
