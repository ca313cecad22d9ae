/**
 * Structural checks on GIF and TIFF files before jimp's decoders see them. Those decoders loop
 * forever on some damaged files (found by `npm run fuzz`), and a synchronous loop cannot be
 * interrupted inside a Lambda invocation, so the damage is rejected here as CORRUPT_IMAGE:
 * - GIF (omggif): an LZW code above the next free table entry links the code table into a
 *   cycle that its prefix chase never leaves (a valid stream never has one); a first frame
 *   larger than the logical screen (whose size the pixel limit checked) is walked pixel by pixel.
 * - TIFF (utif2): strip or tile offsets without a matching byte count, or outside the file,
 *   send its LZW/deflate loops through undefined data, and an LZW code past the next table
 *   entry links its table into a cycle; a tag whose value count runs past the
 *   end of the file makes it build arrays of up to 2^32 entries; CCITT fax coding on anything
 *   but a 1-bit image, or a BitsPerSample in the thousands, takes practically forever.
 */
import { CorruptImageError } from './errors.js';
import type { ImageFormat } from './types.js';

function corrupt(format: string, why: string): CorruptImageError {
  return new CorruptImageError(format, new Error(why));
}

/** Offset of the first image descriptor's LZW data (its minimum code size byte). */
function gifFirstFrameData(b: Uint8Array): number {
  const flags = b[10] ?? 0;
  let p = 13 + (flags & 0x80 ? 3 << ((flags & 7) + 1) : 0);
  for (;;) {
    if (p >= b.length) throw corrupt('GIF', 'no image in the file');
    const block = b[p];
    if (block === 0x2c) {
      // omggif walks every pixel of the frame as declared, and the pixel limit was checked against
      // the logical screen: a 65535×32768 frame in an 80×60 screen takes practically forever.
      const le = (at: number): number => (b[at] ?? 0) | ((b[at + 1] ?? 0) << 8);
      if (le(p + 1) + le(p + 5) > le(6) || le(p + 3) + le(p + 7) > le(8)) {
        throw corrupt('GIF', `the first frame (${le(p + 5)}x${le(p + 7)} at ${le(p + 1)},${le(p + 3)}) lies outside the ${le(6)}x${le(8)} screen`);
      }
      const local = b[p + 9] ?? 0;
      return p + 10 + (local & 0x80 ? 3 << ((local & 7) + 1) : 0);
    }
    if (block !== 0x21) throw corrupt('GIF', `unknown block 0x${(block ?? 0).toString(16)} at byte ${p}`);
    p += 2;
    while (p < b.length && b[p] !== 0) p += b[p]! + 1;
    p++;
  }
}

/** Walks the first frame's LZW codes as a decoder would, without output; throws on an impossible code. */
function checkGifLzw(b: Uint8Array): void {
  let p = gifFirstFrameData(b);
  const minSize = b[p++];
  if (minSize === undefined || minSize < 1 || minSize > 11) throw corrupt('GIF', `LZW minimum code size ${minSize ?? 'missing'}`);
  const clear = 1 << minSize;
  const eoi = clear + 1;
  let next = eoi + 1;
  let size = minSize + 1;
  let prev = -1;
  let cur = 0;
  let bits = 0;
  let sub = b[p++] ?? 0;
  for (;;) {
    while (bits < size && sub > 0 && p < b.length) {
      cur |= b[p++]! << bits;
      bits += 8;
      if (--sub === 0) sub = b[p++] ?? 0;
    }
    if (bits < size) return; // data ended; omggif stops here too
    const code = cur & ((1 << size) - 1);
    cur >>>= size;
    bits -= size;
    if (code === clear) {
      next = eoi + 1;
      size = minSize + 1;
      prev = -1;
      continue;
    }
    if (code === eoi) return;
    // A code may name an entry that exists, or (KwKwK) the one being defined; never one beyond.
    if (code > next || (code === next && prev < 0) || (code > eoi && code >= next && prev < 0)) throw corrupt('GIF', `LZW code ${code} before table entry ${next} exists`);
    if (prev >= 0 && next < 4096) {
      next++;
      if (next >= 1 << size && size < 12) size++;
    }
    prev = code;
  }
}

/**
 * Walks one TIFF LZW strip as utif2 decodes it (MSB-first codes of 9–12 bits, one code early);
 * throws on a code past the next table entry, or on a table code right after a clear code: either
 * makes utif2 follow table links that form a cycle (its table outlives the strip and the file).
 */
function checkTiffLzw(b: Uint8Array, start: number, length: number): void {
  let bit = start * 8;
  const end = (start + length) * 8;
  let width = 9;
  let next = 258;
  const read = (): number => {
    const i = bit >>> 3;
    const word = ((b[i] ?? 0) << 16) | ((b[i + 1] ?? 0) << 8) | (b[i + 2] ?? 0);
    const code = (word >>> (24 - (bit & 7) - width)) & ((1 << width) - 1);
    bit += width;
    return code;
  };
  const add = (): void => {
    next++;
    if (next + 1 === 1 << width && width !== 12) width++;
  };
  while (bit < end) {
    let code = read();
    if (code === 257) return;
    if (code === 256) {
      next = 258;
      width = 9;
      code = read();
      if (code === 257) return;
      if (code >= 256) throw corrupt('TIFF', `LZW code ${code} right after a clear code`);
      continue;
    }
    if (code > next) throw corrupt('TIFF', `LZW code ${code} before table entry ${next} exists`);
    add();
  }
}

/** TIFF readers in the file's byte order; bytes past the end read as 0 (the callers bound-check). */
function tiffReaders(b: Uint8Array, little: boolean): { u16: (p: number) => number; u32: (p: number) => number } {
  const at = (p: number): number => b[p] ?? 0;
  return {
    u16: (p) => (little ? at(p) | (at(p + 1) << 8) : (at(p) << 8) | at(p + 1)),
    u32: (p) => (little ? (at(p) | (at(p + 1) << 8) | (at(p + 2) << 16)) + at(p + 3) * 2 ** 24 : ((at(p + 1) << 16) | (at(p + 2) << 8) | at(p + 3)) + at(p) * 2 ** 24),
  };
}

/** Reads a SHORT/LONG array tag value of a TIFF IFD entry. */
function tiffArray(b: Uint8Array, entry: number, little: boolean): number[] {
  const { u16, u32 } = tiffReaders(b, little);
  const type = u16(entry + 2);
  const count = u32(entry + 4);
  const width = type === 3 ? 2 : type === 4 ? 4 : 0;
  if (width === 0) throw corrupt('TIFF', `strip or tile table of type ${type}`);
  const at = count * width <= 4 ? entry + 8 : u32(entry + 8);
  if (count === 0 || at + count * width > b.length) throw corrupt('TIFF', 'strip or tile table runs past the end of the file');
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(width === 2 ? u16(at + i * 2) : u32(at + i * 4));
  return out;
}

/** Bytes per value of each TIFF field type (BYTE, ASCII, SHORT, LONG, RATIONAL, ... DOUBLE). */
const TIFF_TYPE_SIZES: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8 };

/** Checks every entry of the first IFD: its values lie inside the file; then the strips (273/279) or tiles (324/325): equal counts, all inside the file. */
function checkTiffStrips(b: Uint8Array): void {
  const little = b[0] === 0x49;
  const { u16, u32 } = tiffReaders(b, little);
  const ifd = u32(4);
  if (ifd + 2 > b.length) throw corrupt('TIFF', 'first IFD is past the end of the file');
  const n = u16(ifd);
  if (ifd + 2 + n * 12 > b.length) throw corrupt('TIFF', 'first IFD is truncated');
  const entries = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const e = ifd + 2 + i * 12;
    entries.set(u16(e), e);
    // utif2 reads `count` values of any tag, wherever they are: a count past the file's end makes it
    // build an array of up to 2^32 entries.
    const bytes = u32(e + 4) * (TIFF_TYPE_SIZES[u16(e + 2)] ?? 1);
    if (bytes > 4 && u32(e + 8) + bytes > b.length) throw corrupt('TIFF', `tag ${u16(e)} has ${u32(e + 4)} values, past the end of the file`);
  }
  // CCITT fax coding (compression 2, 3, 4) is defined for 1-bit bilevel images only; utif2's fax
  // decoder never returns on other data.
  const value = (tag: number, dflt: number): number => {
    const e = entries.get(tag);
    return e === undefined ? dflt : u16(e + 2) === 3 ? u16(e + 8) : u32(e + 8);
  };
  // utif2 loops over width × height × bits per sample: a damaged BitsPerSample of 2^19 never ends.
  const bps = entries.has(258) ? tiffArray(b, entries.get(258)!, little) : [1];
  if (bps.some((v) => v < 1 || v > 32) || value(277, 1) < 1 || value(277, 1) > 16) throw corrupt('TIFF', `${bps.join(',')} bits per sample in ${value(277, 1)} samples`);
  const compression = value(259, 1);
  if (compression >= 2 && compression <= 4 && (value(277, 1) !== 1 || value(258, 1) !== 1)) throw corrupt('TIFF', `CCITT compression ${compression} on an image that is not 1-bit bilevel`);
  for (const [offsets, counts] of [[273, 279], [324, 325]] as const) {
    const o = entries.get(offsets);
    const c = entries.get(counts);
    if (o === undefined && c === undefined) continue;
    if (o === undefined || c === undefined) throw corrupt('TIFF', `tag ${o === undefined ? offsets : counts} is missing`);
    const starts = tiffArray(b, o, little);
    const sizes = tiffArray(b, c, little);
    if (starts.length !== sizes.length) throw corrupt('TIFF', `${starts.length} offsets but ${sizes.length} byte counts`);
    for (let i = 0; i < starts.length; i++) {
      if (starts[i]! + sizes[i]! > b.length) throw corrupt('TIFF', `strip or tile ${i} runs past the end of the file`);
      if (compression === 5) checkTiffLzw(b, starts[i]!, sizes[i]!);
    }
  }
}

/**
 * Rejects GIF and TIFF damage that jimp's decoders would loop on; other formats pass.
 * @throws CorruptImageError naming the damage
 */
export function guardThirdPartyDecode(bytes: Uint8Array, format: ImageFormat): void {
  if (format === 'gif') checkGifLzw(bytes);
  else if (format === 'tiff') checkTiffStrips(bytes);
}
