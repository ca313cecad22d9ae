/**
 * Our decode + preprocess against references computed independently with Pillow + numpy
 * (scripts/reference/preprocess_reference.py → test/fixtures/preprocess-reference/*.json),
 * compared after 8×8 average pooling, through the default fast path (reduced-scale JPEG decoding
 * allowed down to the resize target).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { decodeImage } from '../../core/decode.js';
import { preprocess } from '../../core/preprocess.js';
import { IMAGENET_PREPROCESS } from '../../core/types.js';
import { REPO_ROOT, PHOTOS_DIR } from '../helpers/paths.js';

const FIXTURES = path.join(REPO_ROOT, 'test/fixtures/preprocess-reference');
const MEAN_TOL = 0.01;
const MAX_TOL = 0.08;

interface Reference {
  image: string;
  sha256: string;
  pool: number;
  shape: [number, number, number];
  pooled: number[];
}

function pool(t: Float32Array, size: number, p: number): Float64Array {
  const n = size / p;
  const out = new Float64Array(3 * n * n);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        out[c * n * n + Math.floor(y / p) * n + Math.floor(x / p)] += t[c * size * size + y * size + x] / (p * p);
      }
    }
  }
  return out;
}

function errors(a: ArrayLike<number>, b: ArrayLike<number>): { mean: number; max: number } {
  let sum = 0;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]);
    sum += e;
    max = Math.max(max, e);
  }
  return { mean: sum / a.length, max };
}

const refs: Reference[] = fs
  .readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(fs.readFileSync(path.join(FIXTURES, f), 'utf8')) as Reference);

describe('preprocessing fidelity vs Pillow reference (8×8 pooled, normalised units)', () => {
  it('has references for JPEG and PNG photos', () => {
    expect(refs.some((r) => r.image.endsWith('.jpg'))).toBe(true);
    expect(refs.some((r) => r.image.endsWith('.png'))).toBe(true);
  });

  it.each(refs.map((r) => [r.image, r] as const))('%s', async (_name, ref) => {
    const bytes = fs.readFileSync(path.join(PHOTOS_DIR, ref.image));
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(ref.sha256);
    const img = await decodeImage(bytes, { minShortSide: IMAGENET_PREPROCESS.resizeShortSide });
    const t = preprocess(img);
    const pooled = pool(t, IMAGENET_PREPROCESS.cropSize, ref.pool);
    expect(pooled.length).toBe(ref.pooled.length);
    const e = errors(pooled, ref.pooled);
    console.log(`${ref.image}: decoded ${img.width}x${img.height}, mean abs ${e.mean.toFixed(5)}, max ${e.max.toFixed(5)}`);
    expect(e.mean).toBeLessThanOrEqual(MEAN_TOL);
    expect(e.max).toBeLessThanOrEqual(MAX_TOL);
  });
});

describe('reduced-scale JPEG decoding stays within the same bounds of a full decode', () => {
  // Large JPEGs made from a real photo; the full-size reference is sharp's (libjpeg-turbo) decode.
  it.each([
    ['12 MP baseline 4:2:0 (1/8 scale)', 4000, 3000, { quality: 90 }],
    ['12 MP progressive 4:4:4 (1/8 scale)', 4000, 3000, { quality: 90, progressive: true, chromaSubsampling: '4:4:4' }],
    ['3 MP baseline 4:4:4 (1/4 scale)', 2048, 1536, { quality: 85, chromaSubsampling: '4:4:4' }],
    ['1.5 MP progressive 4:2:0 (1/4 scale, partial edge blocks)', 1400, 1050, { quality: 80, progressive: true }],
  ] as const)('%s', async (_name, w, h, jpegOpts) => {
    const bytes = await sharp(path.join(PHOTOS_DIR, 'rocket.jpg')).resize(w, h, { fit: 'fill' }).jpeg(jpegOpts).toBuffer();
    const full = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const expected = preprocess({ width: full.info.width, height: full.info.height, data: full.data });
    const img = await decodeImage(bytes, { minShortSide: 256 });
    expect(Math.min(img.width, img.height)).toBeGreaterThanOrEqual(256);
    expect(Math.min(img.width, img.height)).toBeLessThan(512);
    const e = errors(pool(preprocess(img), 224, 8), pool(expected, 224, 8));
    console.log(`${_name}: decoded ${img.width}x${img.height}, mean abs ${e.mean.toFixed(5)}, max ${e.max.toFixed(5)}`);
    expect(e.mean).toBeLessThanOrEqual(MEAN_TOL);
    expect(e.max).toBeLessThanOrEqual(MAX_TOL);
  });
});
