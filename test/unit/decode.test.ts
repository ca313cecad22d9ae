import fs from 'node:fs';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import { Jimp } from 'jimp';
import sharp from 'sharp';
import { applyOrientation, decodeImage, defaultMaxPixels, probeImage } from '../../core/decode.js';
import {
  CorruptImageError,
  EmptyInputError,
  ImageTooLargeError,
  InvalidArgumentError,
  ResnetError,
  UnsupportedFormatError,
} from '../../core/errors.js';
import type { RgbImage } from '../../core/types.js';
import { PHOTOS_DIR } from '../helpers/paths.js';

const CAT = fs.readFileSync(path.join(PHOTOS_DIR, 'chelsea.jpg'));

/** 4 flat quadrants: red, green / blue, white (top row / bottom row). */
const QUAD: [number, number, number][] = [[220, 30, 30], [30, 200, 40], [40, 40, 210], [250, 250, 250]];
function quadImage(w: number, h: number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set(QUAD[(y < h / 2 ? 0 : 2) + (x < w / 2 ? 0 : 1)], (y * w + x) * 3);
  return { width: w, height: h, data };
}
const raw = (img: RgbImage) => sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 3 } });
const px = (img: RgbImage, x: number, y: number): number[] => Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));
function meanAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

function crc32(buf: Buffer): number {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}
function chunk(type: string, body: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  const tb = Buffer.concat([Buffer.from(type, 'ascii'), body]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(tb));
  return Buffer.concat([len, tb, crc]);
}
/** A PNG written by hand: IHDR says w×h, IDAT holds a few rows only (a "decompression bomb" header). */
function handPng(w: number, h: number, rows: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const idat = deflateSync(Buffer.alloc(rows * (1 + w * 3)), { level: 9 });
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
}

describe('bad input gives typed errors', () => {
  const pdf = Buffer.from('%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n');
  const text = Buffer.from('hello, this is a text file renamed to photo.jpg\n');
  const corruptHeader = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]), Buffer.alloc(20, 0x41)]);
  const truncated = CAT.subarray(0, Math.floor(CAT.length / 2));
  const headerOnly = CAT.subarray(0, 600);
  const png = handPng(8, 8, 8);
  const pngCorruptIdat = Buffer.from(png);
  pngCorruptIdat.fill(0x55, 41, 50); // inside the zlib stream
  const pngTruncated = png.subarray(0, 45);

  it.each([
    ['zero bytes', Buffer.alloc(0), EmptyInputError, 'EMPTY_INPUT'],
    ['a PDF renamed .jpg', pdf, UnsupportedFormatError, 'UNSUPPORTED_FORMAT'],
    ['a text file renamed .jpg', text, UnsupportedFormatError, 'UNSUPPORTED_FORMAT'],
    ['random bytes', Buffer.from([1, 2, 3, 4, 5, 250, 251, 0]), UnsupportedFormatError, 'UNSUPPORTED_FORMAT'],
    ['WebP', Buffer.from('RIFF\x10\x00\x00\x00WEBPVP8 ', 'latin1'), UnsupportedFormatError, 'UNSUPPORTED_FORMAT'],
    ['a JPEG cut in half', truncated, CorruptImageError, 'CORRUPT_IMAGE'],
    ['a JPEG cut inside its headers', headerOnly, CorruptImageError, 'CORRUPT_IMAGE'],
    ['a JPEG with garbage after SOI', corruptHeader, CorruptImageError, 'CORRUPT_IMAGE'],
    ['a PNG with corrupt IDAT', pngCorruptIdat, CorruptImageError, 'CORRUPT_IMAGE'],
    ['a truncated PNG', pngTruncated, CorruptImageError, 'CORRUPT_IMAGE'],
    ['a bare PNG signature', png.subarray(0, 10), CorruptImageError, 'CORRUPT_IMAGE'],
  ] as const)('%s', async (_name, bytes, cls, code) => {
    const err = await decodeImage(bytes).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(cls);
    expect(err).toBeInstanceOf(ResnetError);
    expect((err as ResnetError).code).toBe(code);
    expect((err as ResnetError).message.length).toBeGreaterThan(20);
  });

  it('names what a PDF is', async () => {
    await expect(decodeImage(pdf)).rejects.toThrow(/PDF/);
  });

  it('rejects a 30000×30000 PNG of a few KB from its header, before any pixel buffer exists', async () => {
    const bomb = handPng(30000, 30000, 2);
    expect(bomb.length).toBeLessThan(4096);
    expect(probeImage(bomb)).toMatchObject({ format: 'png', width: 30000, height: 30000 });
    // Its RGBA buffer would be 3.6 GB; any row buffer of it, 120 KB. A wall-clock bound
    // depends on the machine's load, memory does not.
    const before = process.memoryUsage().arrayBuffers;
    const err = await decodeImage(bomb).catch((e: unknown) => e);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024);
    expect(err).toBeInstanceOf(ImageTooLargeError);
    expect(err).toMatchObject({ code: 'IMAGE_TOO_LARGE', width: 30000, height: 30000, maxPixels: 100e6 });
  });

  it('rejects a JPEG whose SOF claims 60000×60000 before decoding', async () => {
    const big = Buffer.from(CAT);
    const sof = big.indexOf(Buffer.from([0xff, 0xc0]));
    big.writeUInt16BE(60000, sof + 5);
    big.writeUInt16BE(60000, sof + 7);
    await expect(decodeImage(big)).rejects.toBeInstanceOf(ImageTooLargeError);
  });

  it.each([
    ['option', { maxPixels: 451 * 300 - 1 }, undefined],
    ['RESNET_MAX_PIXELS', {}, '100000'],
  ])('honours a lower limit from the %s', async (_n, opts, env) => {
    const old = process.env.RESNET_MAX_PIXELS;
    if (env) process.env.RESNET_MAX_PIXELS = env;
    try {
      await expect(decodeImage(CAT, opts)).rejects.toBeInstanceOf(ImageTooLargeError);
    } finally {
      if (old === undefined) delete process.env.RESNET_MAX_PIXELS;
      else process.env.RESNET_MAX_PIXELS = old;
    }
  });

  it('says when RESNET_MAX_PIXELS is not a number', () => {
    process.env.RESNET_MAX_PIXELS = 'lots';
    try {
      expect(() => defaultMaxPixels()).toThrow(InvalidArgumentError);
    } finally {
      delete process.env.RESNET_MAX_PIXELS;
    }
  });
});

describe('formats', () => {
  const src = quadImage(64, 48);

  it.each([
    ['PNG 8-bit RGB', () => raw(src).png().toBuffer(), 'png', 0],
    ['PNG 16-bit', () => raw(src).toColourspace('rgb16').png().toBuffer(), 'png', 1],
    ['PNG palette', () => raw(src).png({ palette: true, colours: 16, dither: 0 }).toBuffer(), 'png', 1],
    ['PNG RGBA (alpha dropped)', () => raw(src).ensureAlpha(0.3).png().toBuffer(), 'png', 0],
    ['BMP (jimp writer)', async () => {
      const j = new Jimp({ width: src.width, height: src.height });
      for (let i = 0, k = 0; i < src.data.length; i += 3, k += 4) j.bitmap.data.set([src.data[i], src.data[i + 1], src.data[i + 2], 255], k);
      return j.getBuffer('image/bmp');
    }, 'bmp', 0],
    ['GIF', () => raw(src).gif().toBuffer(), 'gif', 1],
    ['TIFF', () => raw(src).tiff({ compression: 'lzw' }).toBuffer(), 'tiff', 0],
    ['JPEG baseline', () => raw(src).jpeg({ quality: 95 }).toBuffer(), 'jpeg', 3],
    ['JPEG progressive', () => raw(src).jpeg({ quality: 95, progressive: true }).toBuffer(), 'jpeg', 3],
    ['JPEG 4:4:4 with restart markers', () => raw(src).jpeg({ quality: 95, chromaSubsampling: '4:4:4', optimiseCoding: false }).toBuffer(), 'jpeg', 3],
  ] as const)('%s decodes to the source pixels', async (_name, make, format, tol) => {
    const bytes = await make();
    expect(probeImage(bytes)).toMatchObject({ format, width: 64, height: 48, orientation: 1 });
    const img = await decodeImage(bytes);
    expect([img.width, img.height, img.data.length]).toEqual([64, 48, 64 * 48 * 3]);
    expect(meanAbs(img.data, src.data)).toBeLessThanOrEqual(tol);
  });

  it('decodes a greyscale PNG to equal R=G=B', async () => {
    const bytes = await raw(src).greyscale().png().toBuffer();
    const img = await decodeImage(bytes);
    const [r, g, b] = px(img, 5, 5);
    expect(r).toBe(g);
    expect(g).toBe(b);
    expect(r).toBeGreaterThan(60);
    expect(r).toBeLessThan(125); // luma of (220,30,30)
  });

  it('decodes a greyscale JPEG', async () => {
    const img = await decodeImage(await raw(src).greyscale().jpeg().toBuffer());
    const [r, g, b] = px(img, 60, 40);
    expect([r, g, b]).toEqual([r, r, r]);
    expect(r).toBeGreaterThan(240);
  });

  it('decodes an Adobe CMYK JPEG with PIL\'s CMYK→RGB rule', async () => {
    const bytes = await raw(src).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer();
    expect((await sharp(bytes).metadata()).channels).toBe(4);
    const img = await decodeImage(bytes);
    // What Pillow 9.4 `Image.open(f).convert('RGB')` gives for this file (no ICC colour management).
    const pil = [[242, 11, 0], [118, 255, 1], [17, 52, 255], [249, 249, 249]];
    for (const [x, y, q] of [[10, 10, 0], [50, 10, 1], [10, 40, 2], [50, 40, 3]] as const) {
      expect(meanAbs(px(img, x, y), pil[q])).toBeLessThanOrEqual(3);
    }
  });

  it('decodes a real photo like libjpeg-turbo does', async () => {
    const img = await decodeImage(CAT);
    const ref = await sharp(CAT).raw().toBuffer();
    expect(meanAbs(img.data, ref)).toBeLessThan(0.5);
  });

  it('decodes a 1×1 image', async () => {
    const img = await decodeImage(await raw({ width: 1, height: 1, data: new Uint8Array([9, 99, 199]) }).png().toBuffer());
    expect(img).toEqual({ width: 1, height: 1, data: new Uint8Array([9, 99, 199]) });
  });

  it.each([
    [4000, 3000, 500, 375],
    [2048, 1536, 512, 384],
    [1400, 1050, 350, 263],
    [600, 400, 600, 400],
  ])('decodes a %p×%p JPEG at reduced scale to %p×%p when minShortSide is 256', async (w, h, ew, eh) => {
    const bytes = await sharp({ create: { width: w, height: h, channels: 3, background: { r: 10, g: 120, b: 230 } } }).jpeg().toBuffer();
    const img = await decodeImage(bytes, { minShortSide: 256 });
    expect([img.width, img.height]).toEqual([ew, eh]);
    expect(meanAbs(px(img, 3, 3), [10, 120, 230])).toBeLessThan(3);
    if (ew !== w) expect(img).toMatchObject({ logicalWidth: ew === w ? w : w / (w / ew), logicalHeight: h / (w / ew) });
  });
});

describe('EXIF orientation', () => {
  const stored = quadImage(64, 32);

  it.each([1, 2, 3, 4, 5, 6, 7, 8])('orientation %p is applied like an EXIF-aware viewer', async (o) => {
    const bytes = await raw(stored).jpeg({ quality: 95 }).withMetadata({ orientation: o }).toBuffer();
    expect(probeImage(bytes).orientation).toBe(o);
    const img = await decodeImage(bytes);
    const oracle = await sharp(bytes).rotate().raw().toBuffer({ resolveWithObject: true });
    expect([img.width, img.height]).toEqual([oracle.info.width, oracle.info.height]);
    expect([img.width, img.height]).toEqual(o >= 5 ? [32, 64] : [64, 32]);
    expect(meanAbs(img.data, oracle.data)).toBeLessThan(3);
    // Independent check of the layout: where does the stored top-left (red) quadrant end up?
    const redCorner: Record<number, [number, number]> = { 1: [0, 0], 2: [1, 0], 3: [1, 1], 4: [0, 1], 5: [0, 0], 6: [1, 0], 7: [1, 1], 8: [0, 1] };
    const [cx, cy] = redCorner[o];
    const got = px(img, cx ? img.width - 4 : 3, cy ? img.height - 4 : 3);
    expect(meanAbs(got, QUAD[0])).toBeLessThan(8);
  });

  it.each([5, 6, 7, 8])('orientation %p on a reduced-scale decode swaps the logical size too', async (o) => {
    const bytes = await sharp({ create: { width: 2100, height: 1400, channels: 3, background: '#808080' } }).jpeg().withMetadata({ orientation: o }).toBuffer();
    const img = await decodeImage(bytes, { minShortSide: 256 });
    expect(img).toMatchObject({ width: 350, height: 525, logicalWidth: 350, logicalHeight: 525 });
  });

  it('applyOrientation maps a 3×2 image exactly', () => {
    const img: RgbImage = { width: 3, height: 2, data: new Uint8Array([1, 0, 0, 2, 0, 0, 3, 0, 0, 4, 0, 0, 5, 0, 0, 6, 0, 0]) };
    const firsts = (o: number) => Array.from(applyOrientation(img, o).data.filter((_, i) => i % 3 === 0));
    expect(firsts(1)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(firsts(2)).toEqual([3, 2, 1, 6, 5, 4]);
    expect(firsts(3)).toEqual([6, 5, 4, 3, 2, 1]);
    expect(firsts(4)).toEqual([4, 5, 6, 1, 2, 3]);
    expect(firsts(5)).toEqual([1, 4, 2, 5, 3, 6]);
    expect(firsts(6)).toEqual([4, 1, 5, 2, 6, 3]);
    expect(firsts(7)).toEqual([6, 3, 5, 2, 4, 1]);
    expect(firsts(8)).toEqual([3, 6, 2, 5, 1, 4]);
  });
});

describe('robustness', () => {
  it('never throws anything but a typed error on mutated or cut JPEGs', async () => {
    let seed = 7;
    const rnd = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const prog = await sharp(CAT).jpeg({ progressive: true, quality: 80 }).toBuffer();
    const outcomes: Record<string, number> = {};
    for (const base of [CAT, prog]) {
      for (let i = 0; i < 40; i++) {
        const b = Buffer.from(base);
        for (let j = 0, n = 1 + Math.floor(rnd() * 8); j < n; j++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
        const bytes = rnd() < 0.3 ? b.subarray(0, Math.floor(rnd() * b.length)) : b;
        const r = await decodeImage(bytes, { minShortSide: 64 }).then(
          (img) => (img.data.length === img.width * img.height * 3 ? 'ok' : 'bad-size'),
          (e: unknown) => (e instanceof ResnetError ? e.code : `untyped: ${String(e)}`),
        );
        outcomes[r] = (outcomes[r] ?? 0) + 1;
      }
    }
    expect(Object.keys(outcomes).filter((k) => k !== 'ok' && k !== 'CORRUPT_IMAGE' && k !== 'UNSUPPORTED_FORMAT')).toEqual([]);
    expect(outcomes.CORRUPT_IMAGE).toBeGreaterThan(0);
  });
});

describe('JPEG coding modes neither decoder reads', () => {
  test('an arithmetic-coded frame (SOF9) is UNSUPPORTED_FORMAT, not CORRUPT_IMAGE', async () => {
    const jpg = new Uint8Array(await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 10, g: 120, b: 200 } } }).jpeg().toBuffer());
    let p = 2;
    while (!(jpg[p] === 0xff && jpg[p + 1] === 0xc0)) p += 2 + ((jpg[p + 2]! << 8) | jpg[p + 3]!);
    jpg[p + 1] = 0xc9; // SOF9: extended sequential, arithmetic coding
    const err = await decodeImage(jpg).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedFormatError);
    expect((err as Error).message).toMatch(/coding mode neither decoder reads/);
  });
});
