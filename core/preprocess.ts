/**
 * The zoo card's preprocessing: short side → 256 with linear, antialiased resampling (PIL's
 * BILINEAR, i.e. a triangle filter whose support widens with the downscale factor), centre crop
 * 224, /255, mean/std normalisation, CHW float32.
 *
 * Speed: the resampler is separable with weights precomputed per output row/column, and
 * {@link preprocess} only computes the resized pixels inside the crop, writing them straight
 * into the normalised tensor.
 */
import { InvalidArgumentError } from './errors.js';
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

/** Per-output-pixel filter taps: source start, tap count and weights (`ksize` slots each). */
interface Taps {
  start: Int32Array;
  count: Int32Array;
  weights: Float32Array;
  ksize: number;
}

/**
 * Triangle-filter taps for resampling `inSize` → `outSize`, for outputs `first .. first+n-1`.
 * Mirrors PIL's `precompute_coeffs` for BILINEAR so results match the reference pipeline.
 */
function computeTaps(inSize: number, logicalIn: number, outSize: number, first: number, n: number): Taps {
  const scale = logicalIn / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // the triangle's radius is 1 input pixel, widened when shrinking
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(n);
  const count = new Int32Array(n);
  const weights = new Float32Array(n * ksize);
  for (let i = 0; i < n; i++) {
    const center = (first + i + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize);
    let total = 0;
    const base = i * ksize;
    for (let x = xmin; x < xmax; x++) {
      const t = Math.abs((x - center + 0.5) / filterScale);
      const w = t < 1 ? 1 - t : 0;
      weights[base + x - xmin] = w;
      total += w;
    }
    if (total > 0) for (let x = 0; x < xmax - xmin; x++) weights[base + x] /= total;
    start[i] = xmin;
    count[i] = xmax - xmin;
  }
  return { start, count, weights, ksize };
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

/**
 * Resamples `img` to `outW`×`outH` but only computes the window (x0, y0, w, h) of the output.
 * @returns float RGB interleaved, `w*h*3` values in 0..255
 */
function resampleWindow(img: RgbImage, outW: number, outH: number, x0: number, y0: number, w: number, h: number): Float32Array {
  const src = img.data;
  const sw = img.width;
  const { lw, lh } = logicalSize(img);
  const hx = computeTaps(sw, lw, outW, x0, w);
  const vy = computeTaps(img.height, lh, outH, y0, h);
  // Horizontal pass over just the source rows the vertical taps touch.
  const rowLo = vy.start[0];
  const rowHi = vy.start[h - 1] + vy.count[h - 1];
  const rows = rowHi - rowLo;
  const mid = new Float32Array(rows * w * 3);
  const { start: hs, count: hc, weights: hw, ksize: hk } = hx;
  for (let r = 0; r < rows; r++) {
    const srow = (rowLo + r) * sw * 3;
    let o = r * w * 3;
    for (let x = 0; x < w; x++) {
      let p = srow + hs[x] * 3;
      const wb = x * hk;
      const n = hc[x];
      let a = 0;
      let b = 0;
      let c = 0;
      for (let k = 0; k < n; k++, p += 3) {
        const wt = hw[wb + k];
        a += src[p] * wt;
        b += src[p + 1] * wt;
        c += src[p + 2] * wt;
      }
      mid[o++] = a;
      mid[o++] = b;
      mid[o++] = c;
    }
  }
  const out = new Float32Array(w * h * 3);
  const { start: vs, count: vc, weights: vw, ksize: vk } = vy;
  const rowLen = w * 3;
  for (let y = 0; y < h; y++) {
    const o = y * rowLen;
    const first = (vs[y] - rowLo) * rowLen;
    for (let k = 0; k < vc[y]; k++) {
      const wt = vw[y * vk + k];
      const m = first + k * rowLen;
      for (let i = 0; i < rowLen; i++) out[o + i] += mid[m + i] * wt;
    }
  }
  return out;
}

function checkImage(img: RgbImage): void {
  if (!(img.width >= 1 && img.height >= 1) || img.data.length < img.width * img.height * 3) {
    throw new InvalidArgumentError(`Image must be at least 1x1 with width*height*3 bytes, got ${img.width}x${img.height} with ${img.data.length} bytes.`);
  }
}

function toUint8(f: Float32Array): Uint8Array {
  const out = new Uint8Array(f.length);
  for (let i = 0; i < f.length; i++) out[i] = Math.round(f[i]); // Uint8Array assignment clamps
  return out;
}

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
  return { width, height, data: toUint8(resampleWindow(img, width, height, 0, 0, width, height)) };
}

/** Normalises an interleaved float RGB window into a CHW tensor, optionally mirrored left↔right. */
function toChw(rgb: Float32Array, w: number, h: number, cfg: PreprocessConfig, mirror: boolean, round: boolean): Float32Array {
  const plane = w * h;
  const out = new Float32Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    const scale = 1 / (255 * cfg.std[c]);
    const shift = cfg.mean[c] / cfg.std[c];
    const base = c * plane;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const sx = mirror ? w - 1 - x : x;
        let v = rgb[(y * w + sx) * 3 + c];
        if (round) v = Math.round(v);
        out[base + y * w + x] = v * scale - shift;
      }
    }
  }
  return out;
}

function checkConfig(cfg: PreprocessConfig): void {
  if (!(cfg.cropSize >= 1 && cfg.cropSize <= cfg.resizeShortSide)) {
    throw new InvalidArgumentError(`cropSize (${cfg.cropSize}) must be between 1 and resizeShortSide (${cfg.resizeShortSide}).`);
  }
}

/**
 * First half of {@link preprocess}: the centre `cfg.cropSize`² window of the image resized to
 * short side `cfg.resizeShortSide`, computing only the pixels inside the window.
 * @returns float RGB interleaved, cropSize²·3 values in 0..255 (rounded to whole levels, like the 8-bit resized image the reference crops from)
 */
export function resizeCrop(img: RgbImage, cfg: PreprocessConfig = IMAGENET_PREPROCESS): Float32Array {
  checkImage(img);
  checkConfig(cfg);
  const { lw, lh } = logicalSize(img);
  const { width, height } = resizedSize(lw, lh, cfg.resizeShortSide);
  const c = cfg.cropSize;
  const win = resampleWindow(img, width, height, centerCropOffset(width, c), centerCropOffset(height, c), c, c);
  for (let i = 0; i < win.length; i++) win[i] = Math.round(win[i]);
  return win;
}

/**
 * Second half of {@link preprocess}: /255, (x − mean)/std, interleaved RGB → CHW.
 * @param rgb `cropSize`²·3 interleaved values in 0..255, as {@link resizeCrop} returns
 */
export function toTensor(rgb: Float32Array, cfg: PreprocessConfig = IMAGENET_PREPROCESS): Float32Array {
  const c = cfg.cropSize;
  if (rgb.length !== c * c * 3) throw new InvalidArgumentError(`Expected ${c * c * 3} values (${c}x${c} RGB), got ${rgb.length}.`);
  return toChw(rgb, c, c, cfg, false, false);
}

/**
 * The model input for one image: resize short side to `cfg.resizeShortSide`, centre crop
 * `cfg.cropSize`², scale to [0,1], subtract mean, divide by std.
 * @returns CHW float32 of length 3·cropSize² (R plane, G plane, B plane)
 * @default cfg IMAGENET_PREPROCESS (256 → 224, ImageNet mean/std)
 */
export function preprocess(img: RgbImage, cfg: PreprocessConfig = IMAGENET_PREPROCESS): Float32Array {
  return toTensor(resizeCrop(img, cfg), cfg);
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
  const full = resampleWindow(img, width, height, 0, 0, width, height);
  const c = cfg.cropSize;
  const origins: [number, number][] = [
    [0, 0],
    [width - c, 0],
    [0, height - c],
    [width - c, height - c],
    [centerCropOffset(width, c), centerCropOffset(height, c)],
  ];
  const crops = origins.map(([x0, y0]) => {
    const win = new Float32Array(c * c * 3);
    for (let y = 0; y < c; y++) win.set(full.subarray(((y0 + y) * width + x0) * 3, ((y0 + y) * width + x0 + c) * 3), y * c * 3);
    return win;
  });
  return [...crops.map((w) => toChw(w, c, c, cfg, false, true)), ...crops.map((w) => toChw(w, c, c, cfg, true, true))];
}
