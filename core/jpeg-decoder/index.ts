/**
 * A JPEG decoder written for this project (no third-party source) whose point is speed on large
 * photos: it decodes at 1/1, 1/2, 1/4 or 1/8 scale in the DCT domain, the way libjpeg's
 * `scale_num/scale_denom` does. At 1/8 only the DC coefficient of each block is used, so a 12 MP
 * photo costs one Huffman pass and no IDCT; in a progressive file the AC scans are skipped outright.
 *
 * Supported: baseline and extended (SOF0/SOF1) and progressive (SOF2) Huffman-coded 8-bit files
 * with 1, 3 (YCbCr or RGB) or 4 (CMYK/YCCK) components, any sampling factors, restart markers.
 * Everything else (arithmetic coding, lossless, 12-bit, hierarchical, DNL) makes
 * {@link decodeJpeg} return `null` so the caller can fall back to another decoder.
 * Corrupt or truncated data throws {@link JpegDataError}.
 */
import { Decoder } from './decoder.js';
import type { DecodeJpegOptions, JpegPixels } from './types.js';

export { JpegDataError } from './errors.js';
export { idct4x4, idct8x8 } from './idct.js';
export type { DecodeJpegOptions, JpegPixels } from './types.js';

/**
 * Decodes a JPEG at `1/scale` of its size (each side rounded up).
 * @param bytes the whole file
 * @param scale 1, 2, 4 or 8 @default 1
 * @returns the pixels in stored orientation, or `null` when the file uses a coding feature this
 *   decoder does not implement (the caller should fall back to a general decoder)
 * @throws JpegDataError when the data is corrupt or truncated
 */
export function decodeJpeg(bytes: Uint8Array, scale: 1 | 2 | 4 | 8 = 1, opts: DecodeJpegOptions = {}): JpegPixels | null {
  return new Decoder(bytes, scale, opts.wasm ?? true).decode();
}
