/**
 * The differential check: libjpeg-turbo's `djpeg` (Debian's libjpeg-turbo-progs) decodes the same
 * mutant at the same DCT scale, with its float IDCT and replicated ("-nosmooth") chroma
 * upsampling, the two choices closest to the project's decoder; a mutant counts only when djpeg
 * exits 0 with nothing on stderr (no "Corrupt JPEG data" warning).
 */
import { spawnSync } from 'node:child_process';

import { jpegSegments } from './corpus.js';

let available: boolean | undefined;

/** Whether `djpeg` runs here. */
export function djpegAvailable(): boolean {
  available ??= spawnSync('djpeg', ['-version'], { stdio: 'ignore' }).error === undefined;
  return available;
}

/** RGB pixels. */
export interface Pixels {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Parses a binary PGM (P5, expanded to RGB) or PPM (P6). */
export function parsePnm(b: Uint8Array): Pixels | undefined {
  const head = Buffer.from(b.subarray(0, 64)).toString('latin1');
  const m = /^(P[56])\s+(\d+)\s+(\d+)\s+(\d+)\s/.exec(head);
  if (!m || m[4] !== '255') return undefined;
  const [, kind, w, h] = m;
  const width = Number(w);
  const height = Number(h);
  const body = b.subarray(m[0].length);
  if (kind === 'P6') return body.length >= width * height * 3 ? { width, height, data: body.subarray(0, width * height * 3) } : undefined;
  if (body.length < width * height) return undefined;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.fill(body[i]!, i * 3, i * 3 + 3);
  return { width, height, data };
}

/** djpeg's decode of `jpg` at 1/scale; `clean` when it exited 0 without a warning. */
export function djpegDecode(jpg: Uint8Array, scale: 1 | 2 | 4 | 8): { clean: boolean; pixels?: Pixels; warning?: string } {
  const r = spawnSync('djpeg', ['-scale', `1/${scale}`, '-dct', 'float', '-nosmooth', '-pnm'], { input: jpg, maxBuffer: 1 << 30, timeout: 20_000 });
  const clean = r.status === 0 && r.stderr.length === 0;
  const pixels = clean ? parsePnm(new Uint8Array(r.stdout)) : undefined;
  // Its first message with the numbers taken out, so that messages can be counted by kind.
  const warning = clean ? undefined : (r.stderr?.toString('utf8').split('\n')[0] ?? '').replace(/^djpeg: /, '').replace(/0x[0-9a-f]+|\d+/gi, 'N') || `exit ${r.status ?? r.signal}`;
  return { clean: clean && pixels !== undefined, ...(pixels ? { pixels } : {}), ...(warning !== undefined ? { warning } : {}) };
}

/** Sum and largest absolute difference per sample; a size mismatch compares nothing. */
export function pixelDiff(a: Pixels, b: Pixels): { samples: number; sumAbs: number; max: number; sizeMismatch: boolean } {
  if (a.width !== b.width || a.height !== b.height) return { samples: 0, sumAbs: 0, max: 0, sizeMismatch: true };
  let sum = 0;
  let max = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i]! - b.data[i]!);
    sum += d;
    if (d > max) max = d;
  }
  return { samples: a.data.length, sumAbs: sum, max, sizeMismatch: false };
}

/**
 * Whether libjpeg-turbo and the project's decoder compute the same thing at 1/scale, so that
 * pixels must agree up to rounding: at full size always; at 1/8 when no component is subsampled
 * (both use the DC coefficient alone). At 1/2 and 1/4 libjpeg-turbo uses its own reduced IDCTs
 * (jidctred.c: every coefficient but row and column 4, not the top-left k×k), and for subsampled
 * chroma it scales the chroma IDCT up instead of replicating, so those are reported, not judged;
 * so is a CMYK file without an Adobe marker (see below).
 */
export function comparable(jpg: Uint8Array, scale: 1 | 2 | 4 | 8): boolean {
  const segs = jpegSegments(jpg);
  const sof = segs.find((s) => s.marker >= 0xc0 && s.marker <= 0xc2);
  if (!sof) return false;
  const n = jpg[sof.at + 9] ?? 0;
  // djpeg writes every CMYK file to PPM as Adobe-inverted; without an Adobe marker the project
  // reads CMYK as plain ink values, as PIL does (the zoo's reference pipeline): a convention, not judged.
  const adobe = segs.some((s) => s.marker === 0xee && Buffer.from(jpg.subarray(s.at + 4, s.at + 9)).toString('latin1') === 'Adobe');
  if (n === 4 && !adobe) return false;
  if (scale === 1) return true;
  if (scale !== 8) return false;
  const factors = new Set<number>();
  for (let c = 0; c < n; c++) factors.add(jpg[sof.at + 11 + c * 3] ?? 0);
  return factors.size === 1;
}
