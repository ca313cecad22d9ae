/**
 * Damage on which jimp's GIF (omggif) and TIFF (utif2) decoders never return, found by
 * `npm run fuzz`: each is rejected as CORRUPT_IMAGE by core/third-party-guards.ts before those
 * decoders run (without the guard, each test here hangs until Jest's timeout), and the
 * undamaged file still decodes.
 */
import sharp from 'sharp';

import { decodeImage } from '../../core/decode.js';
import { CorruptImageError } from '../../core/errors.js';

const W = 40;
const H = 30;
function pixels(): Buffer {
  const rgb = Buffer.alloc(W * H * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 37 + (i >> 5)) & 255;
  return rgb;
}
const image = () => sharp(pixels(), { raw: { width: W, height: H, channels: 3 } });

/** The offset of each entry of a little-endian TIFF's first IFD, by tag. */
function ifdEntries(t: Buffer): Map<number, number> {
  const ifd = t.readUInt32LE(4);
  const m = new Map<number, number>();
  for (let i = 0; i < t.readUInt16LE(ifd); i++) m.set(t.readUInt16LE(ifd + 2 + i * 12), ifd + 2 + i * 12);
  return m;
}

async function expectCorrupt(bytes: Uint8Array, reason: RegExp): Promise<void> {
  const err = await decodeImage(bytes).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(CorruptImageError);
  expect((err as Error).message).toMatch(reason);
}

describe('GIF: LZW codes past the table', () => {
  test('a first-frame code beyond the next table entry is CORRUPT_IMAGE; the intact file decodes', async () => {
    const gif = await image().gif().toBuffer();
    expect((await decodeImage(gif)).width).toBe(W);
    // Find the image descriptor (0x2C) after the header and palette, then its LZW data.
    const flags = gif[10]!;
    let p = 13 + (flags & 0x80 ? 3 << ((flags & 7) + 1) : 0);
    while (gif[p] === 0x21) {
      p += 2;
      while (gif[p] !== 0) p += gif[p]! + 1;
      p++;
    }
    expect(gif[p]).toBe(0x2c);
    const lzw = p + 10 + (gif[p + 9]! & 0x80 ? 3 << ((gif[p + 9]! & 7) + 1) : 0);
    const bad = Buffer.from(gif);
    bad[lzw] = gif[lzw]! - 1; // a smaller minimum code size: the same bits now name codes not yet defined
    await expectCorrupt(bad, /LZW code \d+ before table entry \d+ exists/);
  });

  test('a first frame larger than the logical screen is CORRUPT_IMAGE', async () => {
    const gif = Buffer.from(await image().gif().toBuffer());
    const flags = gif[10]!;
    let p = 13 + (flags & 0x80 ? 3 << ((flags & 7) + 1) : 0);
    while (gif[p] === 0x21) {
      p += 2;
      while (gif[p] !== 0) p += gif[p]! + 1;
      p++;
    }
    gif.writeUInt16LE(65534, p + 5);
    gif.writeUInt16LE(32768, p + 7);
    await expectCorrupt(gif, /first frame \(65534x32768 at 0,0\) lies outside the 40x30 screen/);
  });
});

describe('TIFF: damage utif2 never returns from', () => {
  let lzw: Buffer;
  let none: Buffer;
  beforeAll(async () => {
    lzw = await image().tiff({ compression: 'lzw' }).toBuffer();
    none = await image().tiff({ compression: 'none' }).toBuffer();
  });

  test('the intact files decode', async () => {
    for (const t of [lzw, none]) expect((await decodeImage(t)).height).toBe(H);
  });

  test('StripOffsets with more entries than StripByteCounts', async () => {
    const bad = Buffer.from(none);
    const e = ifdEntries(bad).get(273)!;
    bad.writeUInt16LE(4, e + 2); // LONG
    bad.writeUInt32LE(9, e + 4); // nine offsets, read from the image data
    bad.writeUInt32LE(8, e + 8);
    await expectCorrupt(bad, /9 offsets but 1 byte counts/);
  });

  test('a tag whose value count runs past the end of the file', async () => {
    const bad = Buffer.from(none);
    bad.writeUInt32LE(0x7fffffff, ifdEntries(bad).get(283)! + 4); // YResolution: 2^31 RATIONALs
    await expectCorrupt(bad, /tag 283 has 2147483647 values/);
  });

  test('CCITT compression on an RGB image', async () => {
    const bad = Buffer.from(none);
    bad.writeUInt16LE(2, ifdEntries(bad).get(259)! + 8);
    await expectCorrupt(bad, /CCITT compression 2/);
  });

  test('BitsPerSample stored as LONG (hundreds of thousands of bits)', async () => {
    const bad = Buffer.from(none);
    bad.writeUInt16LE(4, ifdEntries(bad).get(258)! + 2);
    await expectCorrupt(bad, /bits per sample/);
  });

  test('an LZW strip starting two bytes early', async () => {
    const bad = Buffer.from(lzw);
    const e = ifdEntries(bad).get(273)!;
    expect(bad.readUInt32LE(e + 4)).toBe(1);
    bad.writeUInt32LE(bad.readUInt32LE(e + 8) - 2, e + 8);
    await expectCorrupt(bad, /LZW code/);
  });
});
