/**
 * Runs the resampler's two passes in WebAssembly (see `wat.ts`) for `preprocess.ts`: the same
 * integer arithmetic and the same float32 results as its JavaScript passes, in 0.3–0.5× their
 * time. Only for taps padded to one count per axis (what `computeTaps` gives unless an input is
 * shorter than the filter); the caller resamples in JavaScript when this returns false.
 */
import { ensureMemory, lazyInstance, type WasmMemory } from '../wasm-module.js';
import { RESAMPLE_WASM } from './wasm.js';

/** One axis's filter taps, as `computeTaps` in preprocess.ts makes them. */
export interface AxisTaps {
  /** First source pixel of each output. */
  start: Int32Array;
  /** `ksize` integer weights per output (14 fraction bits). */
  weights: Int32Array;
  ksize: number;
  /** Taps every output has (0: counts differ). */
  fixed: number;
}

interface Exports {
  memory: WasmMemory;
  horizontal(src: number, rowBytes: number, rows: number, w: number, starts: number, weights: number, ksize: number, k: number, mid: number, planeBytes: number): void;
  vertical(mid: number, planeBytes: number, w: number, h: number, starts: number, weights: number, ksize: number, k: number, out: number, outPlaneBytes: number, params: number): void;
}

/** Windows this thread resampled here, and ones it left to JavaScript (tests and benchmarks read these). */
export const resampleStats = { resampled: 0, declined: 0 };

/** The module, instantiated on first use in this thread; null where WebAssembly cannot run it. */
const module = lazyInstance<Exports>(RESAMPLE_WASM);

const align = (n: number): number => (n + 15) & ~15;

/**
 * Source bytes (the rows a window reads) above which JavaScript resamples in place instead: the
 * module's memory grows to the largest copy it has held and never shrinks, and only an image that
 * was not decoded at reduced scale (a 30 MP PNG, say) comes near this; its decode dwarfs the resampling.
 */
const MAX_SRC_BYTES = 16 * 1024 * 1024;

/**
 * Resamples the `w`×`h` output window whose taps are `hx` (columns) and `vy` (rows) from `src`
 * (interleaved RGB, `sw` pixels a row) into `out` as three planes, each level mapped as
 * `level × scale[c] − shift[c]`.
 * @returns false, with `out` untouched, where it cannot or should not: no WebAssembly here, taps
 *   that are not one count per axis, or more than 16 MB of source rows
 */
export function resampleWasm(
  src: Uint8Array,
  sw: number,
  hx: AxisTaps,
  vy: AxisTaps,
  w: number,
  h: number,
  scale: readonly number[],
  shift: readonly number[],
  out: Float32Array,
): boolean {
  const rowLo = vy.start[0]!;
  const rows = vy.start[h - 1]! + vy.fixed - rowLo;
  const rowBytes = sw * 3;
  const m = hx.fixed > 0 && vy.fixed > 0 && rows * rowBytes <= MAX_SRC_BYTES ? module() : null;
  if (!m) {
    resampleStats.declined++;
    return false;
  }
  // Layout: the source rows the window reads, the taps, the scales and shifts, the uint16 planes
  // between the passes (+ 16 bytes read past them), the float32 output (+ 16 written past it).
  const srcAt = 0;
  const hsAt = align(srcAt + rows * rowBytes);
  const hwAt = hsAt + align(w * 4);
  const vsAt = hwAt + align(w * hx.ksize * 4);
  const vwAt = vsAt + align(h * 4);
  const paramsAt = vwAt + align(h * vy.ksize * 4);
  const midAt = paramsAt + 64;
  const midPlane = rows * w * 2;
  const outAt = align(midAt + 3 * midPlane + 16);
  const outPlane = w * h * 4;
  ensureMemory(m.memory, outAt + 3 * outPlane + 16);
  const mem = m.memory.buffer;
  new Uint8Array(mem).set(src.subarray(rowLo * rowBytes, (rowLo + rows) * rowBytes), srcAt);
  const i32 = new Int32Array(mem);
  i32.set(hx.start.subarray(0, w), hsAt / 4);
  i32.set(hx.weights.subarray(0, w * hx.ksize), hwAt / 4);
  for (let y = 0; y < h; y++) i32[vsAt / 4 + y] = vy.start[y]! - rowLo;
  i32.set(vy.weights.subarray(0, h * vy.ksize), vwAt / 4);
  new Float64Array(mem, paramsAt, 6).set([...scale.slice(0, 3), ...shift.slice(0, 3)]);
  m.horizontal(srcAt, rowBytes, rows, w, hsAt, hwAt, hx.ksize, hx.fixed, midAt, midPlane);
  m.vertical(midAt, midPlane, w, h, vsAt, vwAt, vy.ksize, vy.fixed, outAt, outPlane, paramsAt);
  out.set(new Float32Array(mem, outAt, 3 * w * h));
  resampleStats.resampled++;
  return true;
}
