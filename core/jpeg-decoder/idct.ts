/**
 * Inverse DCTs at the four output scales: the AAN 8×8 float IDCT (1/1) with its zero-term
 * shortcuts, and the 4×4 scaled IDCT (1/2); 1/4 and 1/8 are computed in the decoder from the
 * coefficients directly.
 */
import { NATURAL } from './zigzag.js';

/**
 * Input scale of the AAN float IDCT (libjpeg's jidctflt): s(u)·s(v)/8 with s(0) = 1 and
 * s(u) = cos(uπ/16)·√2, the 1/8 of the 2-D output folded in so the butterflies need no final divide.
 */
const AAN_SCALE = (() => {
  const s = new Float64Array(8);
  for (let u = 0; u < 8; u++) s[u] = u === 0 ? 1 : Math.cos((u * Math.PI) / 16) * Math.SQRT2;
  const t = new Float64Array(64);
  for (let v = 0; v < 8; v++) for (let u = 0; u < 8; u++) t[v * 8 + u] = (s[v] * s[u]) / 8;
  return t;
})();

// 4-point scaled IDCT basis C(u)/2·cos((2x+1)uπ/8): rows x = 0, 3 and 1, 2 share magnitudes.
const I4_A = Math.SQRT1_2 / 2;
const I4_B = Math.cos(Math.PI / 8) / 2;
const I4_C = Math.cos((3 * Math.PI) / 8) / 2;

/**
 * 4×4 output from the top-left 4×4 coefficients (1/2 scale), even/odd split of the 4-point basis.
 * Exported for the accuracy test only.
 */
export function idct4x4(blk: Int32Array, ws: Float64Array, out: Uint8Array, o: number, stride: number): void {
  for (let c = 0; c < 4; c++) {
    const f0 = blk[c];
    const f1 = blk[c + 8];
    const f2 = blk[c + 16];
    const f3 = blk[c + 24];
    const e0 = (f0 + f2) * I4_A;
    const e1 = (f0 - f2) * I4_A;
    const o0 = f1 * I4_B + f3 * I4_C;
    const o1 = f1 * I4_C - f3 * I4_B;
    ws[c] = e0 + o0;
    ws[c + 12] = e0 - o0;
    ws[c + 4] = e1 + o1;
    ws[c + 8] = e1 - o1;
  }
  for (let r = 0; r < 16; r += 4) {
    const e0 = (ws[r] + ws[r + 2]) * I4_A + 128.5;
    const e1 = (ws[r] - ws[r + 2]) * I4_A + 128.5;
    const o0 = ws[r + 1] * I4_B + ws[r + 3] * I4_C;
    const o1 = ws[r + 1] * I4_C - ws[r + 3] * I4_B;
    let v = e0 + o0;
    out[o] = v <= 0 ? 0 : v >= 255 ? 255 : v | 0;
    v = e1 + o1;
    out[o + 1] = v <= 0 ? 0 : v >= 255 ? 255 : v | 0;
    v = e1 - o1;
    out[o + 2] = v <= 0 ? 0 : v >= 255 ? 255 : v | 0;
    v = e0 - o0;
    out[o + 3] = v <= 0 ? 0 : v >= 255 ? 255 : v | 0;
    o += stride;
  }
}

/**
 * Where a block's AC coefficients are, by natural index n (row n >> 3, column n & 7): bit `col`
 * (the column holds one), bit 8 + row (the row holds one), bit 16 + col (the column holds one
 * below row 0). OR-ed over a block, this tells the IDCT which butterflies can be left out.
 */
export const NZ_BITS = (() => {
  const t = new Int32Array(64);
  for (let n = 1; n < 64; n++) {
    const row = n >> 3;
    const col = n & 7;
    t[n] = (1 << col) | (1 << (8 + row)) | (row > 0 ? 1 << (16 + col) : 0);
  }
  return t;
})();

/** By zigzag index: the natural index << 24 | its {@link NZ_BITS}, both from one load. */
export const ZIGZAG_NZ = Int32Array.from(NATURAL, (n) => (n << 24) | NZ_BITS[n]);

/** {@link NZ_BITS} of a block's non-zero AC coefficients. */
function nzBits(blk: Int32Array): number {
  let nz = 0;
  for (let n = 1; n < 64; n++) if (blk[n] !== 0) nz |= NZ_BITS[n];
  return nz;
}

/**
 * 8×8 inverse DCT of dequantised coefficients (natural order) into `out` at `o` with row pitch
 * `stride`, level-shifted by 128 and clamped to 0..255. AAN butterflies (5 multiplies per 1-D
 * pass) instead of the 64-multiply matrix form. After quantisation most blocks hold only
 * low-frequency terms, so `nz` says which rows/columns have any and the passes leave out the
 * rest: a column without AC terms is flat, and with nothing in rows (columns) 4..7 half of each
 * column (row) butterfly has zero inputs.
 *
 * The shortened butterflies drop only terms whose inputs are exactly zero. In IEEE arithmetic
 * x + 0 = x − 0 = x, 0 − x = −x and (−a)·(−b) = a·b exactly, so they compute the full butterfly's
 * values bit for bit (at most a zero's sign differs, which the final +128.5 erases): the
 * shortcuts change speed, never pixels.
 * @param blk 64 dequantised coefficients, row-major
 * @param ws scratch, 64 entries
 * @param out the plane, written through a view so that a row of 8 pixels is two 32-bit stores
 * @param nz {@link NZ_BITS} OR-ed over the block's AC coefficients (a superset is fine)
 */
export function idct8x8To(blk: Int32Array, ws: Float64Array, out: DataView, o: number, stride: number, nz: number): void {
  const sc = AAN_SCALE;
  const colAc = nz >> 16;
  const lowRows = (nz & 0xf000) === 0;
  // Pass 1: columns.
  for (let c = 0; c < 8; c++) {
    if ((colAc & (1 << c)) === 0) {
      const dc = blk[c] * sc[c];
      ws[c] = dc; ws[c + 8] = dc; ws[c + 16] = dc; ws[c + 24] = dc;
      ws[c + 32] = dc; ws[c + 40] = dc; ws[c + 48] = dc; ws[c + 56] = dc;
      continue;
    }
    let t0, t1, t2, t3, o7, o6, o5, o4;
    if (lowRows) {
      // Rows 4..7 are zero: the full butterfly's t2, t3, t6 and t7 below vanish.
      const e0 = blk[c] * sc[c];
      const e1 = blk[c + 16] * sc[c + 16];
      const e2 = e1 * 1.414213562373095 - e1;
      t0 = e0 + e1;
      t3 = e0 - e1;
      t1 = e0 + e2;
      t2 = e0 - e2;
      const z11 = blk[c + 8] * sc[c + 8];
      const z13 = blk[c + 24] * sc[c + 24];
      o7 = z11 + z13;
      const d = z11 - z13;
      const z5 = d * 1.847759065022573;
      o6 = 2.613125929752753 * z13 + z5 - o7;
      o5 = d * 1.414213562373095 - o6;
      o4 = 1.082392200292394 * z11 - z5 + o5;
    } else {
      // Even part.
      t0 = blk[c] * sc[c];
      t1 = blk[c + 16] * sc[c + 16];
      t2 = blk[c + 32] * sc[c + 32];
      t3 = blk[c + 48] * sc[c + 48];
      const t10 = t0 + t2;
      const t11 = t0 - t2;
      const t13 = t1 + t3;
      const t12 = (t1 - t3) * 1.414213562373095 - t13;
      t0 = t10 + t13;
      t3 = t10 - t13;
      t1 = t11 + t12;
      t2 = t11 - t12;
      // Odd part.
      const t4 = blk[c + 8] * sc[c + 8];
      const t5 = blk[c + 24] * sc[c + 24];
      const t6 = blk[c + 40] * sc[c + 40];
      const t7 = blk[c + 56] * sc[c + 56];
      const z13 = t6 + t5;
      const z10 = t6 - t5;
      const z11 = t4 + t7;
      const z12 = t4 - t7;
      o7 = z11 + z13;
      const z5 = (z10 + z12) * 1.847759065022573;
      o6 = -2.613125929752753 * z10 + z5 - o7;
      o5 = (z11 - z13) * 1.414213562373095 - o6;
      o4 = 1.082392200292394 * z12 - z5 + o5;
    }
    ws[c] = t0 + o7;
    ws[c + 56] = t0 - o7;
    ws[c + 8] = t1 + o6;
    ws[c + 48] = t1 - o6;
    ws[c + 16] = t2 + o5;
    ws[c + 40] = t2 - o5;
    ws[c + 32] = t3 + o4;
    ws[c + 24] = t3 - o4;
  }
  // Pass 2: rows, then round (+0.5 and truncate: negatives clamp to 0 anyway) and clamp.
  const cols = nz & 0xff;
  if ((cols & 0xfe) === 0) {
    // Only column 0 holds terms: the rest of each row is zero and the row comes out flat.
    for (let r = 0; r < 64; r += 8) {
      const v = ws[r] + 128.5;
      const p = v <= 0 ? 0 : v >= 255 ? 255 : v | 0;
      const four = p | (p << 8) | (p << 16) | (p << 24);
      out.setUint32(o, four, true);
      out.setUint32(o + 4, four, true);
      o += stride;
    }
    return;
  }
  const lowCols = (cols & 0xf0) === 0;
  // Only row 0 holds terms: every column was flat, so all eight rows are the same.
  const rowsEqual = colAc === 0;
  let lo = 0;
  let hi = 0;
  for (let r = 0; r < 64; r += 8) {
    if (rowsEqual && r > 0) {
      out.setUint32(o, lo, true);
      out.setUint32(o + 4, hi, true);
      o += stride;
      continue;
    }
    let t0, t1, t2, t3, o7, o6, o5, o4;
    if (lowCols) {
      // ws[r + 4..7] are zero: the same shortened butterfly as for the columns.
      const e0 = ws[r];
      const e1 = ws[r + 2];
      const e2 = e1 * 1.414213562373095 - e1;
      t0 = e0 + e1;
      t3 = e0 - e1;
      t1 = e0 + e2;
      t2 = e0 - e2;
      const z11 = ws[r + 1];
      const z13 = ws[r + 3];
      o7 = z11 + z13;
      const d = z11 - z13;
      const z5 = d * 1.847759065022573;
      o6 = 2.613125929752753 * z13 + z5 - o7;
      o5 = d * 1.414213562373095 - o6;
      o4 = 1.082392200292394 * z11 - z5 + o5;
    } else {
      const t10 = ws[r] + ws[r + 4];
      const t11 = ws[r] - ws[r + 4];
      const t13 = ws[r + 2] + ws[r + 6];
      const t12 = (ws[r + 2] - ws[r + 6]) * 1.414213562373095 - t13;
      t0 = t10 + t13;
      t3 = t10 - t13;
      t1 = t11 + t12;
      t2 = t11 - t12;
      const z13 = ws[r + 5] + ws[r + 3];
      const z10 = ws[r + 5] - ws[r + 3];
      const z11 = ws[r + 1] + ws[r + 7];
      const z12 = ws[r + 1] - ws[r + 7];
      o7 = z11 + z13;
      const z5 = (z10 + z12) * 1.847759065022573;
      o6 = -2.613125929752753 * z10 + z5 - o7;
      o5 = (z11 - z13) * 1.414213562373095 - o6;
      o4 = 1.082392200292394 * z12 - z5 + o5;
    }
    // Eight clamped bytes stored as two little-endian words: a quarter of the byte stores.
    let v = t0 + o7 + 128.5;
    const p0 = v <= 0 ? 0 : v >= 255 ? 255 : v | 0;
    v = t1 + o6 + 128.5;
    const p1 = v <= 0 ? 0 : v >= 255 ? 255 : v | 0;
    v = t2 + o5 + 128.5;
    const p2 = v <= 0 ? 0 : v >= 255 ? 255 : v | 0;
    v = t3 - o4 + 128.5;
    const p3 = v <= 0 ? 0 : v >= 255 ? 255 : v | 0;
    v = t3 + o4 + 128.5;
    const p4 = v <= 0 ? 0 : v >= 255 ? 255 : v | 0;
    v = t2 - o5 + 128.5;
    const p5 = v <= 0 ? 0 : v >= 255 ? 255 : v | 0;
    v = t1 - o6 + 128.5;
    const p6 = v <= 0 ? 0 : v >= 255 ? 255 : v | 0;
    v = t0 - o7 + 128.5;
    const p7 = v <= 0 ? 0 : v >= 255 ? 255 : v | 0;
    lo = p0 | (p1 << 8) | (p2 << 16) | (p3 << 24);
    hi = p4 | (p5 << 8) | (p6 << 16) | (p7 << 24);
    out.setUint32(o, lo, true);
    out.setUint32(o + 4, hi, true);
    o += stride;
  }
}

/**
 * {@link idct8x8To} into a byte array. Exported for the accuracy test only.
 * @param nz @default computed from `blk`
 */
export function idct8x8(blk: Int32Array, ws: Float64Array, out: Uint8Array, o: number, stride: number, nz = nzBits(blk)): void {
  idct8x8To(blk, ws, new DataView(out.buffer, out.byteOffset, out.byteLength), o, stride, nz);
}
