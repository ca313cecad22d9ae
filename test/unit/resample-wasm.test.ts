import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

import { decodeImage } from '../../core/decode.js';
import { preprocess, type ScaledRgbImage } from '../../core/preprocess.js';
import { resampleStats } from '../../core/resample-wasm/index.js';
import type { PreprocessConfig } from '../../core/types.js';
import { PHOTOS_DIR } from '../helpers/paths.js';
import { rng } from '../helpers/rng.js';

/** Runs preprocess both ways: the WebAssembly resampler's tensor must equal JavaScript's bit for bit. */
function bothWays(img: ScaledRgbImage, cfg?: PreprocessConfig): { wasm: Float32Array; js: Float32Array; inWasm: boolean } {
  const before = resampleStats.resampled;
  const wasm = preprocess(img, cfg, undefined, { wasm: true });
  const inWasm = resampleStats.resampled === before + 1;
  const js = preprocess(img, cfg, undefined, { wasm: false });
  return { wasm, js, inWasm };
}

const sameBits = (a: Float32Array, b: Float32Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** Pseudo-random levels to cut images from (a loop per image is slow under Jest). */
const POOL = new Uint8Array(900 * 900 * 3 + 1024).map((_, i) => Math.imul(i, 2654435761) >>> 24);

describe('resampler in WebAssembly', () => {
  it('gives JavaScript’s tensor bit for bit: random sizes, fractional logical sizes, odd crops, custom normalisation', () => {
    const next = rng(21);
    let inWasm = 0;
    for (let t = 0; t < 120; t++) {
      const width = 1 + Math.floor(next() * (t < 30 ? 40 : 900));
      const height = 1 + Math.floor(next() * (t < 30 ? 40 : 900));
      const start = Math.floor(next() * 1024);
      const data = POOL.slice(start, start + width * height * 3);
      const img: ScaledRgbImage = next() < 0.3 ? { width, height, data, logicalWidth: width - next() * 0.9, logicalHeight: height - next() * 0.9 } : { width, height, data };
      // Crops of every width mod 4: the vertical pass writes four values a step.
      const cropSize = 1 + Math.floor(next() * 240);
      const cfg: PreprocessConfig | undefined =
        t % 3 === 0 ? undefined : { resizeShortSide: cropSize + Math.floor(next() * 40), cropSize, mean: [0.5, 0.4, 0.3], std: [0.2, 0.3, 0.25] };
      const r = bothWays(img, cfg);
      if (!sameBits(r.wasm, r.js)) throw new Error(`differ: ${width}×${height}, crop ${cfg?.cropSize ?? 224}`);
      if (r.inWasm) inWasm++;
    }
    // Taps are padded to one count per axis (JavaScript would take inputs shorter than the filter,
    // which scaling the short side to the recipe's never makes): every case ran in WebAssembly.
    expect(inWasm).toBe(120);
  });

  it('gives JavaScript’s tensor for the shared photos decoded at reduced scale', async () => {
    const files = readdirSync(PHOTOS_DIR).filter((n) => /\.(jpe?g|png)$/i.test(n));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const img = await decodeImage(new Uint8Array(readFileSync(path.join(PHOTOS_DIR, f))), { minShortSide: 256 });
      const r = bothWays(img);
      expect(r.inWasm).toBe(true);
      expect(sameBits(r.wasm, r.js)).toBe(true);
    }
  });

  it('leaves a window over more than 16 MB of source rows to JavaScript (its memory would never shrink back)', () => {
    const big = { width: 3000, height: 2800, data: new Uint8Array(3000 * 2800 * 3).fill(90) }; // ~22 MB of rows in the crop
    const r = bothWays(big);
    expect(r.inWasm).toBe(false);
    expect(r.wasm[0]).toBeCloseTo((90 / 255 - 0.485) / 0.229, 5);
    // A smaller one of the same shape still runs there.
    expect(bothWays({ width: 1500, height: 1400, data: new Uint8Array(1500 * 1400 * 3).fill(90) }).inWasm).toBe(true);
  });
});
