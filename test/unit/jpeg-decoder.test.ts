import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { decodeJpeg, idct4x4, idct8x8, JpegDataError } from '../../core/jpeg-decoder/index.js';
import { REPO_ROOT, PHOTOS_DIR } from '../helpers/paths.js';
import { rng } from '../helpers/rng.js';

/**
 * Float64 matrix IDCT of the top-left k×k coefficients with the 8-point normalisation (what
 * libjpeg's scaled IDCTs compute), level-shifted, rounded half up and clamped.
 */
const BASIS = new Map<number, Float64Array>();
function referenceIdct(blk: Int32Array, k: number): number[] {
  let t = BASIS.get(k);
  if (!t) {
    t = new Float64Array(k * k);
    for (let x = 0; x < k; x++) {
      for (let u = 0; u < k; u++) t[x * k + u] = ((u === 0 ? Math.SQRT1_2 : 1) / 2) * Math.cos(((2 * x + 1) * u * Math.PI) / (2 * k));
    }
    BASIS.set(k, t);
  }
  const out: number[] = [];
  for (let y = 0; y < k; y++) {
    for (let x = 0; x < k; x++) {
      let s = 0;
      for (let v = 0; v < k; v++) for (let u = 0; u < k; u++) s += t[y * k + v] * t[x * k + u] * blk[v * 8 + u];
      const r = Math.round(s) + 128;
      out.push(r < 0 ? 0 : r > 255 ? 255 : r);
    }
  }
  return out;
}

/** Dequantised coefficients shaped like real blocks: large DC, AC shrinking with frequency, many zeros. */
function randomBlock(next: () => number, kind: 'sparse' | 'dense' | 'saturating'): Int32Array {
  const blk = new Int32Array(64);
  blk[0] = Math.round((next() * 2 - 1) * (kind === 'saturating' ? 3000 : 1000));
  for (let i = 1; i < 64; i++) {
    const f = (i >> 3) + (i & 7);
    if (kind === 'sparse' && next() < 0.7) continue;
    const amp = kind === 'saturating' ? 1500 : 400 / (1 + f);
    blk[i] = Math.round((next() * 2 - 1) * amp);
  }
  return blk;
}

describe('fast IDCTs against a float64 reference', () => {
  const cases = [
    { k: 8, run: idct8x8 },
    { k: 4, run: idct4x4 },
  ];
  describe.each(cases)('k=$k', ({ k, run }) => {
    test.each(['sparse', 'dense', 'saturating'] as const)('%s blocks: every pixel within ±1', (kind) => {
      const next = rng(k * 100 + kind.length);
      const ws = new Float64Array(64);
      // Written into the middle of a wider plane to check the row pitch too.
      const stride = 3 * k;
      const plane = new Uint8Array(stride * k);
      let worst = 0;
      let exact = 0;
      const n = 500;
      for (let b = 0; b < n; b++) {
        const blk = randomBlock(next, kind);
        run(blk, ws, plane, k, stride);
        const ref = referenceIdct(blk, k);
        for (let y = 0; y < k; y++) {
          for (let x = 0; x < k; x++) {
            const d = Math.abs(plane[y * stride + k + x] - ref[y * k + x]);
            if (d > worst) worst = d;
            if (d === 0) exact++;
          }
        }
      }
      console.log(`k=${k} ${kind}: worst ${worst}, exact ${((100 * exact) / (n * k * k)).toFixed(3)} %`);
      expect(worst).toBeLessThanOrEqual(1);
      // A float AAN differs from the matrix form only at rounding ties.
      expect(exact / (n * k * k)).toBeGreaterThan(0.999);
    });
  });

  test('a single AC coefficient gives the cosine pattern (catches swapped butterfly outputs)', () => {
    const ws = new Float64Array(64);
    const plane = new Uint8Array(64);
    for (let i = 1; i < 64; i++) {
      const blk = new Int32Array(64);
      blk[i] = 400;
      idct8x8(blk, ws, plane, 0, 8);
      expect(Array.from(plane)).toEqual(referenceIdct(blk, 8));
    }
  });
});

/** libjpeg-turbo's (sharp's) decode of `jpg` against ours: its size, and the mean and largest absolute difference per sample. */
async function againstLibjpeg(jpg: Buffer, ours: { data: Uint8Array }): Promise<{ size: number[]; mean: number; max: number }> {
  const { data, info } = await sharp(jpg).raw().toBuffer({ resolveWithObject: true });
  let sum = 0;
  let max = 0;
  for (let i = 0; i < data.length; i++) {
    const d = Math.abs(data[i] - ours.data[i]);
    sum += d;
    if (d > max) max = d;
  }
  return { size: [info.width, info.height], mean: sum / data.length, max };
}

describe('decodeJpeg against libjpeg-turbo (sharp)', () => {
  test.each([
    ['chelsea.png', '4:4:4', 90],
    ['coffee.png', '4:4:4', 75],
    ['astronaut.png', '4:4:4', 95],
  ] as const)('%s %s q%d: mean abs ≤ 0.1, max ≤ 3', async (file, subsampling, quality) => {
    const jpg = await sharp(path.join(PHOTOS_DIR, file)).removeAlpha().jpeg({ quality, chromaSubsampling: subsampling }).toBuffer();
    const ours = decodeJpeg(new Uint8Array(jpg), 1);
    if (!ours) throw new Error('decoder declined a baseline file');
    const { size, mean, max } = await againstLibjpeg(jpg, ours);
    expect([ours.width, ours.height]).toEqual(size);
    // libjpeg-turbo's default is the integer "islow" IDCT; the float AAN here differs by rounding only.
    console.log(`${file} q${quality}: vs libjpeg-turbo mean abs ${mean.toFixed(3)}, max ${max}`);
    expect(mean).toBeLessThanOrEqual(0.1);
    expect(max).toBeLessThanOrEqual(3);
  });

  test('a scan many times the 64 kB window the decoder unstuffs at a time matches it too', async () => {
    // 1600×1200 of noise at q95: several MB of entropy data, with a 0xFF (stuffed) every ~256 bytes.
    const noise = { type: 'gaussian', mean: 128, sigma: 30 } as const;
    const jpg = await sharp({ create: { width: 1600, height: 1200, channels: 3, background: { r: 0, g: 0, b: 0 }, noise } })
      .jpeg({ quality: 95, chromaSubsampling: '4:4:4' })
      .toBuffer();
    expect(jpg.length).toBeGreaterThan(40 * 64 * 1024);
    const ours = decodeJpeg(new Uint8Array(jpg), 1);
    if (!ours) throw new Error('decoder declined a baseline file');
    const { size, mean, max } = await againstLibjpeg(jpg, ours);
    expect([ours.width, ours.height]).toEqual(size);
    expect(mean).toBeLessThanOrEqual(0.1);
    expect(max).toBeLessThanOrEqual(3);
  });

  test('a flat grey file decodes to its exact level at every scale (DC-only path)', async () => {
    const jpg = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 77, g: 77, b: 77 } } }).jpeg({ quality: 90 }).toBuffer();
    for (const scale of [1, 2, 4, 8] as const) {
      const img = decodeJpeg(new Uint8Array(jpg), scale);
      if (!img) throw new Error('decoder declined a baseline file');
      expect([img.width, img.height]).toEqual([64 / scale, 48 / scale]);
      const levels = new Set(img.data);
      expect([...levels]).toEqual([77]);
    }
  });
});

describe('Huffman tables built once and shared between decodes', () => {
  test('a table built from one buffer does not depend on it: the buffer changed, a copy of the file decodes the same', async () => {
    // Optimised coding: tables made for this (random) image, so the first decode below builds them.
    const noise = { type: 'gaussian', mean: 128, sigma: 40 } as const;
    const jpg = await sharp({ create: { width: 512, height: 384, channels: 3, background: { r: 0, g: 0, b: 0 }, noise } })
      .jpeg({ quality: 90, optimiseCoding: true })
      .toBuffer();
    for (const scale of [1, 8] as const) {
      const first = new Uint8Array(jpg);
      const a = decodeJpeg(first, scale);
      first.fill(0); // a table that still read the file's bytes would now see zeros
      const b = decodeJpeg(new Uint8Array(jpg), scale);
      if (!a || !b) throw new Error('decoder declined a baseline file');
      expect(Buffer.from(b.data).equals(Buffer.from(a.data))).toBe(true);
    }
  });

  test('tables are told apart by their values, not only their code lengths', async () => {
    const jpg = new Uint8Array(
      await sharp({ create: { width: 256, height: 192, channels: 3, background: { r: 0, g: 0, b: 0 }, noise: { type: 'gaussian', mean: 128, sigma: 40 } } })
        .jpeg({ quality: 90, optimiseCoding: false })
        .toBuffer(),
    );
    // The same file with two symbols of the first AC table swapped (same counts, other values).
    const swapped = jpg.slice();
    let p = 2;
    while (!(swapped[p] === 0xff && swapped[p + 1] === 0xc4 && swapped[p + 4] >> 4 === 1)) p += 2 + ((swapped[p + 2] << 8) | swapped[p + 3]);
    const values = p + 5 + 16;
    [swapped[values], swapped[values + 1]] = [swapped[values + 1]!, swapped[values]!];
    for (const scale of [1, 8] as const) {
      const a = decodeJpeg(jpg, scale);
      if (!a) throw new Error('decoder declined a baseline file');
      let b: Uint8Array | null = null;
      try {
        b = decodeJpeg(swapped, scale)?.data ?? null;
      } catch (err) {
        expect(err).toBeInstanceOf(JpegDataError); // also not the first file's table
      }
      if (b) expect(Buffer.from(b).equals(Buffer.from(a.data))).toBe(false);
    }
  });
});

describe('restart markers (fixtures: lossless jpegtran rewrites, see test/fixtures/jpeg-restart/README.md)', () => {
  const dir = path.join(REPO_ROOT, 'test/fixtures/jpeg-restart');
  const read = (f: string): Uint8Array => new Uint8Array(readFileSync(path.join(dir, f)));
  test.each([
    ['rst-rows-420.jpg', 'base-420.jpg'],
    ['rst-3mcu-420.jpg', 'base-420.jpg'],
    ['rst-2mcu-420-noninterleaved.jpg', 'base-420.jpg'],
    ['rst-5mcu-gray.jpg', 'base-gray.jpg'],
  ])('%s decodes to the same pixels as %s at every scale', (withRst, base) => {
    for (const scale of [1, 2, 4, 8] as const) {
      const a = decodeJpeg(read(withRst), scale);
      const b = decodeJpeg(read(base), scale);
      if (!a || !b) throw new Error('decoder declined a baseline file');
      expect([a.width, a.height]).toEqual([b.width, b.height]);
      expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(true);
    }
  });
});

describe('damaged entropy data', () => {
  /** A 2048×1536 photo-like JPEG: big enough for the 1/8 (DC-only) path. Made once for both tests. */
  let made: Promise<Uint8Array> | undefined;
  const bigJpeg = (): Promise<Uint8Array> => (made ??= makeBigJpeg());
  async function makeBigJpeg(): Promise<Uint8Array> {
    const noise = { type: 'gaussian', mean: 128, sigma: 40 } as const;
    return new Uint8Array(await sharp({ create: { width: 2048, height: 1536, channels: 3, background: { r: 0, g: 0, b: 0 }, noise } }).jpeg({ quality: 90 }).toBuffer());
  }

  test('a cut file throws "file is truncated" at every scale, including the DC-only path', async () => {
    const jpg = await bigJpeg();
    const cut = jpg.subarray(0, Math.floor(jpg.length * 0.6));
    for (const scale of [1, 2, 4, 8] as const) expect(() => decodeJpeg(cut, scale)).toThrow(new JpegDataError('file is truncated'));
  });

  test('flipped bytes give pixels or a JpegDataError, never another exception', async () => {
    const jpg = await bigJpeg();
    const next = rng(9);
    for (let trial = 0; trial < 6; trial++) {
      const bad = jpg.slice();
      // Past the headers (~600 bytes), inside the entropy-coded data.
      for (let i = 0; i < 40; i++) bad[1000 + Math.floor(next() * (bad.length - 1000))] ^= 1 + Math.floor(next() * 255);
      for (const scale of [1, 8] as const) {
        try {
          const img = decodeJpeg(bad, scale);
          if (img) expect(img.data.length).toBe(img.width * img.height * 3);
        } catch (err) {
          expect(err).toBeInstanceOf(JpegDataError);
        }
      }
    }
  });
});

describe('YCCK (Adobe transform 2)', () => {
  /** The marker segments of a JPEG up to its first scan's data: [marker, segment bytes incl. length]. */
  function segments(jpg: Uint8Array): { segs: Array<[number, Uint8Array]>; scanData: Uint8Array } {
    const segs: Array<[number, Uint8Array]> = [];
    let p = 2;
    for (;;) {
      const m = jpg[p + 1]!;
      const len = (jpg[p + 2]! << 8) | jpg[p + 3]!;
      segs.push([m, jpg.slice(p + 2, p + 2 + len)]);
      p += 2 + len;
      if (m === 0xda) break;
    }
    // Entropy-coded data runs to the next marker that is not stuffing or RST (here: EOI).
    let e = p;
    while (!(jpg[e] === 0xff && jpg[e + 1] !== 0 && (jpg[e + 1]! < 0xd0 || jpg[e + 1]! > 0xd7))) e++;
    return { segs, scanData: jpg.slice(p, e) };
  }

  const seg = (marker: number, body: number[] | Uint8Array): number[] => [0xff, marker, ((body.length + 2) >> 8) & 255, (body.length + 2) & 255, ...body];

  /**
   * A 4-component YCCK file spliced from two sharp JPEGs at the marker level: the Y/Cb/Cr scan of a
   * 4:4:4 colour JPEG and, as the K component, the scan of a greyscale JPEG (its tables moved two
   * slots up, SOF1 so that four Huffman tables are allowed), under an Adobe marker saying transform 2.
   */
  function spliceYcck(colour: Uint8Array, grey: Uint8Array): Uint8Array {
    const a = segments(colour);
    const b = segments(grey);
    const out: number[] = [0xff, 0xd8];
    out.push(...seg(0xee, [0x41, 0x64, 0x6f, 0x62, 0x65, 0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0x02]));
    for (const [m, s] of a.segs) if (m === 0xdb || m === 0xc4) out.push(0xff, m, ...s);
    for (const [m, s] of b.segs) {
      if (m !== 0xdb && m !== 0xc4) continue;
      const body = s.slice(2);
      // Every table in the segment moves from id t to t + 2 (first byte: precision|id or class|id).
      for (let q = 0; q < body.length; ) {
        if ((body[q]! & 15) > 1) throw new Error('expected tables with ids 0 and 1');
        body[q] = body[q]! + 2;
        if (m === 0xdb) q += 1 + (body[q]! >> 4 ? 128 : 64);
        else q += 17 + body.subarray(q + 1, q + 17).reduce((x, y) => x + y, 0);
      }
      out.push(...seg(m, body));
    }
    const sof = a.segs.find(([m]) => m === 0xc0)![1].slice(2);
    if (sof[5] !== 3 || sof[7] !== 0x11) throw new Error('expected a 4:4:4 colour JPEG');
    const greySof = b.segs.find(([m]) => m === 0xc0)![1].slice(2);
    if (greySof[5] !== 1) throw new Error('expected a one-component greyscale JPEG');
    out.push(...seg(0xc1, [...sof.slice(0, 5), 4, ...sof.slice(6, 15), 4, 0x11, greySof[8]! + 2]));
    out.push(0xff, 0xda, ...a.segs.at(-1)![1], ...a.scanData);
    const sos = b.segs.at(-1)![1].slice(2);
    out.push(...seg(0xda, [1, 4, sos[2]! + 0x22, ...sos.slice(3)]), ...b.scanData);
    out.push(0xff, 0xd9);
    return new Uint8Array(out);
  }

  test('decodes to (255 − C)·K/255 per channel from the colour and K scans, as libjpeg-turbo and PIL do (checked against libjpeg decoding each)', async () => {
    const src = sharp(path.join(PHOTOS_DIR, 'chelsea.png')).removeAlpha().resize(160, 120);
    const colour = await src.clone().jpeg({ quality: 92, chromaSubsampling: '4:4:4', optimiseCoding: false }).toBuffer();
    const grey = await src.clone().flop().toColourspace('b-w').jpeg({ quality: 92, optimiseCoding: false }).toBuffer();
    const ycck = spliceYcck(new Uint8Array(colour), new Uint8Array(grey));
    const ours = decodeJpeg(ycck, 1);
    if (!ours) throw new Error('decoder declined the YCCK file');
    const rgb = await sharp(colour).raw().toBuffer();
    const k = await sharp(grey).toColourspace('b-w').raw().toBuffer();
    expect([ours.width, ours.height]).toEqual([160, 120]);
    expect(k.length).toBe(160 * 120);
    let sum = 0;
    let max = 0;
    for (let i = 0; i < rgb.length; i++) {
      // YCCK carries YCC of 255 − C (libjpeg's ycck_cmyk_convert): the colour scan decodes to 255 − stored C.
      const d = Math.abs(ours.data[i]! - Math.round(((255 - rgb[i]!) * k[Math.floor(i / 3)]!) / 255));
      sum += d;
      max = Math.max(max, d);
    }
    // libjpeg's islow IDCT and colour rounding against ours: the same small differences as for RGB files.
    expect(sum / rgb.length).toBeLessThan(0.2);
    expect(max).toBeLessThanOrEqual(3);
  });
});

describe('scan headers naming tables that do not exist', () => {
  test('a sequential scan with Ss ≠ 0 and an undefined DC table is a JpegDataError, not a TypeError (found by npm run fuzz)', async () => {
    const jpg = new Uint8Array(await sharp({ create: { width: 32, height: 24, channels: 3, background: { r: 90, g: 90, b: 90 } } }).toColourspace('b-w').jpeg({ quality: 80 }).toBuffer());
    let p = 2;
    while (!(jpg[p] === 0xff && jpg[p + 1] === 0xda)) p += 2 + ((jpg[p + 2]! << 8) | jpg[p + 3]!);
    // SOS: length(2), Ns=1, component id, tables (DC<<4 | AC), Ss, Se, Ah/Al.
    expect(jpg[p + 4]).toBe(1);
    jpg[p + 6] = 0x10; // DC table 1: never defined in a one-component file
    jpg[p + 7] = 1; // Ss = 1, meaningless in a sequential scan
    for (const scale of [1, 8] as const) expect(() => decodeJpeg(jpg, scale)).toThrow(new JpegDataError('scan uses an undefined Huffman table'));
  });
});
