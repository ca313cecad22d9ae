/**
 * The WebAssembly 1/8-scale scan walk (core/jpeg-walk/): the committed module is the one its text
 * compiles to, and at 1/8 scale the decoder gives exactly what its JavaScript reader gives — the
 * same pixels, or the same error — over sampling layouts, restart intervals, real photos and
 * damaged files, with the walk actually doing the work where the data is whole.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';

import { decodeJpeg } from '../../core/jpeg-decoder/index.js';
import { walkStats } from '../../core/jpeg-walk/index.js';
import { REPO_ROOT, PHOTOS_DIR } from '../helpers/paths.js';
import { rng } from '../helpers/rng.js';

/** The decode at 1/8 as a comparable string: pixels and size, or the error's class and message. */
function at8(bytes: Uint8Array, wasm: boolean): string {
  try {
    const img = decodeJpeg(bytes, 8, { wasm });
    return img ? `${img.width}x${img.height}:${Buffer.from(img.data).toString('base64')}` : 'declined';
  } catch (err) {
    return `${(err as Error).constructor.name}: ${(err as Error).message}`;
  }
}

/** Decodes with and without the walk; returns whether the walk took the scan. */
function expectSame(bytes: Uint8Array): { walked: boolean; result: string } {
  const before = walkStats.walked;
  const result = at8(bytes, true);
  const walked = walkStats.walked > before;
  expect(result).toBe(at8(bytes, false));
  return { walked, result };
}

/** A photo-like test image: gradients and noise. */
async function photo(width: number, height: number, opts: { chroma?: '4:2:0' | '4:4:4'; grey?: boolean; quality?: number } = {}): Promise<Uint8Array> {
  const noise = { type: 'gaussian', mean: 120, sigma: 30 } as const;
  let img = sharp({ create: { width, height, channels: 3, background: { r: 0, g: 0, b: 0 }, noise } });
  if (opts.grey) img = img.greyscale();
  return new Uint8Array(await img.jpeg({ quality: opts.quality ?? 90, chromaSubsampling: opts.chroma ?? '4:2:0' }).toBuffer());
}

describe('JPEG 1/8-scale walk in WebAssembly', () => {
  it('gives the JavaScript reader’s pixels for 4:2:0, 4:4:4 and greyscale, odd sizes included', async () => {
    const cases = [
      await photo(2048, 1536),
      await photo(1999, 1001),
      await photo(1024, 768, { chroma: '4:4:4' }),
      await photo(1030, 770, { grey: true }),
      await photo(8, 8, { quality: 100 }),
    ];
    for (const jpg of cases) expect(expectSame(jpg).walked).toBe(true);
  });

  it('gives the same pixels for files with restart markers (interleaved, non-interleaved, greyscale)', () => {
    const dir = path.join(REPO_ROOT, 'test/fixtures/jpeg-restart');
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.jpg'))) {
      expect(expectSame(new Uint8Array(readFileSync(path.join(dir, f)))).walked).toBe(true);
    }
  });

  it('gives the same pixels for the shared photos', () => {
    for (const f of readdirSync(PHOTOS_DIR).filter((n) => /\.jpe?g$/i.test(n))) {
      expect(expectSame(new Uint8Array(readFileSync(path.join(PHOTOS_DIR, f)))).walked).toBe(true);
    }
  });

  it('leaves damaged data to the JavaScript reader: same pixels or same error, for cut, flipped, stray-marker and early-end files', async () => {
    const sources = [await photo(1600, 1200), new Uint8Array(readFileSync(path.join(REPO_ROOT, 'test/fixtures/jpeg-restart/rst-3mcu-420.jpg')))];
    const next = rng(5);
    let errors = 0;
    let declined = 0;
    for (const src of sources) {
      let sos = 2;
      while (src[sos + 1] !== 0xda) sos += 2 + ((src[sos + 2]! << 8) | src[sos + 3]!);
      sos += 2 + ((src[sos + 2]! << 8) | src[sos + 3]!);
      for (let k = 0; k < 24; k++) {
        const at = sos + Math.floor(next() * (src.length - sos - 2));
        let bad: Uint8Array;
        if (k % 4 === 0) bad = src.subarray(0, at); // cut inside the scan
        else if (k % 4 === 1) {
          bad = src.slice();
          for (let i = 0; i < 3; i++) bad[sos + Math.floor(next() * (src.length - sos - 2))] ^= 1 + Math.floor(next() * 255);
        } else if (k % 4 === 2) {
          bad = src.slice();
          bad[at] = 0xff; // a stray restart marker
          bad[at + 1] = 0xd0 + Math.floor(next() * 8);
        } else bad = Uint8Array.from([...src.subarray(0, at), 0xff, 0xd9]); // the scan ends early
        const before = walkStats.declined;
        const { result } = expectSame(bad);
        if (result.startsWith('JpegDataError')) errors++;
        if (walkStats.declined > before) declined++;
      }
    }
    // Cut files must fail (as the JavaScript reader decides), and the walk must have handed some back.
    expect(errors).toBeGreaterThan(0);
    expect(declined).toBeGreaterThan(0);
  });
});
