/**
 * Bytes → upright 8-bit RGB. The format comes from magic bytes (never a file name); sizes come
 * from the header, checked against a pixel limit before any pixel buffer exists. JPEGs go
 * through the project's scaled DCT decoder ({@link decodeJpeg}), which is ~20× faster than
 * jimp on large photos because it decodes at 1/2, 1/4 or 1/8 size when the caller's
 * `minShortSide` allows; everything else, and any JPEG feature that decoder lacks, goes
 * through jimp's per-format decoders. Alpha is dropped (not composited), as PIL's
 * `convert('RGB')` and torchvision's loaders do, so tensors match the zoo's reference pipeline.
 */
import {
  CorruptImageError,
  EmptyInputError,
  ImageTooLargeError,
  ImageTooSmallError,
  InvalidArgumentError,
  ResnetError,
  UnsupportedFormatError,
} from './errors.js';
import { decodeJpeg, JpegDataError } from './jpeg-decoder/index.js';
import type { ScaledRgbImage } from './preprocess.js';
import { guardThirdPartyDecode } from './third-party-guards.js';
import type { ImageFormat, ImageInfo, RgbImage } from './types.js';

/** Options for {@link decodeImage}. */
export interface DecodeOptions {
  /** Largest width×height accepted, checked from the header. @default 100e6, or env RESNET_MAX_PIXELS */
  maxPixels?: number;
  /**
   * Smallest short side (pixels, after decoding) the caller needs. When set, JPEGs are decoded at
   * the smallest DCT scale (1/1, 1/2, 1/4, 1/8) that keeps the short side at or above it.
   * @default undefined (full size)
   */
  minShortSide?: number;
}

/** Default pixel limit when neither the option nor RESNET_MAX_PIXELS is given. */
export const DEFAULT_MAX_PIXELS = 100e6;

/** The pixel limit in force: RESNET_MAX_PIXELS when set, else {@link DEFAULT_MAX_PIXELS}. */
export function defaultMaxPixels(): number {
  const env = process.env.RESNET_MAX_PIXELS;
  if (env === undefined || env.trim() === '') return DEFAULT_MAX_PIXELS;
  const n = Number(env);
  if (!Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError(`RESNET_MAX_PIXELS must be a positive number of pixels, got "${env}".`);
  }
  return n;
}

const FORMAT_NAMES: Record<ImageFormat, string> = { jpeg: 'JPEG', png: 'PNG', bmp: 'BMP', gif: 'GIF', tiff: 'TIFF' };

const startsWith = (b: Uint8Array, sig: readonly number[], at = 0): boolean =>
  b.length >= at + sig.length && sig.every((v, i) => b[at + i] === v);
const ascii = (b: Uint8Array, from: number, to: number): string => String.fromCharCode(...b.subarray(from, Math.min(to, b.length)));

/** Names the format from magic bytes, or throws UnsupportedFormatError saying what the bytes look like. */
function sniff(b: Uint8Array): ImageFormat {
  if (b.length === 0) throw new EmptyInputError();
  if (startsWith(b, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (ascii(b, 0, 6) === 'GIF87a' || ascii(b, 0, 6) === 'GIF89a') return 'gif';
  if (startsWith(b, [0x42, 0x4d]) && b.length >= 26) return 'bmp';
  if (startsWith(b, [0x49, 0x49, 0x2a, 0x00]) || startsWith(b, [0x4d, 0x4d, 0x00, 0x2a])) return 'tiff';
  let what: string;
  if (ascii(b, 0, 5) === '%PDF-') what = 'a PDF document';
  else if (ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP') what = 'WebP';
  else if (ascii(b, 4, 8) === 'ftyp') what = `ISO media "${ascii(b, 8, 12)}" (HEIC/AVIF/MP4)`;
  else if (startsWith(b, [0x50, 0x4b, 0x03, 0x04])) what = 'a ZIP archive';
  else if (b.subarray(0, 512).every((c) => c === 9 || c === 10 || c === 13 || (c >= 32 && c < 127) || c >= 0x80)) what = 'text';
  else what = `unknown signature ${Array.from(b.subarray(0, 4), (c) => c.toString(16).padStart(2, '0')).join(' ')}`;
  throw new UnsupportedFormatError(what);
}

/** Minimal bounds-checked reader: a header that runs past the end is a corrupt file. */
class Reader {
  constructor(
    readonly b: Uint8Array,
    readonly format: string,
    readonly little = false,
  ) {}
  private need(p: number, n: number): void {
    if (p < 0 || p + n > this.b.length) throw new CorruptImageError(this.format, new Error('header is truncated'));
  }
  u8(p: number): number {
    this.need(p, 1);
    return this.b[p];
  }
  u16(p: number): number {
    this.need(p, 2);
    return this.little ? this.b[p] | (this.b[p + 1] << 8) : (this.b[p] << 8) | this.b[p + 1];
  }
  u32(p: number): number {
    this.need(p, 4);
    const [a, b, c, d] = this.little ? [this.b[p + 3], this.b[p + 2], this.b[p + 1], this.b[p]] : [this.b[p], this.b[p + 1], this.b[p + 2], this.b[p + 3]];
    return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
  }
  i32(p: number): number {
    return this.u32(p) | 0;
  }
}

/** Reads tags 256/257/274 (width, height, orientation) of a TIFF structure's first IFD. */
function readTiffIfd0(b: Uint8Array, format: string): { width: number; height: number; orientation: number } {
  const little = b[0] === 0x49;
  const r = new Reader(b, format, little);
  const ifd = r.u32(4);
  const n = r.u16(ifd);
  let width = 0;
  let height = 0;
  let orientation = 1;
  for (let i = 0; i < n; i++) {
    const e = ifd + 2 + i * 12;
    const tag = r.u16(e);
    const type = r.u16(e + 2);
    const value = type === 3 ? r.u16(e + 8) : r.u32(e + 8);
    if (tag === 256) width = value;
    else if (tag === 257) height = value;
    else if (tag === 274) orientation = value;
  }
  return { width, height, orientation: orientation >= 1 && orientation <= 8 ? orientation : 1 };
}

/** EXIF orientation from an "Exif\0\0" payload; 1 when absent or unreadable (EXIF is optional metadata). */
function exifOrientation(payload: Uint8Array): number {
  try {
    return readTiffIfd0(payload, 'EXIF').orientation;
  } catch {
    return 1;
  }
}

function probeJpeg(b: Uint8Array): ImageInfo {
  const r = new Reader(b, 'JPEG');
  let p = 2;
  let orientation = 1;
  for (;;) {
    if (r.u8(p) !== 0xff) throw new CorruptImageError('JPEG', new Error(`expected a marker at byte ${p}`));
    while (r.u8(p) === 0xff) p++;
    const m = r.u8(p++);
    if (m === 0xd8 || (m >= 0xd0 && m <= 0xd7) || m === 0x01) continue;
    if (m === 0xd9 || m === 0xda) throw new CorruptImageError('JPEG', new Error('no frame header before the image data'));
    const len = r.u16(p);
    if (m === 0xe1 && len >= 8 && ascii(b, p + 2, p + 8) === 'Exif\0\0') {
      orientation = exifOrientation(b.subarray(p + 8, p + len));
    }
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      return { format: 'jpeg', height: r.u16(p + 3), width: r.u16(p + 5), orientation };
    }
    p += len;
  }
}

function probePng(b: Uint8Array): ImageInfo {
  const r = new Reader(b, 'PNG');
  if (ascii(b, 12, 16) !== 'IHDR') throw new CorruptImageError('PNG', new Error('first chunk is not IHDR'));
  const width = r.u32(16);
  const height = r.u32(20);
  let orientation = 1;
  // PNG 1.5 allows EXIF in an eXIf chunk before the image data.
  let p = 8;
  while (p + 8 <= b.length) {
    const len = r.u32(p);
    const type = ascii(b, p + 4, p + 8);
    if (type === 'IDAT' || type === 'IEND') break;
    if (type === 'eXIf' && p + 8 + len <= b.length) orientation = exifOrientation(b.subarray(p + 8, p + 8 + len));
    p += 12 + len;
  }
  return { format: 'png', width, height, orientation };
}

function probeBmp(b: Uint8Array): ImageInfo {
  const r = new Reader(b, 'BMP', true);
  const dib = r.u32(14);
  if (dib === 12) return { format: 'bmp', width: r.u16(18), height: r.u16(20), orientation: 1 };
  if (dib < 40) throw new CorruptImageError('BMP', new Error(`unknown header size ${dib}`));
  return { format: 'bmp', width: Math.abs(r.i32(18)), height: Math.abs(r.i32(22)), orientation: 1 };
}

/**
 * Reads format, size and EXIF orientation from the header, without decoding pixels.
 * @throws EmptyInputError for 0 bytes, UnsupportedFormatError when no supported signature matches,
 *   CorruptImageError when the header is truncated or malformed
 */
export function probeImage(bytes: Uint8Array): ImageInfo {
  const format = sniff(bytes);
  switch (format) {
    case 'jpeg':
      return probeJpeg(bytes);
    case 'png':
      return probePng(bytes);
    case 'gif': {
      const r = new Reader(bytes, 'GIF', true);
      return { format, width: r.u16(6), height: r.u16(8), orientation: 1 };
    }
    case 'bmp':
      return probeBmp(bytes);
    case 'tiff':
      return { format, ...readTiffIfd0(bytes, 'TIFF') };
  }
}

/**
 * Returns the image as it should be displayed given EXIF orientation `o` (1..8), as PIL's
 * `ImageOps.exif_transpose` does: 2 mirror, 3 rotate 180°, 4 flip, 5 transpose, 6 rotate 90° CW,
 * 7 transverse, 8 rotate 90° CCW. Orientation 1 (or anything invalid) returns `img` unchanged.
 */
export function applyOrientation(img: RgbImage, o: number): RgbImage {
  if (!(o >= 2 && o <= 8)) return img;
  const { width: w, height: h, data: src } = img;
  const swap = o >= 5;
  const ow = swap ? h : w;
  const oh = swap ? w : h;
  const out = new Uint8Array(src.length);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      let sx: number;
      let sy: number;
      switch (o) {
        case 2: sx = w - 1 - x; sy = y; break;
        case 3: sx = w - 1 - x; sy = h - 1 - y; break;
        case 4: sx = x; sy = h - 1 - y; break;
        case 5: sx = y; sy = x; break;
        case 6: sx = y; sy = h - 1 - x; break;
        case 7: sx = w - 1 - y; sy = h - 1 - x; break;
        default: sx = w - 1 - y; sy = x; break; // 8
      }
      const s = (sy * w + sx) * 3;
      const d = (y * ow + x) * 3;
      out[d] = src[s];
      out[d + 1] = src[s + 1];
      out[d + 2] = src[s + 2];
    }
  }
  return { width: ow, height: oh, data: out };
}

const JIMP_MIME: Record<ImageFormat, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  bmp: 'image/bmp',
  gif: 'image/gif',
  tiff: 'image/tiff',
};

/** Decodes through jimp's format plugin (not `Jimp.read`, which would apply EXIF a second time). */
async function decodeWithJimp(bytes: Uint8Array, info: ImageInfo): Promise<RgbImage> {
  // Loaded on first use: JPEGs (nearly every request) never need it, and its dozen packages
  // (~500 KiB of a Lambda bundle) would otherwise be evaluated in every cold start's init.
  const { defaultFormats } = await import('jimp');
  const plugin = defaultFormats.map((f) => f()).find((f) => f.mime === JIMP_MIME[info.format]);
  if (!plugin) throw new UnsupportedFormatError(`no decoder for ${info.format}`);
  guardThirdPartyDecode(bytes, info.format);
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bmp = await plugin.decode(buf);
  const { width, height } = bmp;
  const rgba = bmp.data;
  if (!(width > 0 && height > 0) || rgba.length < width * height * 4) {
    throw new Error(`decoder returned ${width}x${height} with ${rgba.length} bytes`);
  }
  // RGBA → RGB in place: each write lands at or before the bytes still to be read, so the decoder's
  // buffer is reused instead of a second one of 3 bytes per pixel (294 MB at 98 MP) being allocated.
  const out = new Uint8Array(rgba.buffer, rgba.byteOffset, width * height * 3);
  for (let i = 0, j = 0; j < out.length; i += 4, j += 3) {
    out[j] = rgba[i];
    out[j + 1] = rgba[i + 1];
    out[j + 2] = rgba[i + 2];
  }
  return { width, height, data: out };
}

/** Largest DCT scale denominator keeping both sides ≥ minShortSide. */
function jpegScale(info: ImageInfo, minShortSide: number | undefined): 1 | 2 | 4 | 8 {
  if (minShortSide === undefined || !(minShortSide > 0)) return 1;
  for (const s of [8, 4, 2] as const) {
    if (Math.min(Math.ceil(info.width / s), Math.ceil(info.height / s)) >= minShortSide) return s;
  }
  return 1;
}

/**
 * Decodes an image to upright 8-bit RGB (EXIF orientation applied, alpha dropped, palette,
 * grey and 16-bit samples expanded to 8-bit RGB; GIF: first frame). A JPEG decoded at reduced
 * scale (see `minShortSide`) is returned as a {@link ScaledRgbImage} whose logical size lets
 * `preprocess` keep the original's exact geometry.
 * @param bytes the file's bytes; the format is detected from magic bytes
 * @param opts pixel limit and the reduced-scale hint; see {@link DecodeOptions}
 * @throws EmptyInputError, UnsupportedFormatError, ImageTooLargeError (before decoding),
 *   ImageTooSmallError (a zero side), CorruptImageError (truncated or corrupt data)
 */
export async function decodeImage(bytes: Uint8Array, opts: DecodeOptions = {}): Promise<RgbImage> {
  const info = probeImage(bytes);
  const maxPixels = opts.maxPixels ?? defaultMaxPixels();
  if (info.width === 0 || info.height === 0) throw new ImageTooSmallError(info.width, info.height);
  if (info.width * info.height > maxPixels) throw new ImageTooLargeError(info.width, info.height, maxPixels);
  const name = FORMAT_NAMES[info.format];
  let img: RgbImage | null = null;
  let scale = 1;
  try {
    if (info.format === 'jpeg') {
      scale = jpegScale(info, opts.minShortSide);
      img = decodeJpeg(bytes, scale as 1 | 2 | 4 | 8);
    }
    if (!img) {
      scale = 1;
      img = await decodeWithJimp(bytes, info).catch((err: unknown) => {
        // The project's decoder declined a coding mode (arithmetic, lossless, hierarchical, 12-bit)
        // and jimp's baseline decoder cannot read it either: an unsupported file, not a corrupt one.
        if (info.format === 'jpeg' && !(err instanceof ResnetError)) {
          throw new UnsupportedFormatError(`a JPEG coding mode neither decoder reads (arithmetic, lossless, hierarchical or 12-bit): ${err instanceof Error ? err.message : String(err)}`);
        }
        throw err;
      });
    }
  } catch (err) {
    if (err instanceof ResnetError) throw err;
    if (err instanceof JpegDataError || err instanceof Error) throw new CorruptImageError(name, err);
    throw new CorruptImageError(name, new Error(String(err)));
  }
  const upright = applyOrientation({ width: img.width, height: img.height, data: img.data }, info.orientation);
  if (scale === 1) return upright;
  const swap = info.orientation >= 5 && info.orientation <= 8;
  const scaled: ScaledRgbImage = {
    ...upright,
    logicalWidth: (swap ? info.height : info.width) / scale,
    logicalHeight: (swap ? info.width : info.height) / scale,
  };
  return scaled;
}
