/**
 * Huffman tables (DHT): the 9-bit lookup and canonical-code arrays, the 1/8-scale skip tables and
 * the full-coefficient fast AC table, built once per distinct table.
 */
import { MULTI_BITS } from '../jpeg-walk/index.js';
import { JpegDataError } from './errors.js';

export const LOOKUP_BITS = 9;

/** Huffman table: a 9-bit lookup for short codes plus canonical-code arrays for longer ones. */
export interface HuffTable {
  /** (length << 8) | symbol, 0 when the code is longer than LOOKUP_BITS. */
  lookup: Uint16Array;
  /**
   * For skipping AC symbols (1/8 scale): (zigzag advance << 5) | (code length + extra bits), with
   * advance r+1 for a coefficient, 16 for ZRL and 64 for EOB; 0 when the code is longer than LOOKUP_BITS.
   */
  skip: Uint16Array;
  /**
   * Built on first use at 1/8 scale: see {@link multiSkipTable}. Null until then rather than absent:
   * adding a property later changes the object's hidden class, and code V8 optimized for one
   * shape deoptimizes (and is compiled again) when the other arrives.
   */
  multi: Uint16Array | null;
  /** Built on first use by full-coefficient decodes: see {@link fastAcTable}; null until then. */
  fast: Int32Array | null;
  maxcode: Int32Array; // per length 1..16, -1 when none
  valptr: Int32Array;
  mincode: Int32Array;
  values: Uint8Array;
}

/**
 * Tables already built, by their DHT bytes (16 counts, then the values). Photos from one camera or
 * encoder carry the same tables, and building the 1/8-scale skip table ({@link multiSkipTable})
 * was 3 % of a 12 MP decode at 1/8 (profiled, 14-bit window); a table is never changed once built (its lazy
 * `multi` and `fast` depend on the codes alone), so decodes can share it. Bounded: the oldest goes.
 */
const builtTables = new Map<string, HuffTable>();
const BUILT_TABLES_MAX = 32;

/** The table for a DHT entry (`spec`: counts then values), built once per distinct entry. */
export function huffTable(spec: Uint8Array): HuffTable {
  const key = String.fromCharCode(...spec);
  let t = builtTables.get(key);
  if (t === undefined) {
    // A copy of the values: the cached table must not hold on to (or see changes in) the file's bytes.
    t = buildHuffTable(spec.subarray(0, 16), spec.slice(16));
    if (builtTables.size >= BUILT_TABLES_MAX) builtTables.delete(builtTables.keys().next().value as string);
    builtTables.set(key, t);
  }
  return t;
}

function buildHuffTable(counts: Uint8Array, values: Uint8Array): HuffTable {
  const lookup = new Uint16Array(1 << LOOKUP_BITS);
  const maxcode = new Int32Array(18).fill(-1);
  const valptr = new Int32Array(17);
  const mincode = new Int32Array(17);
  let code = 0;
  let k = 0;
  for (let len = 1; len <= 16; len++) {
    const n = counts[len - 1];
    valptr[len] = k;
    mincode[len] = code;
    for (let i = 0; i < n; i++) {
      if (len <= LOOKUP_BITS) {
        const shift = LOOKUP_BITS - len;
        const base = code << shift;
        for (let j = 0; j < 1 << shift; j++) lookup[base + j] = (len << 8) | values[k];
      }
      code++;
      k++;
    }
    if (n > 0) maxcode[len] = code - 1;
    if (code > 1 << len) throw new JpegDataError('bad Huffman table');
    code <<= 1;
  }
  const skip = new Uint16Array(1 << LOOKUP_BITS);
  for (let i = 0; i < skip.length; i++) {
    const e = lookup[i];
    if (e === 0) continue;
    const rs = e & 0xff;
    const r = rs >> 4;
    const sz = rs & 15;
    const advance = sz !== 0 ? r + 1 : r === 15 ? 16 : 64;
    skip[i] = (advance << 5) | ((e >> 8) + sz);
  }
  return { lookup, skip, multi: null, fast: null, maxcode, valptr, mincode, values };
}

export const MULTI_EOB = 1 << 11;

/**
 * For skipping AC symbols several at a time (1/8 scale, where only DC is kept): for each
 * MULTI_BITS-bit window, the whole symbols (code + extra bits) it holds, up to and including an EOB. Entry:
 * bits used (4 bits) | (coefficients advanced, +1 if the group ends with EOB) << 4 (7 bits) | MULTI_EOB.
 * 0 when not even the first symbol fits. A group may only be taken if the block has room for it.
 */
export function multiSkipTable(t: HuffTable): Uint16Array {
  if (t.multi) return t.multi;
  const m = new Uint16Array(1 << MULTI_BITS);
  for (let i = 0; i < m.length; i++) {
    let pos = 0;
    let z = 0;
    let eob = 0;
    for (;;) {
      const left = MULTI_BITS - pos;
      let sym = -1;
      // The next symbol from the 9-bit lookup (the window's remaining bits, zero-padded): valid if
      // its code fits in what is left. Longer codes take the canonical search from length 10.
      const e = t.lookup[((i << pos) >> (MULTI_BITS - LOOKUP_BITS)) & ((1 << LOOKUP_BITS) - 1)];
      let len = e >> 8;
      if (e !== 0) {
        if (len <= left) sym = e & 0xff;
      } else {
        for (len = LOOKUP_BITS + 1; len <= 16 && len <= left; len++) {
          const code = (i >> (left - len)) & ((1 << len) - 1);
          if (code <= t.maxcode[len]) {
            sym = t.values[t.valptr[len] + code - t.mincode[len]];
            break;
          }
        }
      }
      if (sym < 0) break;
      const size = sym & 15;
      const run = sym >> 4;
      if (len + size > left) break;
      pos += len + size;
      if (size === 0 && run !== 15) {
        eob = 1;
        break;
      }
      z += size === 0 ? 16 : run + 1;
      if (z > 63) break; // cannot be one block's: leave it to the one-symbol path
    }
    if (pos > 0 && z + eob <= 64) m[i] = pos | ((z + eob) << 4) | (eob ? MULTI_EOB : 0);
  }
  t.multi = m;
  return m;
}

export const FAST_AC_BITS = 11;

/**
 * For decoding AC coefficients in one peek: for each FAST_AC_BITS window whose leading symbol is a
 * coefficient (not EOB/ZRL) with code and extra bits both inside the window, the extended value
 * << 9 | run << 5 | bits used; 0 otherwise (the two-step path decodes it). Most coefficients
 * of a photo are short codes with a few extra bits, so most take one peek and lookup, not two.
 */
export function fastAcTable(t: HuffTable): Int32Array {
  if (t.fast) return t.fast;
  const f = new Int32Array(1 << FAST_AC_BITS);
  for (let i = 0; i < f.length; i++) {
    for (let len = 1; len < FAST_AC_BITS; len++) {
      const code = i >> (FAST_AC_BITS - len);
      if (code > t.maxcode[len]) continue;
      const rs = t.values[t.valptr[len] + code - t.mincode[len]];
      const s = rs & 15;
      if (s !== 0 && len + s <= FAST_AC_BITS) {
        const bits = (i >> (FAST_AC_BITS - len - s)) & ((1 << s) - 1);
        const v = bits < 1 << (s - 1) ? bits - (1 << s) + 1 : bits;
        f[i] = (v << 9) | ((rs >> 4) << 5) | (len + s);
      }
      break;
    }
  }
  t.fast = f;
  return f;
}

/**
 * Decodes a code longer than LOOKUP_BITS from the next 16 bits.
 * @returns (length << 8) | symbol, like a lookup entry
 */
export function slowHuff(t: HuffTable, code16: number): number {
  for (let len = LOOKUP_BITS + 1; len <= 16; len++) {
    const c = code16 >>> (16 - len);
    if (c <= t.maxcode[len]) return (len << 8) | t.values[t.valptr[len] + c - t.mincode[len]];
  }
  throw new JpegDataError('bad Huffman code');
}
