/** YCbCr→RGB conversion in fixed point, with nearest chroma upsampling, as libjpeg's jdcolor. */

// Fixed-point (16-bit fraction) YCbCr→RGB tables, as libjpeg's jdcolor: the per-pixel work is adds and one shift.
export const CR_R = new Int32Array(256);
export const CB_B = new Int32Array(256);
export const CR_G = new Int32Array(256);
export const CB_G = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  const x = i - 128;
  CR_R[i] = (Math.round(1.402 * 65536) * x + 32768) >> 16;
  CB_B[i] = (Math.round(1.772 * 65536) * x + 32768) >> 16;
  CR_G[i] = -Math.round(0.71414 * 65536) * x;
  CB_G[i] = -Math.round(0.34414 * 65536) * x + 32768;
}

// Range-limit table (libjpeg's sample_range_limit): RANGE[v + RANGE_OFF] is v clamped to 0..255
// for v in -RANGE_OFF..RANGE_OFF+255, which covers every Y + chroma term above.
const RANGE_OFF = 512;
const RANGE = new Uint8Array(1280);
for (let i = 0; i < RANGE.length; i++) RANGE[i] = i < RANGE_OFF ? 0 : i > RANGE_OFF + 255 ? 255 : i - RANGE_OFF;

/**
 * One output row of YCbCr→RGB with nearest chroma upsampling through the column maps. A
 * separate small function so V8 optimises it as a whole rather than by on-stack replacement.
 */
export function yccRow(
  out: Uint8Array, o: number, w: number,
  pY: Uint8Array, rY: number, mY: Int32Array,
  pB: Uint8Array, rB: number, mB: Int32Array,
  pR: Uint8Array, rR: number, mR: Int32Array,
): void {
  for (let x = 0; x < w; x++) {
    const Y = pY[rY + mY[x]] + RANGE_OFF;
    const cb = pB[rB + mB[x]];
    const cr = pR[rR + mR[x]];
    out[o] = RANGE[Y + CR_R[cr]];
    out[o + 1] = RANGE[Y + ((CB_G[cb] + CR_G[cr]) >> 16)];
    out[o + 2] = RANGE[Y + CB_B[cb]];
    o += 3;
  }
}

/** {@link yccRow} for luma at full width and both chroma planes at half width: one chroma lookup per two pixels. */
export function yccRowH2(
  out: Uint8Array, o: number, w: number,
  pY: Uint8Array, rY: number, pB: Uint8Array, rB: number, pR: Uint8Array, rR: number,
): void {
  const pairs = w >> 1;
  for (let i = 0; i < pairs; i++) {
    const cb = pB[rB + i];
    const cr = pR[rR + i];
    const dr = CR_R[cr];
    const dg = (CB_G[cb] + CR_G[cr]) >> 16;
    const db = CB_B[cb];
    let Y = pY[rY] + RANGE_OFF;
    out[o] = RANGE[Y + dr];
    out[o + 1] = RANGE[Y + dg];
    out[o + 2] = RANGE[Y + db];
    Y = pY[rY + 1] + RANGE_OFF;
    out[o + 3] = RANGE[Y + dr];
    out[o + 4] = RANGE[Y + dg];
    out[o + 5] = RANGE[Y + db];
    rY += 2;
    o += 6;
  }
  if (w & 1) {
    const cb = pB[rB + pairs];
    const cr = pR[rR + pairs];
    const Y = pY[rY] + RANGE_OFF;
    out[o] = RANGE[Y + CR_R[cr]];
    out[o + 1] = RANGE[Y + ((CB_G[cb] + CR_G[cr]) >> 16)];
    out[o + 2] = RANGE[Y + CB_B[cb]];
  }
}

/**
 * {@link yccRowH2} for two output rows that share their chroma rows (4:2:0): each chroma pair's
 * table lookups serve four pixels instead of two.
 */
export function yccRowsH2(
  out: Uint8Array, o: number, o2: number, w: number,
  pY: Uint8Array, rY: number, rY2: number, pB: Uint8Array, rB: number, pR: Uint8Array, rR: number,
): void {
  const pairs = w >> 1;
  for (let i = 0; i < pairs; i++) {
    const cb = pB[rB + i];
    const cr = pR[rR + i];
    const dr = CR_R[cr];
    const dg = (CB_G[cb] + CR_G[cr]) >> 16;
    const db = CB_B[cb];
    let Y = pY[rY] + RANGE_OFF;
    out[o] = RANGE[Y + dr];
    out[o + 1] = RANGE[Y + dg];
    out[o + 2] = RANGE[Y + db];
    Y = pY[rY + 1] + RANGE_OFF;
    out[o + 3] = RANGE[Y + dr];
    out[o + 4] = RANGE[Y + dg];
    out[o + 5] = RANGE[Y + db];
    Y = pY[rY2] + RANGE_OFF;
    out[o2] = RANGE[Y + dr];
    out[o2 + 1] = RANGE[Y + dg];
    out[o2 + 2] = RANGE[Y + db];
    Y = pY[rY2 + 1] + RANGE_OFF;
    out[o2 + 3] = RANGE[Y + dr];
    out[o2 + 4] = RANGE[Y + dg];
    out[o2 + 5] = RANGE[Y + db];
    rY += 2;
    rY2 += 2;
    o += 6;
    o2 += 6;
  }
  if (w & 1) {
    const cb = pB[rB + pairs];
    const cr = pR[rR + pairs];
    const dr = CR_R[cr];
    const dg = (CB_G[cb] + CR_G[cr]) >> 16;
    const db = CB_B[cb];
    let Y = pY[rY] + RANGE_OFF;
    out[o] = RANGE[Y + dr];
    out[o + 1] = RANGE[Y + dg];
    out[o + 2] = RANGE[Y + db];
    Y = pY[rY2] + RANGE_OFF;
    out[o2] = RANGE[Y + dr];
    out[o2 + 1] = RANGE[Y + dg];
    out[o2 + 2] = RANGE[Y + db];
  }
}
