/**
 * Runs the WebAssembly 1/8-scale scan walk (see `wat.ts`) for the JPEG decoder: the scan's DC
 * values for every block, or null whenever the JavaScript path must decide (a Huffman code or DC
 * size it would reject, data that runs out, a missing restart marker, more than four tables). A
 * null costs only the time spent: nothing is written outside this module's memory, and the
 * decoder then reads the scan in JavaScript, which throws its typed errors or reads on as it does.
 */
import { ensureMemory, lazyInstance, type WasmMemory } from '../wasm-module.js';
import { DATA, HEADER, PLAN, PREDS } from './wat.js';
import { JPEG_WALK_WASM } from './wasm.js';

export { MULTI_BITS } from './wat.js';

/** A Huffman table as the walk reads it (the decoder's; an AC table needs its multi-symbol skip table built). */
export interface WalkTable {
  lookup: Uint16Array;
  skip: Uint16Array;
  multi: Uint16Array | null;
  maxcode: Int32Array;
  valptr: Int32Array;
  mincode: Int32Array;
  values: Uint8Array;
}

/** One block of an MCU, in scan order. */
export interface WalkBlock {
  dc: WalkTable;
  ac: WalkTable;
  /** Index of its component in `planes` (and its own DC prediction). */
  comp: number;
  /** The component's DC quantiser. */
  q0: number;
  /** Its column and row (in blocks) inside the MCU. */
  col: number;
  row: number;
  /** Blocks per MCU across and down for its component (1 and 1 in a single-component scan). */
  mcuCols: number;
  mcuRows: number;
}

/** A component's output plane at 1/8 scale: one byte per block, `bpl` per line. */
export interface WalkPlane {
  plane: Uint8Array;
  bpl: number;
}

interface Exports {
  memory: WasmMemory;
  unstuff(src: number, n: number, top: number, rst: number, maxRst: number): void;
  walk(top: number, start: number, mcu0: number, mcus: number, nplan: number, cols: number): number;
}

const SLOT = 0x10000;
const SLOTS = 4;
const MAX_PLAN = 10;
/** Scans larger than this are read in JavaScript (its 64 kB window), not copied into the module's memory. */
const MAX_SCAN_BYTES = 32 * 1024 * 1024;

/** Scans this thread walked here, and scans it left to JavaScript (tests and benchmarks read these). */
export const walkStats = { walked: 0, declined: 0 };

/** The module, instantiated on first use in this thread; null where WebAssembly cannot run it. */
const module = lazyInstance<Exports>(JPEG_WALK_WASM);

const align = (n: number): number => (n + 63) & ~63;

/**
 * Walks a baseline scan at 1/8 scale and writes its blocks' values into the planes.
 * @param scan the file from the scan's first entropy-coded byte to its end
 * @param plan the blocks of one MCU (one block for a single-component scan)
 * @param planes the scan's components' planes, as `WalkBlock.comp` indexes them
 * @param cols MCUs per row
 * @param mcus MCUs in the scan
 * @param restartInterval MCUs per restart interval (0: none)
 * @returns the offset, from the scan's first byte, of the marker that ends it (or the data's
 *   length: none); or null, with the planes untouched: read the scan in JavaScript
 */
export function walkScan8(scan: Uint8Array, plan: readonly WalkBlock[], planes: readonly WalkPlane[], cols: number, mcus: number, restartInterval: number): number | null {
  const end = walk(scan, plan, planes, cols, mcus, restartInterval);
  if (end === null) walkStats.declined++;
  else walkStats.walked++;
  return end;
}

function walk(scan: Uint8Array, plan: readonly WalkBlock[], planes: readonly WalkPlane[], cols: number, mcus: number, restartInterval: number): number | null {
  const m = module();
  if (!m || plan.length === 0 || plan.length > MAX_PLAN || scan.length > MAX_SCAN_BYTES || plan.some((b) => !b.ac.multi)) return null;
  const tables: WalkTable[] = [];
  for (const b of plan) {
    for (const t of [b.dc, b.ac]) if (!tables.includes(t)) tables.push(t);
  }
  if (tables.length > SLOTS) return null;

  // Layout from DATA: the scan's bytes; 64 spare bytes and the unstuffed data backwards below
  // `top` (byte j at top - 1 - j); the planes; the restart offsets.
  const top = align(DATA + scan.length + 64 + 64 + scan.length);
  const bases: number[] = [];
  let at = top + 64;
  for (const p of planes) {
    bases.push(at);
    at = align(at + p.plane.length);
  }
  const maxRst = (restartInterval > 0 ? Math.ceil(mcus / restartInterval) : 0) + 64;
  const rst = at;
  const need = rst + maxRst * 4;
  ensureMemory(m.memory, need);
  const mem = m.memory.buffer;
  const u8 = new Uint8Array(mem);
  const u16 = new Uint16Array(mem);
  const i32 = new Int32Array(mem);

  tables.forEach((t, i) => {
    const base = i * SLOT;
    if (t.multi) u16.set(t.multi, base / 2);
    u16.set(t.lookup, (base + 0x8000) / 2);
    u16.set(t.skip, (base + 0x8400) / 2);
    i32.set(t.maxcode.subarray(0, 18), (base + 0x8800) / 4);
    i32.set(t.valptr.subarray(0, 17), (base + 0x8900) / 4);
    i32.set(t.mincode.subarray(0, 17), (base + 0x8a00) / 4);
    u8.set(t.values.subarray(0, 256), base + 0x8b00);
  });
  plan.forEach((b, i) => {
    const o = (PLAN + i * 32) / 4;
    const { bpl } = planes[b.comp]!;
    i32[o] = tables.indexOf(b.dc) * SLOT;
    i32[o + 1] = tables.indexOf(b.ac) * SLOT;
    i32[o + 2] = PREDS + b.comp * 4;
    i32[o + 3] = b.q0;
    i32[o + 4] = bases[b.comp]! + b.row * bpl + b.col;
    i32[o + 5] = b.mcuRows * bpl;
    i32[o + 6] = b.mcuCols;
  });
  // The planes as they are: blocks this scan does not cover keep their bytes.
  planes.forEach((p, i) => u8.set(p.plane, bases[i]!));

  u8.set(scan, DATA);
  try {
    m.unstuff(DATA, scan.length, top, rst, maxRst);
    const n = i32[HEADER / 4]!;
    const end = i32[HEADER / 4 + 1]!;
    const restarts = i32[HEADER / 4 + 2]!;
    let start = 0;
    let done = 0;
    let next = 0;
    while (done < mcus) {
      const count = restartInterval > 0 ? Math.min(restartInterval, mcus - done) : mcus;
      i32.fill(0, PREDS / 4, PREDS / 4 + MAX_PLAN);
      const bits = m.walk(top, start, done, count, plan.length, cols);
      // Read past the data: the JavaScript reader's rules decide (zeros after a marker, or a cut file).
      if (bits > n * 8) return null;
      done += count;
      if (done < mcus) {
        if (next >= restarts) return null; // a restart marker is missing
        start = i32[rst / 4 + next++]!;
      }
    }
    planes.forEach((p, i) => p.plane.set(u8.subarray(bases[i]!, bases[i]! + p.plane.length)));
    return end;
  } catch {
    return null; // trapped: a code or size the JavaScript reader rejects, or reads far past the data
  }
}
