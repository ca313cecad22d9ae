/**
 * The fuzzer's seed corpus, built at run time from the photos committed in test/fixtures/photos
 * (or FUZZ_IMAGES), and variants made from them with sharp (a devDependency),
 * libjpeg-turbo's `cjpeg`/`jpegtran` when installed, and small hand-written encoders (BMP, and
 * header patches for what no local tool writes, such as 12-bit or YCCK JPEGs). A tool that is
 * missing only drops its variants; {@link CorpusReport.skipped} says which and why.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { photosDir } from '../fixtures.js';
import { deflateSync } from 'node:zlib';

import type { ImageFormat } from '../../core/types.js';

/** One seed: a name that says how it was made, and its bytes. */
export interface Seed {
  name: string;
  bytes: Uint8Array;
  /** Relative weight when picking seeds (expensive seeds such as bombs are picked less). @default 1 */
  weight?: number;
}

/** Seeds per format, and the variants that could not be made. */
export interface CorpusReport {
  seeds: Record<ImageFormat, Seed[]>;
  skipped: string[];
}

/** The formats the fuzzer drives through `decodeImage`. */
export const FUZZ_FORMATS: readonly ImageFormat[] = ['jpeg', 'png', 'gif', 'bmp', 'tiff'];

/** The photos the corpus is made from: FUZZ_IMAGES, else the repository's test/fixtures/photos. */
export function imagesDir(root?: string): string | undefined {
  const candidates = [process.env.FUZZ_IMAGES, photosDir(root)];
  return candidates.find((d): d is string => d !== undefined && d !== '' && existsSync(d));
}

type Sharp = typeof import('sharp');

async function loadSharp(): Promise<Sharp | undefined> {
  try {
    return (await import('sharp')).default;
  } catch {
    return undefined;
  }
}

function hasTool(name: string): boolean {
  return spawnSync(name, ['-version'], { stdio: 'ignore' }).error === undefined;
}

function runTool(cmd: string, args: string[], input: Uint8Array): Uint8Array | undefined {
  const r = spawnSync(cmd, args, { input, maxBuffer: 64 << 20 });
  return r.status === 0 && r.stdout.length > 0 ? new Uint8Array(r.stdout) : undefined;
}

/** A binary PPM (P6) of RGB pixels: cjpeg's input format. */
function ppm(width: number, height: number, rgb: Uint8Array): Uint8Array {
  const head = Buffer.from(`P6\n${width} ${height}\n255\n`, 'latin1');
  return Buffer.concat([head, rgb]);
}

/** A BMP of RGB pixels: 24-bit (bottom-up or top-down) or 8-bit with a palette of the first 256 colours seen. */
export function encodeBmp(width: number, height: number, rgb: Uint8Array, kind: '24' | '24-topdown' | '8'): Uint8Array {
  const bpp = kind === '8' ? 8 : 24;
  const rowBytes = (Math.ceil((width * bpp) / 8) + 3) & ~3;
  const paletteBytes = bpp === 8 ? 256 * 4 : 0;
  const offset = 14 + 40 + paletteBytes;
  const out = Buffer.alloc(offset + rowBytes * height);
  out.write('BM', 0, 'latin1');
  out.writeUInt32LE(out.length, 2);
  out.writeUInt32LE(offset, 10);
  out.writeUInt32LE(40, 14);
  out.writeInt32LE(width, 18);
  out.writeInt32LE(kind === '24-topdown' ? -height : height, 22);
  out.writeUInt16LE(1, 26);
  out.writeUInt16LE(bpp, 28);
  out.writeUInt32LE(rowBytes * height, 34);
  const palette = new Map<number, number>();
  if (bpp === 8) out.writeUInt32LE(256, 46);
  for (let y = 0; y < height; y++) {
    const row = offset + (kind === '24-topdown' ? y : height - 1 - y) * rowBytes;
    for (let x = 0; x < width; x++) {
      const s = (y * width + x) * 3;
      if (bpp === 24) {
        out[row + x * 3] = rgb[s + 2]!;
        out[row + x * 3 + 1] = rgb[s + 1]!;
        out[row + x * 3 + 2] = rgb[s]!;
      } else {
        // Quantised to 6×6×6 levels so any image fits 256 entries.
        const q = (v: number): number => Math.round((v / 255) * 5);
        const c = q(rgb[s]!) * 36 + q(rgb[s + 1]!) * 6 + q(rgb[s + 2]!);
        if (!palette.has(c)) {
          const i = 14 + 40 + c * 4;
          out[i] = Math.round((c % 6) * 51);
          out[i + 1] = Math.round((Math.floor(c / 6) % 6) * 51);
          out[i + 2] = Math.round(Math.floor(c / 36) * 51);
          palette.set(c, c);
        }
        out[row + x] = c;
      }
    }
  }
  return new Uint8Array(out);
}

/** Offsets of each marker segment of a JPEG up to its first SOS: [marker, offset of 0xFF, segment length]. */
export function jpegSegments(b: Uint8Array): { marker: number; at: number; len: number }[] {
  const out: { marker: number; at: number; len: number }[] = [];
  let p = 2;
  while (p + 4 <= b.length && b[p] === 0xff) {
    const marker = b[p + 1]!;
    const len = (b[p + 2]! << 8) | b[p + 3]!;
    out.push({ marker, at: p, len });
    if (marker === 0xda) break;
    p += 2 + len;
  }
  return out;
}

/** A copy of `jpg` with its SOF marker and sample precision replaced (headers of coding modes no local tool writes). */
function patchSof(jpg: Uint8Array, marker: number, precision: number): Uint8Array {
  const out = jpg.slice();
  const sof = jpegSegments(out).find((s) => s.marker >= 0xc0 && s.marker <= 0xc2);
  if (sof) {
    out[sof.at + 1] = marker;
    out[sof.at + 4] = precision;
  }
  return out;
}

/** A copy of a CMYK JPEG with its Adobe APP14 transform flag set to 2 (YCCK): the decoder then converts YCC→RGB first. */
function asYcck(jpg: Uint8Array): Uint8Array | undefined {
  const out = jpg.slice();
  const app14 = jpegSegments(out).find((s) => s.marker === 0xee && Buffer.from(out.subarray(s.at + 4, s.at + 9)).toString('latin1') === 'Adobe');
  if (!app14) return undefined;
  out[app14.at + 4 + 11] = 2;
  return out;
}

/** A PNG chunk with its CRC. */
export function pngChunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 as PNG computes it. */
export function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A greyscale PNG of `width`×`height` zeros: a few kB that inflate to width×height bytes (a decompression bomb when large). */
function zeroPng(width: number, height: number): Uint8Array {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // grey
  const raw = Buffer.alloc((width + 1) * height); // filter byte 0 + zero samples per row
  return new Uint8Array(Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(raw, { level: 9 })), pngChunk('IEND', new Uint8Array(0))]));
}

/** A PNG whose IHDR claims `width`×`height` over a 1×1 image's data (rejected from the header). */
function claimingPng(png: Uint8Array, width: number, height: number): Uint8Array {
  const out = Buffer.from(png);
  out.writeUInt32BE(width, 16);
  out.writeUInt32BE(height, 20);
  out.writeUInt32BE(crc32(out.subarray(12, 29)), 29);
  return new Uint8Array(out);
}

/** Options of {@link buildCorpus}. */
export interface CorpusOptions {
  /** Formats to build. @default all of {@link FUZZ_FORMATS} */
  formats?: readonly ImageFormat[];
  /** Folder of real photos (JPEG/PNG). @default {@link imagesDir} */
  images?: string;
  /** Include the full-size photos (slower inputs) and not only their reductions. @default true */
  fullSize?: boolean;
}

/**
 * Builds the seed corpus. Real photos come from `images`; every variant is made here from them or
 * from synthetic pixels, so nothing third-party is stored.
 */
export async function buildCorpus(opts: CorpusOptions = {}): Promise<CorpusReport> {
  const formats = new Set(opts.formats ?? FUZZ_FORMATS);
  const seeds: Record<ImageFormat, Seed[]> = { jpeg: [], png: [], gif: [], bmp: [], tiff: [] };
  const skipped: string[] = [];
  const add = (format: ImageFormat, name: string, bytes: Uint8Array | undefined, weight?: number): void => {
    if (!formats.has(format)) return;
    if (bytes === undefined || bytes.length === 0) skipped.push(`${format}:${name} (the tool produced nothing)`);
    else seeds[format].push({ name, bytes, ...(weight !== undefined ? { weight } : {}) });
  };

  const dir = opts.images ?? imagesDir();
  const photos = dir ? readdirSync(dir).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort() : [];
  if (!dir) skipped.push('real photos (no photos folder found; set FUZZ_IMAGES)');
  for (const f of photos) {
    const bytes = new Uint8Array(readFileSync(path.join(dir!, f)));
    if (/\.jpe?g$/i.test(f) && opts.fullSize !== false) add('jpeg', `photo:${f}`, bytes, 0.5);
    if (/\.png$/i.test(f) && opts.fullSize !== false) add('png', `photo:${f}`, bytes, 0.5);
  }

  const sharp = await loadSharp();
  if (!sharp) {
    skipped.push('sharp variants (sharp is not installed: npm ci installs it as a devDependency)');
    return { seeds, skipped };
  }
  // Small RGB sources: reductions of the photos plus a synthetic gradient with noise, and the odd shapes.
  const sources: { name: string; width: number; height: number; rgb: Uint8Array }[] = [];
  for (const f of photos.slice(0, 3)) {
    const { data, info } = await sharp(path.join(dir!, f)).removeAlpha().resize(96, 72, { fit: 'fill' }).raw().toBuffer({ resolveWithObject: true });
    sources.push({ name: f, width: info.width, height: info.height, rgb: new Uint8Array(data) });
  }
  const synthetic = (w: number, h: number): Uint8Array => {
    const rgb = new Uint8Array(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) rgb.set([(x * 255) / Math.max(1, w - 1), (y * 255) / Math.max(1, h - 1), ((x ^ y) * 37) & 255], (y * w + x) * 3);
    return rgb;
  };
  sources.push({ name: 'gradient', width: 80, height: 60, rgb: synthetic(80, 60) });
  const oneByOne = { name: '1x1', width: 1, height: 1, rgb: new Uint8Array([200, 30, 90]) };
  const tall = { name: '17x3001', width: 17, height: 3001, rgb: synthetic(17, 3001) };
  const raw = (s: { width: number; height: number; rgb: Uint8Array }) => sharp(Buffer.from(s.rgb), { raw: { width: s.width, height: s.height, channels: 3 } });
  const u8 = (b: Buffer): Uint8Array => new Uint8Array(b);

  for (const s of [...sources, oneByOne, tall]) {
    if (formats.has('jpeg')) {
      add('jpeg', `sharp:${s.name}:420`, u8(await raw(s).jpeg({ quality: 80, chromaSubsampling: '4:2:0' }).toBuffer()));
      add('jpeg', `sharp:${s.name}:444`, u8(await raw(s).jpeg({ quality: 90, chromaSubsampling: '4:4:4' }).toBuffer()));
      add('jpeg', `sharp:${s.name}:progressive`, u8(await raw(s).jpeg({ quality: 80, progressive: true }).toBuffer()));
      add('jpeg', `sharp:${s.name}:grey`, u8(await raw(s).toColourspace('b-w').jpeg({ quality: 80 }).toBuffer()));
    }
    if (formats.has('png')) {
      add('png', `sharp:${s.name}:rgb`, u8(await raw(s).png().toBuffer()));
      add('png', `sharp:${s.name}:palette`, u8(await raw(s).png({ palette: true, colours: 16 }).toBuffer()));
    }
    if (formats.has('gif')) add('gif', `sharp:${s.name}`, u8(await raw(s).gif().toBuffer()));
    if (formats.has('tiff')) add('tiff', `sharp:${s.name}:none`, u8(await raw(s).tiff({ compression: 'none' }).toBuffer()));
    if (formats.has('bmp')) {
      add('bmp', `bmp:${s.name}:24`, encodeBmp(s.width, s.height, s.rgb, '24'));
      add('bmp', `bmp:${s.name}:8`, encodeBmp(s.width, s.height, s.rgb, '8'));
    }
  }
  const base = sources[0] ?? sources[sources.length - 1]!;
  if (formats.has('jpeg')) {
    const cmyk = u8(await raw(base).toColourspace('cmyk').jpeg({ quality: 80 }).toBuffer());
    add('jpeg', 'sharp:cmyk', cmyk);
    add('jpeg', 'patched:ycck', asYcck(cmyk));
    const baseline = u8(await raw(base).jpeg({ quality: 80 }).toBuffer());
    add('jpeg', 'patched:12-bit-header', patchSof(baseline, 0xc1, 12));
    add('jpeg', 'patched:lossless-header', patchSof(baseline, 0xc3, 8));
    const rgbPpm = ppm(base.width, base.height, base.rgb);
    if (hasTool('cjpeg')) {
      add('jpeg', 'cjpeg:422', runTool('cjpeg', ['-sample', '2x1', '-quality', '85'], rgbPpm));
      add('jpeg', 'cjpeg:411', runTool('cjpeg', ['-sample', '4x1', '-quality', '85'], rgbPpm));
      add('jpeg', 'cjpeg:440', runTool('cjpeg', ['-sample', '1x2', '-quality', '85'], rgbPpm));
      add('jpeg', 'cjpeg:restart-1-row', runTool('cjpeg', ['-restart', '1', '-quality', '85'], rgbPpm));
      add('jpeg', 'cjpeg:restart-3-mcu', runTool('cjpeg', ['-restart', '3B', '-quality', '85'], rgbPpm));
      add('jpeg', 'cjpeg:arithmetic', runTool('cjpeg', ['-arithmetic', '-quality', '85'], rgbPpm));
      add('jpeg', 'cjpeg:progressive-arithmetic', runTool('cjpeg', ['-arithmetic', '-progressive'], rgbPpm));
      add('jpeg', 'cjpeg:optimize-progressive-restart', runTool('cjpeg', ['-optimize', '-progressive', '-restart', '2B'], rgbPpm));
      add('jpeg', 'cjpeg:rgb', runTool('cjpeg', ['-rgb', '-quality', '85'], rgbPpm));
      add('jpeg', 'cjpeg:grey-restart', runTool('cjpeg', ['-grayscale', '-restart', '1B'], rgbPpm));
      // 12-bit needs a libjpeg-turbo ≥ 3 cjpeg; older ones refuse -precision and the variant is skipped.
      add('jpeg', 'cjpeg:12-bit', runTool('cjpeg', ['-precision', '12'], rgbPpm));
    } else skipped.push('jpeg: cjpeg variants (4:2:2, 4:1:1, restart intervals, arithmetic, RGB, 12-bit): cjpeg is not installed (apt-get install libjpeg-turbo-progs)');
    if (hasTool('jpegtran')) {
      add('jpeg', 'jpegtran:cmyk-progressive', runTool('jpegtran', ['-progressive'], cmyk));
      add('jpeg', 'jpegtran:restart', runTool('jpegtran', ['-restart', '1'], baseline));
    } else skipped.push('jpeg: jpegtran variants: jpegtran is not installed');
  }
  if (formats.has('png')) {
    add('png', 'sharp:rgba', u8(await raw(base).ensureAlpha(0.5).png().toBuffer()));
    add('png', 'sharp:grey', u8(await raw(base).toColourspace('b-w').png().toBuffer()));
    add('png', 'sharp:16-bit', u8(await raw(base).toColourspace('rgb16').png().toBuffer()));
    add('png', 'sharp:interlaced', u8(await raw(base).png({ progressive: true }).toBuffer()));
    add('png', 'sharp:2-colour-palette', u8(await raw(base).png({ palette: true, colours: 2 }).toBuffer()));
    const tiny = seeds.png.find((s) => s.name === 'sharp:1x1:rgb');
    if (tiny) add('png', 'bomb:header-claims-65535x65535', claimingPng(tiny.bytes, 65535, 65535));
    // 4000×4000 zeros: 16 MP from ~16 kB (under the default pixel limit, so it decodes: bounded by maxPixels).
    add('png', 'bomb:zeros-4000x4000', zeroPng(4000, 4000), 0.02);
  }
  if (formats.has('tiff')) {
    add('tiff', 'sharp:lzw', u8(await raw(base).tiff({ compression: 'lzw' }).toBuffer()));
    add('tiff', 'sharp:deflate-predictor', u8(await raw(base).tiff({ compression: 'deflate', predictor: 'horizontal' }).toBuffer()));
    add('tiff', 'sharp:packbits', u8(await raw(base).tiff({ compression: 'packbits' }).toBuffer()));
    add('tiff', 'sharp:jpeg', u8(await raw(base).tiff({ compression: 'jpeg' }).toBuffer()));
    add('tiff', 'sharp:tiled', u8(await raw(base).tiff({ tile: true, tileWidth: 16, tileHeight: 16 }).toBuffer()));
    add('tiff', 'sharp:grey', u8(await raw(base).toColourspace('b-w').tiff().toBuffer()));
    add('tiff', 'sharp:ccitt-fax4', u8(await raw(base).toColourspace('b-w').tiff({ compression: 'ccittfax4', bitdepth: 1 }).toBuffer()));
    add('tiff', 'sharp:1-bit', u8(await raw(base).toColourspace('b-w').tiff({ bitdepth: 1 }).toBuffer()));
  }
  if (formats.has('bmp')) add('bmp', 'bmp:topdown', encodeBmp(base.width, base.height, base.rgb, '24-topdown'));
  return { seeds, skipped };
}
