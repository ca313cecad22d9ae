/**
 * Mutators: generic byte damage (flips, interesting values, inserts, deletes, duplicated runs,
 * truncation, splices from another seed) and structure-aware damage per format: JPEG segment
 * lengths, frame sizes (huge SOF dimensions), sampling factors, Huffman and quantisation tables,
 * scan headers and stray markers in entropy data; PNG chunk lengths, IHDR fields and palettes
 * (with the CRCs mended most of the time, so damage reaches the decoder and not only the CRC check);
 * GIF screen and frame descriptors and palettes; BMP header fields; TIFF IFD entries.
 */
import type { ImageFormat } from '../../core/types.js';
import { crc32, jpegSegments } from './corpus.js';
import type { Rng } from './rng.js';

/** Values that sit on boundaries of the fields they land in. */
const INTERESTING_8 = [0, 1, 2, 3, 4, 7, 8, 15, 16, 17, 63, 64, 127, 128, 255];
const INTERESTING_16 = [0, 1, 2, 8, 255, 256, 4096, 10000, 16383, 32767, 32768, 65534, 65535];
const INTERESTING_32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 65536, 100000, 1 << 24];

/** A field of a format's structure: where it starts and how many bytes it has (big- or little-endian). */
interface Field {
  at: number;
  size: 1 | 2 | 4;
  little?: boolean;
}

function writeField(b: Uint8Array, f: Field, v: number): void {
  if (f.at + f.size > b.length) return;
  for (let i = 0; i < f.size; i++) {
    const shift = 8 * (f.little ? i : f.size - 1 - i);
    b[f.at + i] = (v >>> shift) & 0xff;
  }
}

function readField(b: Uint8Array, f: Field): number {
  let v = 0;
  for (let i = 0; i < f.size; i++) v += b[f.at + i]! * 2 ** (8 * (f.little ? i : f.size - 1 - i));
  return v;
}

function interesting(rng: Rng, f: Field, b: Uint8Array): number {
  const cur = readField(b, f);
  switch (rng.int(4)) {
    case 0:
      return cur + rng.pick([-2, -1, 1, 2, 16]);
    case 1:
      return cur ^ (1 << rng.int(8 * f.size));
    default:
      return rng.pick(f.size === 1 ? INTERESTING_8 : f.size === 2 ? INTERESTING_16 : INTERESTING_32);
  }
}

/** Fields of a JPEG's marker segments and a handful of spots in its entropy data. */
function jpegFields(b: Uint8Array, rng: Rng): Field[] {
  const fields: Field[] = [];
  for (const s of jpegSegments(b)) {
    const body = s.at + 4;
    fields.push({ at: s.at + 1, size: 1 }, { at: s.at + 2, size: 2 });
    if (s.marker >= 0xc0 && s.marker <= 0xcf && s.marker !== 0xc4 && s.marker !== 0xc8 && s.marker !== 0xcc) {
      // precision, height, width, component count, then per component: id, sampling (h<<4|v), table.
      fields.push({ at: body, size: 1 }, { at: body + 1, size: 2 }, { at: body + 1, size: 2 }, { at: body + 3, size: 2 }, { at: body + 3, size: 2 }, { at: body + 5, size: 1 });
      for (let c = 0; c < 4; c++) fields.push({ at: body + 6 + c * 3, size: 1 }, { at: body + 7 + c * 3, size: 1 }, { at: body + 7 + c * 3, size: 1 }, { at: body + 8 + c * 3, size: 1 });
    } else if (s.marker === 0xc4 || s.marker === 0xdb) {
      // DHT: class/id, 16 counts, values; DQT: precision/id, 64 entries. Several picks, so tables are hit often.
      for (let k = 0; k < 6; k++) fields.push({ at: body + rng.int(Math.max(1, Math.min(s.len - 2, 40))), size: 1 });
      fields.push({ at: body, size: 1 }, { at: body + 1 + rng.int(16), size: 1 });
    } else if (s.marker === 0xda) {
      const n = b[body] ?? 0;
      fields.push({ at: body, size: 1 });
      for (let c = 0; c < Math.min(n, 4); c++) fields.push({ at: body + 1 + c * 2, size: 1 }, { at: body + 2 + c * 2, size: 1 });
      const tail = body + 1 + n * 2;
      fields.push({ at: tail, size: 1 }, { at: tail + 1, size: 1 }, { at: tail + 2, size: 1 });
    } else if (s.marker === 0xdd) {
      fields.push({ at: body, size: 2 });
    } else if (s.marker === 0xee || s.marker === 0xe1) {
      fields.push({ at: body + rng.int(Math.max(1, s.len - 2)), size: 1 }, { at: body + rng.int(Math.max(1, s.len - 2)), size: 2 });
    }
  }
  return fields;
}

/** PNG chunks: [offset of the length field, data length, type]. */
function pngChunks(b: Uint8Array): { at: number; len: number; type: string }[] {
  const out: { at: number; len: number; type: string }[] = [];
  let p = 8;
  while (p + 12 <= b.length && out.length < 64) {
    const len = ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
    out.push({ at: p, len, type: String.fromCharCode(...b.subarray(p + 4, p + 8)) });
    if (len > b.length) break;
    p += 12 + len;
  }
  return out;
}

function pngFields(b: Uint8Array, rng: Rng): Field[] {
  const fields: Field[] = [];
  for (const c of pngChunks(b)) {
    fields.push({ at: c.at, size: 4 }, { at: c.at + 4 + rng.int(4), size: 1 });
    const d = c.at + 8;
    if (c.type === 'IHDR') fields.push({ at: d, size: 4 }, { at: d + 4, size: 4 }, { at: d + 8, size: 1 }, { at: d + 9, size: 1 }, { at: d + 10, size: 1 }, { at: d + 11, size: 1 }, { at: d + 12, size: 1 });
    else if ((c.type === 'PLTE' || c.type === 'tRNS') && c.len > 0) fields.push({ at: d + rng.int(c.len), size: 1 });
    else if (c.type === 'IDAT' && c.len > 2) fields.push({ at: d, size: 1 }, { at: d + 1, size: 1 }, { at: d + 2 + rng.int(c.len - 2), size: 1 });
  }
  return fields;
}

/** Recomputes every PNG chunk's CRC, so damage inside a chunk reaches the decoder. */
function mendPngCrcs(b: Uint8Array): void {
  for (const c of pngChunks(b)) {
    const end = c.at + 8 + c.len;
    if (end + 4 > b.length) break;
    writeField(b, { at: end, size: 4 }, crc32(b.subarray(c.at + 4, end)));
  }
}

function gifFields(b: Uint8Array, rng: Rng): Field[] {
  // Logical screen: width, height (LE), flags (global palette, its size), background, aspect; then the palette.
  const fields: Field[] = [{ at: 6, size: 2, little: true }, { at: 8, size: 2, little: true }, { at: 10, size: 1 }, { at: 11, size: 1 }];
  const flags = b[10] ?? 0;
  let p = 13 + (flags & 0x80 ? 3 << ((flags & 7) + 1) : 0);
  if (p > 13) fields.push({ at: 13 + rng.int(p - 13), size: 1 });
  // Walk the blocks to the first image descriptor.
  for (let guard = 0; p < b.length && guard < 32; guard++) {
    if (b[p] === 0x2c) {
      fields.push({ at: p + 1, size: 2, little: true }, { at: p + 3, size: 2, little: true }, { at: p + 5, size: 2, little: true }, { at: p + 7, size: 2, little: true }, { at: p + 9, size: 1 }, { at: p + 10, size: 1 }, { at: p + 11, size: 1 });
      break;
    }
    if (b[p] !== 0x21) break;
    fields.push({ at: p + 1, size: 1 }, { at: p + 2, size: 1 });
    p += 2;
    while (p < b.length && b[p] !== 0) p += b[p]! + 1;
    p++;
  }
  return fields;
}

function bmpFields(): Field[] {
  // File size, pixel offset, DIB size, width, height, planes, bpp, compression, image size, palette count, then the palette's first entries.
  const f = (at: number, size: 1 | 2 | 4): Field => ({ at, size, little: true });
  return [f(2, 4), f(10, 4), f(14, 4), f(18, 4), f(22, 4), f(26, 2), f(28, 2), f(30, 4), f(34, 4), f(46, 4), f(50, 4), f(54, 1), f(58, 1)];
}

function tiffFields(b: Uint8Array, rng: Rng): Field[] {
  const little = b[0] === 0x49;
  const rd = (at: number, size: 2 | 4): number => readField(b, { at, size, little });
  const fields: Field[] = [{ at: 4, size: 4, little }];
  const ifd = rd(4, 4);
  if (ifd + 2 > b.length) return fields;
  const n = rd(ifd, 2);
  fields.push({ at: ifd, size: 2, little });
  for (let i = 0; i < Math.min(n, 64); i++) {
    const e = ifd + 2 + i * 12;
    if (e + 12 > b.length) break;
    // tag, type, count, value/offset: the value is hit most, the rest less.
    fields.push({ at: e + 8, size: 4, little }, { at: e + 8, size: 2, little });
    if (rng() < 0.3) fields.push({ at: e, size: 2, little }, { at: e + 2, size: 2, little }, { at: e + 4, size: 4, little });
  }
  return fields;
}

function structureFields(format: ImageFormat, b: Uint8Array, rng: Rng): Field[] {
  switch (format) {
    case 'jpeg':
      return jpegFields(b, rng);
    case 'png':
      return pngFields(b, rng);
    case 'gif':
      return gifFields(b, rng);
    case 'bmp':
      return bmpFields();
    case 'tiff':
      return tiffFields(b, rng);
  }
}

/** Where entropy-coded data starts (after the first SOS header), or the middle of the file. */
function dataStart(format: ImageFormat, b: Uint8Array): number {
  if (format === 'jpeg') {
    const sos = jpegSegments(b).find((s) => s.marker === 0xda);
    if (sos) return Math.min(b.length, sos.at + 2 + sos.len);
  }
  return Math.min(b.length, 64);
}

/** Names of the mutators, in the order the report lists them. */
export const MUTATORS = ['field', 'flip', 'byte', 'insert', 'delete', 'duplicate', 'truncate', 'splice', 'marker'] as const;
/** One of {@link MUTATORS}. */
export type Mutator = (typeof MUTATORS)[number];

/**
 * Applies 1–4 mutations to a copy of `seed`. `other` is a second seed for splices.
 * @returns the mutant and the mutators used, in order
 */
export function mutate(format: ImageFormat, seed: Uint8Array, other: Uint8Array, rng: Rng): { bytes: Uint8Array; ops: Mutator[] } {
  let b: Uint8Array = seed.slice();
  const ops: Mutator[] = [];
  const count = 1 + (rng() < 0.5 ? 0 : rng.int(4));
  for (let k = 0; k < count && b.length > 0; k++) {
    // Structure-aware damage half the time: random bytes rarely get past the first header check.
    const op: Mutator = rng() < 0.45 ? 'field' : rng.pick(MUTATORS);
    ops.push(op);
    const start = rng() < 0.6 ? dataStart(format, b) : 0;
    const at = start + rng.int(Math.max(1, b.length - start));
    switch (op) {
      case 'field': {
        const fields = structureFields(format, b, rng).filter((f) => f.at + f.size <= b.length);
        if (fields.length === 0) break;
        const f = rng.pick(fields);
        writeField(b, f, interesting(rng, f, b));
        break;
      }
      case 'flip':
        b[at] = b[at]! ^ (1 << rng.int(8));
        break;
      case 'byte':
        b[at] = rng() < 0.5 ? rng.pick(INTERESTING_8) : rng.int(256);
        break;
      case 'insert': {
        const n = 1 + rng.int(rng() < 0.8 ? 8 : 512);
        const ins = new Uint8Array(n).map(() => rng.int(256));
        b = concat(b.subarray(0, at), ins, b.subarray(at));
        break;
      }
      case 'delete':
        b = concat(b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + rng.int(rng() < 0.8 ? 8 : 4096))));
        break;
      case 'duplicate': {
        const n = 1 + rng.int(Math.min(b.length - at, 2048));
        b = concat(b.subarray(0, at + n), b.subarray(at, at + n), b.subarray(at + n));
        break;
      }
      case 'truncate':
        b = b.slice(0, rng() < 0.3 ? rng.int(Math.min(b.length, 128)) : at);
        break;
      case 'splice': {
        const from = rng.int(Math.max(1, other.length));
        b = concat(b.subarray(0, at), other.subarray(from, from + 1 + rng.int(4096)));
        break;
      }
      case 'marker': {
        // A marker where it does not belong: RSTn, EOI, SOI, DHT or SOS inside entropy data (JPEG), 0xFF elsewhere.
        const m = format === 'jpeg' ? rng.pick([0xd0 + rng.int(8), 0xd9, 0xd8, 0xc4, 0xda, 0xff, 0x00]) : 0xff;
        b = concat(b.subarray(0, at), new Uint8Array([0xff, m]), b.subarray(at));
        break;
      }
    }
  }
  // pngjs checks every CRC: mended most of the time, so damage inside chunks reaches the decoder.
  if (format === 'png' && rng() < 0.7) mendPngCrcs(b);
  return { bytes: b, ops };
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
