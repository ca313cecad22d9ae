/** Types of the JPEG decoder: its output, its options and one frame component's state. */
import type { HuffTable } from './huffman.js';

/** Output of {@link decodeJpeg}: RGB interleaved, stored orientation (EXIF not applied). */
export interface JpegPixels {
  width: number;
  height: number;
  data: Uint8Array;
  /** Denominator actually used: the image is ceil(original / scale) on each side. */
  scale: 1 | 2 | 4 | 8;
}

/** Options of {@link decodeJpeg}. */
export interface DecodeJpegOptions {
  /**
   * Walk baseline scans at 1/8 scale in WebAssembly (`jpeg-walk/`), falling back to JavaScript
   * wherever it would decide differently. Same output either way; false is for comparisons.
   * @default true
   */
  wasm?: boolean;
}

/** One frame component: its sampling, tables and, while decoding, its coefficients and output plane. */
export interface Component {
  id: number;
  h: number;
  v: number;
  tq: number;
  /** Blocks per line/column in the MCU-padded grid (storage). */
  bpl: number;
  bpc: number;
  /** Blocks actually covering the component (non-interleaved scans visit only these). */
  bplReal: number;
  bpcReal: number;
  /** Progressive: coefficients, `stride` per block (64, or 1 when only DC is needed). */
  coefs: Int16Array | null;
  /**
   * Progressive with all coefficients kept: per block, at least the highest zigzag index holding a
   * nonzero AC coefficient (0: none), so refinement scans stop walking a block there.
   */
  lastZ: Uint8Array | null;
  /** Output plane at the reduced scale: width bpl*k, height bpc*k. */
  plane: Uint8Array;
  /** The same bytes, for the 8×8 IDCT's word stores. */
  planeView: DataView;
  pred: number;
  dcTable: HuffTable | null;
  acTable: HuffTable | null;
}
