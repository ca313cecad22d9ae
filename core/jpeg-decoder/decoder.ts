/**
 * The decoder for one file: markers and segments (DQT, DHT, SOF, SOS, DRI, APPn), bit reading,
 * sequential and progressive scans, reconstruction at the requested scale and the RGB output.
 */
import * as jpegWalk from '../jpeg-walk/index.js';
import type { WalkBlock } from '../jpeg-walk/index.js';
import * as colour from './colour.js';
import { JpegDataError } from './errors.js';
import * as huffman from './huffman.js';
import type { HuffTable } from './huffman.js';
import * as idct from './idct.js';
import * as scanData from './scan-data.js';
import { ScanWindow, type ScanData } from './scan-data.js';
import type { Component, JpegPixels } from './types.js';
import * as zigzag from './zigzag.js';

// The hot loops read the other stages' tables, constants and functions through this module's own
// const bindings: read through an import binding instead, the split decoder measured 2-19 % slower
// at 1/4 to 1/1 scale (same-process A/B against the single-file decoder), and no slower like this.
const { MULTI_BITS, walkScan8 } = jpegWalk;
const { CB_B, CB_G, CR_G, CR_R, yccRow, yccRowH2, yccRowsH2 } = colour;
const { FAST_AC_BITS, fastAcTable, huffTable, LOOKUP_BITS, MULTI_EOB, multiSkipTable, slowHuff } = huffman;
const { idct4x4, idct8x8To, NZ_BITS, ZIGZAG_NZ } = idct;
const { MCU_LOOKAHEAD, unstuff, UNSTUFF_PAD } = scanData;
const { NATURAL } = zigzag;

/** The decoder state for one file. */
export class Decoder {
  private pos = 0;
  private bitBuf = 0;
  private bitCnt = 0;
  private markerHit = false;
  /** Bytes of zero padding fed after the real end of the buffer. */
  private eofBytes = 0;
  private eobrun = 0;
  private readonly qt: (Int32Array | undefined)[] = [];
  private readonly dcTables: (HuffTable | undefined)[] = [];
  private readonly acTables: (HuffTable | undefined)[] = [];
  private restartInterval = 0;
  private comps: Component[] = [];
  private width = 0;
  private height = 0;
  private progressive = false;
  private hmax = 1;
  private vmax = 1;
  private mcusX = 0;
  private mcusY = 0;
  private adobeTransform = -1;
  private jfif = false;
  private k = 8; // output block size: 8 / scale
  private stride = 64;
  /** Coefficients of one block; all zero between blocks of a sequential scan. */
  private readonly block = new Int32Array(64);
  /** Natural indices of the AC coefficients written into `block`. */
  private readonly written = new Uint8Array(64);
  private readonly tmp = new Float64Array(64);

  constructor(
    private readonly d: Uint8Array,
    private readonly scale: 1 | 2 | 4 | 8,
    private readonly wasm = true,
  ) {
    this.k = 8 / scale;
  }

  private u16(p: number): number {
    if (p + 1 >= this.d.length) throw new JpegDataError('unexpected end of file in a marker segment');
    return (this.d[p] << 8) | this.d[p + 1];
  }

  decode(): JpegPixels | null {
    const d = this.d;
    if (d.length < 4 || d[0] !== 0xff || d[1] !== 0xd8) throw new JpegDataError('missing SOI marker');
    this.pos = 2;
    let frameSeen = false;
    let scans = 0;
    for (;;) {
      // Find the next marker, skipping fill bytes and tolerating stray garbage between segments.
      while (this.pos < d.length && d[this.pos] !== 0xff) this.pos++;
      while (this.pos < d.length && d[this.pos] === 0xff) this.pos++;
      if (this.pos >= d.length) {
        if (scans > 0) break; // missing EOI after complete scans: accept, as libjpeg does
        throw new JpegDataError('unexpected end of file before any image data');
      }
      const m = d[this.pos++];
      if (m === 0xd9) break; // EOI
      if (m >= 0xd0 && m <= 0xd7) continue; // stray RST
      const len = this.u16(this.pos);
      const seg = this.pos + 2;
      const end = this.pos + len;
      if (len < 2 || end > d.length) throw new JpegDataError('marker segment runs past the end of the file');
      switch (m) {
        case 0xc0:
        case 0xc1:
        case 0xc2:
          if (frameSeen) throw new JpegDataError('two frames');
          frameSeen = true;
          this.progressive = m === 0xc2;
          if (!this.readFrame(seg)) return null;
          this.pos = end;
          break;
        case 0xc3: case 0xc5: case 0xc6: case 0xc7: case 0xc9: case 0xca: case 0xcb: case 0xcd: case 0xce: case 0xcf:
          return null; // lossless, hierarchical or arithmetic-coded
        case 0xc4:
          this.readHuffman(seg, end);
          this.pos = end;
          break;
        case 0xdb:
          this.readQuant(seg, end);
          this.pos = end;
          break;
        case 0xdd:
          this.restartInterval = this.u16(seg);
          this.pos = end;
          break;
        case 0xdc:
          return null; // DNL
        case 0xe0:
          if (len >= 7 && d[seg] === 0x4a && d[seg + 1] === 0x46 && d[seg + 2] === 0x49 && d[seg + 3] === 0x46) this.jfif = true;
          this.pos = end;
          break;
        case 0xee:
          // Adobe: "Adobe" + version(2) + flags0(2) + flags1(2) + transform(1)
          if (len >= 14 && d[seg] === 0x41 && d[seg + 1] === 0x64 && d[seg + 2] === 0x6f) this.adobeTransform = d[seg + 11];
          this.pos = end;
          break;
        case 0xda: {
          if (!frameSeen) throw new JpegDataError('scan before frame header');
          this.pos = end;
          this.readScan(seg);
          scans++;
          break;
        }
        default:
          this.pos = end; // APPn, COM and anything else we do not need
      }
    }
    if (!frameSeen || scans === 0) throw new JpegDataError('no image data');
    if (this.progressive) this.idctAll();
    return this.toRgb();
  }

  private readQuant(p: number, end: number): void {
    const d = this.d;
    while (p < end) {
      const pq = d[p] >> 4;
      const tq = d[p] & 15;
      p++;
      if (tq > 3) throw new JpegDataError('bad quantisation table id');
      const t = new Int32Array(64);
      for (let i = 0; i < 64; i++) {
        if (pq === 0) t[i] = d[p++];
        else {
          t[i] = (d[p] << 8) | d[p + 1];
          p += 2;
        }
      }
      if (p > end) throw new JpegDataError('quantisation table runs past its segment');
      this.qt[tq] = t; // zigzag order
    }
  }

  private readHuffman(p: number, end: number): void {
    const d = this.d;
    while (p < end) {
      const tc = d[p] >> 4;
      const th = d[p] & 15;
      p++;
      if (p + 16 > end || th > 3 || tc > 1) throw new JpegDataError('bad Huffman table header');
      let total = 0;
      for (let i = 0; i < 16; i++) total += d[p + i];
      if (p + 16 + total > end || total > 256) throw new JpegDataError('Huffman table runs past its segment');
      const table = huffTable(d.subarray(p, p + 16 + total));
      p += 16 + total;
      if (tc === 0) this.dcTables[th] = table;
      else this.acTables[th] = table;
    }
  }

  private readFrame(p: number): boolean {
    const d = this.d;
    const precision = d[p];
    this.height = this.u16(p + 1);
    this.width = this.u16(p + 3);
    const n = d[p + 5];
    if (precision !== 8 || this.height === 0) return false;
    if (this.width === 0 || !(n === 1 || n === 3 || n === 4)) throw new JpegDataError('bad frame header');
    p += 6;
    for (let i = 0; i < n; i++) {
      const h = d[p + 1] >> 4;
      const v = d[p + 1] & 15;
      if (h < 1 || h > 4 || v < 1 || v > 4) throw new JpegDataError('bad sampling factors');
      this.comps.push({
        id: d[p], h, v, tq: d[p + 2], bpl: 0, bpc: 0, bplReal: 0, bpcReal: 0,
        coefs: null, lastZ: null, plane: new Uint8Array(0), planeView: new DataView(new ArrayBuffer(0)), pred: 0, dcTable: null, acTable: null,
      });
      p += 3;
    }
    if (n > 1 && this.comps.reduce((sum, c) => sum + c.h * c.v, 0) > 10) throw new JpegDataError('more than 10 blocks per MCU');
    if (n === 1) {
      // A single-component frame is coded block by block whatever its sampling factors say.
      this.comps[0].h = 1;
      this.comps[0].v = 1;
    }
    this.hmax = Math.max(...this.comps.map((c) => c.h));
    this.vmax = Math.max(...this.comps.map((c) => c.v));
    this.mcusX = Math.ceil(this.width / (8 * this.hmax));
    this.mcusY = Math.ceil(this.height / (8 * this.vmax));
    // Only the DC coefficient is needed at 1/8, so progressive files keep just that.
    this.stride = this.k === 1 ? 1 : 64;
    const k = this.k;
    for (const c of this.comps) {
      c.bpl = this.mcusX * c.h;
      c.bpc = this.mcusY * c.v;
      c.bplReal = Math.ceil(Math.ceil((this.width * c.h) / this.hmax) / 8);
      c.bpcReal = Math.ceil(Math.ceil((this.height * c.v) / this.vmax) / 8);
      c.plane = new Uint8Array(c.bpl * k * c.bpc * k);
      c.planeView = new DataView(c.plane.buffer);
      if (this.progressive) c.coefs = new Int16Array(c.bpl * c.bpc * this.stride);
      if (this.progressive && this.stride === 64) c.lastZ = new Uint8Array(c.bpl * c.bpc);
    }
    return true;
  }

  // ---- bit reading -------------------------------------------------------------------------

  private fill(): void {
    const d = this.d;
    while (this.bitCnt <= 24) {
      let byte = 0;
      if (this.markerHit) {
        // Past a marker inside a scan: feed zeros as libjpeg does ("premature end of data segment").
      } else if (this.pos >= d.length) {
        this.eofBytes++;
        if (this.eofBytes > 64) throw new JpegDataError('file is truncated');
      } else {
        byte = d[this.pos];
        if (byte === 0xff) {
          if (this.pos + 1 >= d.length) {
            // A lone 0xFF as the last byte: the file was cut.
            this.pos = d.length;
            this.eofBytes++;
            byte = 0;
          } else if (d[this.pos + 1] === 0) this.pos += 2;
          else {
            this.markerHit = true;
            byte = 0;
          }
        } else this.pos++;
      }
      this.bitBuf = (this.bitBuf << 8) | byte;
      this.bitCnt += 8;
    }
  }

  private decodeHuff(t: HuffTable): number {
    if (this.bitCnt < 16) this.fill();
    const e = t.lookup[(this.bitBuf >>> (this.bitCnt - LOOKUP_BITS)) & ((1 << LOOKUP_BITS) - 1)];
    if (e !== 0) {
      this.bitCnt -= e >> 8;
      return e & 0xff;
    }
    const code16 = (this.bitBuf >>> (this.bitCnt - 16)) & 0xffff;
    for (let len = LOOKUP_BITS + 1; len <= 16; len++) {
      const c = code16 >>> (16 - len);
      if (c <= t.maxcode[len]) {
        this.bitCnt -= len;
        return t.values[t.valptr[len] + c - t.mincode[len]];
      }
    }
    throw new JpegDataError('bad Huffman code');
  }

  private receive(s: number): number {
    if (this.bitCnt < s) this.fill();
    this.bitCnt -= s;
    return (this.bitBuf >>> this.bitCnt) & ((1 << s) - 1);
  }

  private receiveExtend(s: number): number {
    const v = this.receive(s);
    return v < 1 << (s - 1) ? v - (1 << s) + 1 : v;
  }

  private bit(): number {
    if (this.bitCnt < 1) this.fill();
    this.bitCnt--;
    return (this.bitBuf >>> this.bitCnt) & 1;
  }

  /** Skips to just past an RSTn marker and resets the entropy decoder. */
  private restart(): void {
    const d = this.d;
    this.bitCnt = 0;
    this.bitBuf = 0;
    this.markerHit = false;
    this.eobrun = 0;
    for (const c of this.comps) c.pred = 0;
    while (this.pos + 1 < d.length) {
      if (d[this.pos] === 0xff && d[this.pos + 1] >= 0xd0 && d[this.pos + 1] <= 0xd7) {
        this.pos += 2;
        return;
      }
      if (d[this.pos] === 0xff && d[this.pos + 1] !== 0 && d[this.pos + 1] !== 0xff) return; // other marker: let the caller see it
      this.pos++;
    }
  }

  // ---- scans -------------------------------------------------------------------------------

  private readScan(p: number): void {
    const d = this.d;
    const ns = d[p];
    const scomps: Component[] = [];
    for (let i = 0; i < ns; i++) {
      const id = d[p + 1 + i * 2];
      const tables = d[p + 2 + i * 2];
      const c = this.comps.find((x) => x.id === id);
      if (!c) throw new JpegDataError('scan names an unknown component');
      c.dcTable = this.dcTables[tables >> 4] ?? null;
      c.acTable = this.acTables[tables & 15] ?? null;
      scomps.push(c);
    }
    p += 1 + ns * 2;
    const ss = d[p];
    const se = d[p + 1];
    const ah = d[p + 2] >> 4;
    const al = d[p + 2] & 15;
    if (ns < 1 || ns > 4 || se > 63 || ss > se) throw new JpegDataError('bad scan header');

    if (this.progressive && ss > 0 && this.k === 1) {
      this.skipEntropyData(); // AC scans add nothing to a DC-only (1/8) decode
      return;
    }
    this.bitCnt = 0;
    this.bitBuf = 0;
    this.markerHit = false;
    this.eofBytes = 0;
    this.eobrun = 0;
    for (const c of scomps) c.pred = 0;

    type BlockFn = (c: Component, bx: number, by: number) => void;
    let fn: BlockFn;
    if (ss === 0) {
      if (ah === 0) fn = (c, bx, by) => this.blockDcFirst(c, bx, by, al);
      else fn = (c, bx, by) => this.blockDcRefine(c, bx, by, al);
    } else if (ah === 0) fn = (c, bx, by) => this.blockAcFirst(c, bx, by, ss, se, al);
    else fn = (c, bx, by) => this.blockAcRefine(c, bx, by, ss, se, al);
    for (const c of scomps) {
      // A sequential scan codes DC and AC whatever its (then meaningless) Ss/Ah say: both tables.
      if (((!this.progressive || (ss === 0 && ah === 0)) && !c.dcTable) || ((ss > 0 || !this.progressive) && !c.acTable)) {
        throw new JpegDataError('scan uses an undefined Huffman table');
      }
      if (!this.qt[c.tq]) throw new JpegDataError('component uses an undefined quantisation table');
    }

    if (!this.progressive) {
      this.scanBaseline(scomps);
      return;
    }
    const sd = unstuff(d, this.pos);
    // A scan cut off by the end of the file keeps the per-block reader below: its truncation
    // checks count the bytes it fetched past the end, which decide where (and whether) a cut file
    // fails. So do AC scans naming several components (not allowed, but decoded in MCU order).
    if (sd.endsAtMarker && (ss === 0 || ns === 1)) {
      this.pos = sd.end;
      if (ss === 0) this.scanDc(scomps, sd, ah, al);
      else if (ah === 0) this.scanAcFirst(scomps[0], sd, ss, se, al);
      else this.scanAcRefine(scomps[0], sd, ss, se, al);
      return;
    }
    // The per-block reader does not keep lastZ: let later refinements walk whole blocks.
    if (ss > 0) for (const c of scomps) c.lastZ?.fill(63);

    const ri = this.restartInterval;
    let mcu = 0;
    if (ns === 1) {
      const c = scomps[0];
      for (let by = 0; by < c.bpcReal; by++) {
        for (let bx = 0; bx < c.bplReal; bx++) {
          if (ri > 0 && mcu > 0 && mcu % ri === 0) this.restart();
          fn(c, bx, by);
          mcu++;
        }
        if (this.eofBytes > 8) throw new JpegDataError('file is truncated');
      }
    } else {
      for (let my = 0; my < this.mcusY; my++) {
        for (let mx = 0; mx < this.mcusX; mx++) {
          if (ri > 0 && mcu > 0 && mcu % ri === 0) this.restart();
          for (const c of scomps) {
            for (let v = 0; v < c.v; v++) {
              for (let h = 0; h < c.h; h++) fn(c, mx * c.h + h, my * c.v + v);
            }
          }
          mcu++;
        }
        if (this.eofBytes > 8) throw new JpegDataError('file is truncated');
      }
    }
    if (this.eofBytes > 8) throw new JpegDataError('file is truncated');
    // The position now points at the next marker (or slightly before: the marker search skips).
    if (this.markerHit) return;
    // Bytes still buffered in bitBuf were consumed from the stream; the search for the next marker handles the rest.
  }

  private skipEntropyData(): void {
    const d = this.d;
    let p = this.pos;
    while (p + 1 < d.length) {
      if (d[p] === 0xff) {
        const n = d[p + 1];
        if (n !== 0 && !(n >= 0xd0 && n <= 0xd7) && n !== 0xff) break;
      }
      p++;
    }
    this.pos = p;
  }

  /**
   * A sequential scan at 1/8 scale through the WebAssembly walk (`jpeg-walk/`): only each block's
   * DC value is kept, and the walk writes it into the component's plane, as the JavaScript reader
   * below does (same tables, same arithmetic).
   * @returns false when the walk left the scan to JavaScript (no plane was written)
   */
  private scanBaselineWasm8(scomps: Component[]): boolean {
    const single = scomps.length === 1;
    const plan: WalkBlock[] = [];
    scomps.forEach((c, comp) => {
      const ac = c.acTable as HuffTable;
      multiSkipTable(ac); // built once per table
      const dc = c.dcTable as HuffTable;
      const q0 = (this.qt[c.tq] as Int32Array)[0];
      const mcuRows = single ? 1 : c.v;
      const mcuCols = single ? 1 : c.h;
      for (let row = 0; row < mcuRows; row++) {
        for (let col = 0; col < mcuCols; col++) plan.push({ dc, ac, comp, q0, col, row, mcuCols, mcuRows });
      }
    });
    const rows = single ? scomps[0].bpcReal : this.mcusY;
    const cols = single ? scomps[0].bplReal : this.mcusX;
    const end = walkScan8(this.d.subarray(this.pos), plan, scomps, cols, rows * cols, this.restartInterval);
    if (end === null) return false;
    this.pos += end;
    return true;
  }

  /**
   * A whole sequential (baseline/extended) scan. The stuffing is removed first ({@link unstuff}),
   * so the bit reader is a bit position into a plain byte array and every peek is one 32-bit load:
   * the state lives in locals for the whole scan instead of in fields per symbol.
   */
  private scanBaseline(scomps: Component[]): void {
    if (this.k === 1 && this.wasm && this.scanBaselineWasm8(scomps)) return;
    const sd = new ScanWindow(this.d, this.pos);
    let dv = sd.view;
    const k = this.k;
    const blk = this.block;
    blk.fill(0);
    const written = this.written;
    const ri = this.restartInterval;
    let rstNext = 0;
    let bp = 0;
    for (const c of scomps) c.pred = 0;
    const single = scomps.length === 1;
    const rows = single ? scomps[0].bpcReal : this.mcusY;
    const cols = single ? scomps[0].bplReal : this.mcusX;
    let mcu = 0;
    for (let my = 0; my < rows; my++) {
      for (let mx = 0; mx < cols; mx++) {
        if (ri > 0 && mcu > 0 && mcu % ri === 0) {
          // Restart: the next interval starts byte-aligned after its RSTn marker, predictions reset.
          // Its marker may lie beyond the window (data the reader skips): unstuff on to it.
          while (rstNext >= sd.restarts.length && !sd.done) {
            bp = sd.slide(Math.min(bp >>> 3, sd.filled), bp);
            dv = sd.view;
          }
          if (rstNext < sd.restarts.length) bp = (sd.restarts[rstNext++] - sd.base) * 8;
          for (const c of scomps) c.pred = 0;
        }
        mcu++;
        for (let ci = 0; ci < scomps.length; ci++) {
          const c = scomps[ci];
          const q = this.qt[c.tq] as Int32Array;
          const dcT = c.dcTable as HuffTable;
          const acT = c.acTable as HuffTable;
          const nv = single ? 1 : c.v;
          const nh = single ? 1 : c.h;
          for (let v = 0; v < nv; v++) {
            for (let h = 0; h < nh; h++) {
              const bx = single ? mx : mx * c.h + h;
              const by = single ? my : my * c.v + v;
              // DC: a Huffman-coded size, then that many bits of difference.
              let w = dv.getUint32(bp >>> 3) << (bp & 7);
              let e = dcT.lookup[w >>> (32 - LOOKUP_BITS)];
              if (e === 0) e = slowHuff(dcT, w >>> 16);
              bp += e >> 8;
              const t = e & 0xff;
              if (t !== 0) {
                if (t > 16) throw new JpegDataError('bad DC difference size');
                w = dv.getUint32(bp >>> 3) << (bp & 7);
                const bits = w >>> (32 - t);
                bp += t;
                c.pred += bits < 1 << (t - 1) ? bits - (1 << t) + 1 : bits;
              }
              if (k === 1) {
                // 1/8 scale: only DC is used; walk the AC symbols with the combined skip table.
                const skip = acT.skip;
                const multi = acT.multi ?? multiSkipTable(acT);
                for (let z = 1; z < 64; ) {
                  w = dv.getUint32(bp >>> 3) << (bp & 7);
                  const g = multi[w >>> (32 - MULTI_BITS)];
                  const need = (g >> 4) & 127;
                  if (g !== 0 && z + need <= 64) {
                    bp += g & 15;
                    if ((g & MULTI_EOB) !== 0) break;
                    z += need;
                    continue;
                  }
                  const sk = skip[w >>> (32 - LOOKUP_BITS)];
                  if (sk !== 0) {
                    bp += sk & 31;
                    z += sk >> 5;
                    continue;
                  }
                  const ls = slowHuff(acT, w >>> 16);
                  bp += ls >> 8;
                  const s = ls & 15;
                  const r = (ls >> 4) & 15;
                  if (s === 0) {
                    if (r !== 15) break;
                    z += 16;
                    continue;
                  }
                  z += r + 1;
                  bp += s;
                }
                const val = ((c.pred * q[0] + 4) >> 3) + 128;
                c.plane[by * c.bpl + bx] = val < 0 ? 0 : val > 255 ? 255 : val;
                continue;
              }
              blk[0] = c.pred * q[0];
              // Which rows/columns hold a coefficient, for the IDCT's shortcuts; 0 = DC only.
              let nz = 0;
              let nw = 0;
              const lut = acT.lookup;
              const fast = acT.fast ?? fastAcTable(acT);
              for (let z = 1; z < 64; ) {
                w = dv.getUint32(bp >>> 3) << (bp & 7);
                let val: number;
                const f = fast[w >>> (32 - FAST_AC_BITS)];
                if (f !== 0) {
                  bp += f & 31;
                  z += (f >> 5) & 15;
                  if (z > 63) throw new JpegDataError('coefficient index past 63');
                  val = f >> 9;
                } else {
                  e = lut[w >>> (32 - LOOKUP_BITS)];
                  if (e === 0) e = slowHuff(acT, w >>> 16);
                  bp += e >> 8;
                  const s = e & 15;
                  const r = (e >> 4) & 15;
                  if (s === 0) {
                    if (r !== 15) break;
                    z += 16;
                    continue;
                  }
                  z += r;
                  if (z > 63) throw new JpegDataError('coefficient index past 63');
                  w = dv.getUint32(bp >>> 3) << (bp & 7);
                  const bits = w >>> (32 - s);
                  bp += s;
                  // EXTEND: a leading 0 bit means a negative value.
                  val = bits < 1 << (s - 1) ? bits - (1 << s) + 1 : bits;
                }
                const zz = ZIGZAG_NZ[z];
                const n = zz >>> 24;
                blk[n] = val * q[z];
                written[nw++] = n;
                nz |= zz;
                z++;
              }
              this.idctBlock(blk, c, bx, by, nz & 0xffffff);
              // Leave the block zeroed for the next one: clearing what was written beats a 64-entry fill.
              for (let i = 0; i < nw; i++) blk[written[i]] = 0;
            }
          }
        }
        if (!sd.done && (bp >>> 3) + MCU_LOOKAHEAD > sd.filled) {
          // Keep the next MCU's bytes unstuffed ahead of the reader, and a restart position
          // already found behind it (a corrupt interval can overrun its marker).
          bp = sd.slide(Math.min(bp >>> 3, rstNext < sd.restarts.length ? sd.restarts[rstNext] - sd.base : sd.filled), bp);
          dv = sd.view;
        }
        // Past the data: zeros stand in after a marker (as libjpeg does); at the end of the file
        // they mean it was cut. One MCU reads at most UNSTUFF_PAD bytes, so the loads stay inside.
        const over = (bp >>> 3) - sd.filled;
        if (sd.done && over > 0) {
          if (!sd.endsAtMarker && over > 64) throw new JpegDataError('file is truncated');
          if (over > UNSTUFF_PAD / 2) bp = sd.filled * 8; // more zeros: the padding again
        }
      }
      if (sd.done && !sd.endsAtMarker && (bp >>> 3) - sd.filled > 8) throw new JpegDataError('file is truncated');
    }
    sd.finish();
    this.pos = sd.end;
  }

  // Progressive scans that end at a marker, read like scanBaseline: the bit position in a local
  // over the unstuffed data. Past the data the padding gives zeros, as the marker gives libjpeg;
  // the reader is pulled back into the padding once it is more than half way through it.

  /** Bit position where restart interval `n` (counted from 0 after the first) begins. */
  private static restartBits(sd: ScanData, n: number): number {
    // A missing RSTn: the per-block reader skipped to the next marker and read zeros from there.
    return (n < sd.restarts.length ? sd.restarts[n] : sd.length) * 8;
  }

  /**
   * A progressive DC scan, first pass (`ah` = 0: Huffman-coded differences) or refinement (one bit
   * per block). Several components come in interleaved MCUs; one alone is coded block by block over
   * the blocks that cover it.
   */
  private scanDc(scomps: Component[], sd: ScanData, ah: number, al: number): void {
    const dv = sd.view;
    const len = sd.length;
    const pullBack = (len + UNSTUFF_PAD / 2) * 8;
    const ri = this.restartInterval;
    const stride = this.stride;
    const single = scomps.length === 1;
    const rows = single ? scomps[0].bpcReal : this.mcusY;
    const cols = single ? scomps[0].bplReal : this.mcusX;
    const bit = 1 << al;
    let rstNext = 0;
    let bp = 0;
    let mcu = 0;
    for (const c of scomps) c.pred = 0;
    for (let my = 0; my < rows; my++) {
      for (let mx = 0; mx < cols; mx++) {
        if (ri > 0 && mcu > 0 && mcu % ri === 0) {
          bp = Decoder.restartBits(sd, rstNext++);
          for (const c of scomps) c.pred = 0;
        }
        mcu++;
        for (let ci = 0; ci < scomps.length; ci++) {
          const c = scomps[ci];
          const co = c.coefs as Int16Array;
          const nv = single ? 1 : c.v;
          const nh = single ? 1 : c.h;
          for (let v = 0; v < nv; v++) {
            for (let h = 0; h < nh; h++) {
              const i = ((single ? my : my * c.v + v) * c.bpl + (single ? mx : mx * c.h + h)) * stride;
              if (ah !== 0) {
                if ((dv.getUint8(bp >>> 3) << (bp & 7)) & 0x80) co[i] |= bit;
                bp++;
                continue;
              }
              const dcT = c.dcTable as HuffTable;
              let w = dv.getUint32(bp >>> 3) << (bp & 7);
              let e = dcT.lookup[w >>> (32 - LOOKUP_BITS)];
              if (e === 0) e = slowHuff(dcT, w >>> 16);
              bp += e >> 8;
              const t = e & 0xff;
              if (t !== 0) {
                if (t > 16) throw new JpegDataError('bad DC difference size');
                w = dv.getUint32(bp >>> 3) << (bp & 7);
                const bits = w >>> (32 - t);
                bp += t;
                c.pred += bits < 1 << (t - 1) ? bits - (1 << t) + 1 : bits;
              }
              co[i] = c.pred * bit;
            }
          }
        }
        if (bp > pullBack) bp = len * 8;
      }
    }
  }

  /** A progressive AC first pass over one component: coefficients `ss`..`se` scaled by 2^`al`, with EOB runs. */
  private scanAcFirst(c: Component, sd: ScanData, ss: number, se: number, al: number): void {
    const dv = sd.view;
    const len = sd.length;
    const pullBack = (len + UNSTUFF_PAD / 2) * 8;
    const ri = this.restartInterval;
    const co = c.coefs as Int16Array;
    const acT = c.acTable as HuffTable;
    const lut = acT.lookup;
    const fast = acT.fast ?? fastAcTable(acT);
    const mul = 1 << al;
    const lastZ = c.lastZ as Uint8Array;
    let rstNext = 0;
    let bp = 0;
    let mcu = 0;
    /** Blocks still to skip: an EOBn symbol ends this many following blocks as well. */
    let eobrun = 0;
    for (let by = 0; by < c.bpcReal; by++) {
      for (let bx = 0; bx < c.bplReal; bx++) {
        if (ri > 0 && mcu > 0 && mcu % ri === 0) {
          bp = Decoder.restartBits(sd, rstNext++);
          eobrun = 0;
        }
        mcu++;
        if (eobrun > 0) {
          eobrun--;
          continue;
        }
        const blkNo = by * c.bpl + bx;
        const base = blkNo * 64;
        let stored = 0;
        for (let z = ss; z <= se; ) {
          let w = dv.getUint32(bp >>> 3) << (bp & 7);
          const f = fast[w >>> (32 - FAST_AC_BITS)];
          if (f !== 0) {
            // Code and value in one lookup.
            bp += f & 31;
            z += (f >> 5) & 15;
            if (z > 63) throw new JpegDataError('coefficient index past 63');
            co[base + NATURAL[z]] = (f >> 9) * mul;
            stored = z;
            z++;
            continue;
          }
          let e = lut[w >>> (32 - LOOKUP_BITS)];
          if (e === 0) e = slowHuff(acT, w >>> 16);
          bp += e >> 8;
          const s = e & 15;
          const r = (e >> 4) & 15;
          if (s === 0) {
            if (r < 15) {
              // EOBr: this block and 2^r − 1 + (r more bits) blocks after it end here.
              eobrun = (1 << r) - 1;
              if (r > 0) {
                w = dv.getUint32(bp >>> 3) << (bp & 7);
                eobrun += w >>> (32 - r);
                bp += r;
              }
              break;
            }
            z += 16;
            continue;
          }
          z += r;
          if (z > 63) throw new JpegDataError('coefficient index past 63');
          w = dv.getUint32(bp >>> 3) << (bp & 7);
          const bits = w >>> (32 - s);
          bp += s;
          co[base + NATURAL[z]] = (bits < 1 << (s - 1) ? bits - (1 << s) + 1 : bits) * mul;
          stored = z;
          z++;
        }
        if (stored > lastZ[blkNo]) lastZ[blkNo] = stored;
        if (bp > pullBack) bp = len * 8;
      }
    }
  }

  /**
   * A progressive AC refinement over one component: one correction bit for each coefficient already
   * nonzero that the scan passes, and new coefficients of ±2^`al` (libjpeg's decode_mcu_AC_refine).
   */
  private scanAcRefine(c: Component, sd: ScanData, ss: number, se: number, al: number): void {
    const dv = sd.view;
    const u8 = new Uint8Array(dv.buffer, dv.byteOffset, dv.byteLength);
    const len = sd.length;
    const pullBack = (len + UNSTUFF_PAD / 2) * 8;
    const ri = this.restartInterval;
    const co = c.coefs as Int16Array;
    const acT = c.acTable as HuffTable;
    const lut = acT.lookup;
    const p1 = 1 << al;
    const m1 = -1 << al;
    const lastZ = c.lastZ as Uint8Array;
    let rstNext = 0;
    let bp = 0;
    let mcu = 0;
    let eobrun = 0;
    for (let by = 0; by < c.bpcReal; by++) {
      for (let bx = 0; bx < c.bplReal; bx++) {
        if (ri > 0 && mcu > 0 && mcu % ri === 0) {
          bp = Decoder.restartBits(sd, rstNext++);
          eobrun = 0;
        }
        mcu++;
        const blkNo = by * c.bpl + bx;
        const base = blkNo * 64;
        let last = lastZ[blkNo];
        let z = ss;
        if (eobrun === 0) {
          for (; z <= se; z++) {
            const w = dv.getUint32(bp >>> 3) << (bp & 7);
            let e = lut[w >>> (32 - LOOKUP_BITS)];
            if (e === 0) e = slowHuff(acT, w >>> 16);
            const cl = e >> 8;
            bp += cl;
            let r = (e >> 4) & 15;
            let s = e & 15;
            if (s !== 0) {
              // A new coefficient: its sign is the bit after the code (code ≤ 16 bits, so still in w).
              s = w << cl < 0 ? p1 : m1;
              bp++;
            } else if (r !== 15) {
              eobrun = 1 << r;
              if (r > 0) {
                eobrun += (dv.getUint32(bp >>> 3) << (bp & 7)) >>> (32 - r);
                bp += r;
              }
              break;
            }
            // Skip r zero coefficients (refining the nonzero ones passed), then place the new one.
            if (z > last) z = z + r > se + 1 ? se + 1 : z + r; // all zero from here: no correction bits to read
            else while (z <= se) {
              const idx = base + NATURAL[z];
              const v = co[idx];
              if (v !== 0) {
                if ((u8[bp >>> 3] << (bp & 7)) & 0x80 && (v & p1) === 0) co[idx] = v + (v >= 0 ? p1 : m1);
                bp++;
              } else {
                if (r === 0) break;
                r--;
              }
              z++;
            }
            if (s !== 0) {
              // A zero run past the band (damaged data) leaves z at se + 1: libjpeg-turbo places the
              // coefficient there (63 at most) without a warning, so the same here.
              const at = z > 63 ? 63 : z;
              co[base + NATURAL[at]] = s;
              if (at > last) last = at;
            }
          }
          lastZ[blkNo] = last;
        }
        if (eobrun > 0) {
          // Inside an EOB run: only the correction bits of the nonzero coefficients left, none past `last`.
          const end = last < se ? last : se;
          for (; z <= end; z++) {
            const idx = base + NATURAL[z];
            const v = co[idx];
            if (v !== 0) {
              if ((u8[bp >>> 3] << (bp & 7)) & 0x80 && (v & p1) === 0) co[idx] = v + (v >= 0 ? p1 : m1);
              bp++;
            }
          }
          eobrun--;
        }
        if (bp > pullBack) bp = len * 8;
      }
    }
  }

  private blockDcFirst(c: Component, bx: number, by: number, al: number): void {
    const t = this.decodeHuff(c.dcTable as HuffTable);
    if (t !== 0) c.pred += this.receiveExtend(t);
    (c.coefs as Int16Array)[(by * c.bpl + bx) * this.stride] = c.pred * (1 << al);
  }

  private blockDcRefine(c: Component, bx: number, by: number, al: number): void {
    if (this.bit()) (c.coefs as Int16Array)[(by * c.bpl + bx) * this.stride] |= 1 << al;
  }

  private blockAcFirst(c: Component, bx: number, by: number, ss: number, se: number, al: number): void {
    if (this.eobrun > 0) {
      this.eobrun--;
      return;
    }
    const co = c.coefs as Int16Array;
    const base = (by * c.bpl + bx) * 64;
    const ac = c.acTable as HuffTable;
    for (let z = ss; z <= se; ) {
      const rs = this.decodeHuff(ac);
      const s = rs & 15;
      const r = rs >> 4;
      if (s === 0) {
        if (r < 15) {
          this.eobrun = (1 << r) - 1;
          if (r > 0) this.eobrun += this.receive(r);
          break;
        }
        z += 16;
        continue;
      }
      z += r;
      if (z > 63) throw new JpegDataError('coefficient index past 63');
      co[base + NATURAL[z]] = this.receiveExtend(s) * (1 << al);
      z++;
    }
  }

  private blockAcRefine(c: Component, bx: number, by: number, ss: number, se: number, al: number): void {
    const co = c.coefs as Int16Array;
    const base = (by * c.bpl + bx) * 64;
    const p1 = 1 << al;
    const m1 = -1 << al;
    const ac = c.acTable as HuffTable;
    let z = ss;
    if (this.eobrun === 0) {
      for (; z <= se; z++) {
        const rs = this.decodeHuff(ac);
        let r = rs >> 4;
        let s = rs & 15;
        if (s !== 0) {
          s = this.bit() ? p1 : m1;
        } else if (r !== 15) {
          this.eobrun = 1 << r;
          if (r > 0) this.eobrun += this.receive(r);
          break;
        }
        while (z <= se) {
          const idx = base + NATURAL[z];
          if (co[idx] !== 0) {
            if (this.bit() && (co[idx] & p1) === 0) co[idx] += co[idx] >= 0 ? p1 : m1;
          } else {
            if (r === 0) break;
            r--;
          }
          z++;
        }
        // Past the band (damaged data): at se + 1, 63 at most, as libjpeg-turbo does (see scanAcRefine).
        if (s !== 0) co[base + NATURAL[z > 63 ? 63 : z]] = s;
      }
    }
    if (this.eobrun > 0) {
      for (; z <= se; z++) {
        const idx = base + NATURAL[z];
        if (co[idx] !== 0 && this.bit() && (co[idx] & p1) === 0) co[idx] += co[idx] >= 0 ? p1 : m1;
      }
      this.eobrun--;
    }
  }

  // ---- reconstruction ----------------------------------------------------------------------

  private idctAll(): void {
    const blk = this.block;
    blk.fill(0);
    const written = this.written;
    const k = this.k;
    const stride = this.stride;
    for (const c of this.comps) {
      const co = c.coefs as Int16Array;
      const q = this.qt[c.tq];
      if (!q) throw new JpegDataError('component uses an undefined quantisation table');
      const plane = c.plane;
      // The coefficients are stored in natural order, so put the table in natural order once.
      const qn = new Int32Array(64);
      for (let z = 0; z < 64; z++) qn[NATURAL[z]] = q[z];
      for (let by = 0; by < c.bpc; by++) {
        for (let bx = 0; bx < c.bpl; bx++) {
          const base = (by * c.bpl + bx) * stride;
          if (k === 1) {
            const v = ((co[base] * qn[0] + 4) >> 3) + 128;
            plane[by * c.bpl + bx] = v < 0 ? 0 : v > 255 ? 255 : v;
            continue;
          }
          const lastZ = c.lastZ;
          if (k === 8 && lastZ) {
            // Nothing past the block's lastZ is nonzero: gather up to there, and clear after the IDCT.
            const last = lastZ[by * c.bpl + bx];
            let nz = 0;
            let nw = 0;
            for (let z = 1; z <= last; z++) {
              const n = NATURAL[z];
              const x = co[base + n];
              if (x !== 0) {
                nz |= NZ_BITS[n];
                blk[n] = x * qn[n];
                written[nw++] = n;
              }
            }
            blk[0] = co[base] * qn[0];
            this.idctBlock(blk, c, bx, by, nz);
            for (let i = 0; i < nw; i++) blk[written[i]] = 0;
            continue;
          }
          // Only the top-left k×k coefficients reach a k×k output.
          let nz = 0;
          for (let v = 0; v < k; v++) {
            for (let u = v === 0 ? 1 : 0; u < k; u++) {
              const i = v * 8 + u;
              const x = co[base + i];
              if (x !== 0) nz |= NZ_BITS[i];
              blk[i] = x * qn[i];
            }
          }
          blk[0] = co[base] * qn[0];
          this.idctBlock(blk, c, bx, by, nz);
        }
      }
      c.coefs = null;
    }
  }

  /**
   * Writes the k×k inverse DCT of the block's low-frequency k×k coefficients into the plane.
   * @param nz {@link NZ_BITS} of the AC coefficients present; 0: the block is one flat value
   */
  private idctBlock(blk: Int32Array, c: Component, bx: number, by: number, nz: number): void {
    const k = this.k;
    const stride = c.bpl * k;
    let o = by * k * stride + bx * k;
    const plane = c.plane;
    if (nz === 0) {
      // round(dc/8) + 128, in integers: an arithmetic shift floors, so +4 rounds half up like Math.round.
      let v = ((blk[0] + 4) >> 3) + 128;
      v = v < 0 ? 0 : v > 255 ? 255 : v;
      if (k === 8) {
        const four = v | (v << 8) | (v << 16) | (v << 24);
        const view = c.planeView;
        for (let y = 0; y < 8; y++) {
          view.setUint32(o, four, true);
          view.setUint32(o + 4, four, true);
          o += stride;
        }
        return;
      }
      // Plain stores: a fill() call per short row costs more than the row itself.
      for (let y = 0; y < k; y++) {
        for (let x = 0; x < k; x++) plane[o + x] = v;
        o += stride;
      }
      return;
    }
    if (k === 8) {
      idct8x8To(blk, this.tmp, c.planeView, o, stride, nz);
      return;
    }
    if (k === 4) {
      idct4x4(blk, this.tmp, plane, o, stride);
      return;
    }
    // k === 2: the 2-point basis is ±√½/2 for both terms, so the 2-D transform is sums and differences / 8.
    const r0 = blk[0] + blk[1];
    const d0 = blk[0] - blk[1];
    const r1 = blk[8] + blk[9];
    const d1 = blk[8] - blk[9];
    let v = ((r0 + r1 + 4) >> 3) + 128;
    plane[o] = v < 0 ? 0 : v > 255 ? 255 : v;
    v = ((d0 + d1 + 4) >> 3) + 128;
    plane[o + 1] = v < 0 ? 0 : v > 255 ? 255 : v;
    v = ((r0 - r1 + 4) >> 3) + 128;
    plane[o + stride] = v < 0 ? 0 : v > 255 ? 255 : v;
    v = ((d0 - d1 + 4) >> 3) + 128;
    plane[o + stride + 1] = v < 0 ? 0 : v > 255 ? 255 : v;
  }

  private toRgb(): JpegPixels {
    const s = this.scale;
    const k = this.k;
    const outW = Math.ceil(this.width / s);
    const outH = Math.ceil(this.height / s);
    // Every byte is written below, so skip zeroing a fresh buffer (~1 MB at 640×480); a plain
    // Uint8Array over its own ArrayBuffer, not a pooled Buffer slice.
    const out = new Uint8Array(Buffer.allocUnsafeSlow(outW * outH * 3).buffer, 0, outW * outH * 3);
    // Every value written below is an integer, so the clamped view's store is an exact clamp to 0..255.
    const outC = new Uint8ClampedArray(out.buffer, out.byteOffset, out.length);
    const n = this.comps.length;
    const hmax = this.hmax;
    const vmax = this.vmax;
    // Column/row maps: nearest (replicated) chroma upsampling at the reduced scale.
    const colMaps = this.comps.map((c) => {
      const m = new Int32Array(outW);
      const last = c.bpl * k - 1;
      for (let x = 0; x < outW; x++) {
        const v = Math.floor((x * c.h) / hmax);
        m[x] = v < last ? v : last;
      }
      return m;
    });
    const rowMaps = this.comps.map((c) => {
      const m = new Int32Array(outH);
      const last = c.bpc * k - 1;
      const pitch = c.bpl * k;
      for (let y = 0; y < outH; y++) {
        const v = Math.floor((y * c.v) / vmax);
        m[y] = (v < last ? v : last) * pitch;
      }
      return m;
    });
    if (n === 1) {
      const p0 = this.comps[0].plane;
      const rm = rowMaps[0];
      let o = 0;
      for (let y = 0; y < outH; y++) {
        const r = rm[y];
        for (let x = 0; x < outW; x++) {
          const v = p0[r + x];
          out[o] = v;
          out[o + 1] = v;
          out[o + 2] = v;
          o += 3;
        }
      }
      return { width: outW, height: outH, data: out, scale: s };
    }
    const p0 = this.comps[0].plane;
    const p1 = this.comps[1].plane;
    const p2 = this.comps[2].plane;
    const [m0, m1, m2] = colMaps;
    const [rm0, rm1, rm2] = rowMaps;
    const ids = this.comps.map((c) => c.id);
    let ycc: boolean;
    if (n === 3) {
      ycc = this.adobeTransform >= 0 ? this.adobeTransform !== 0 : !(!this.jfif && ids[0] === 0x52 && ids[1] === 0x47 && ids[2] === 0x42);
    } else ycc = this.adobeTransform === 2;
    if (n === 3) {
      // 4:2:0 / 4:2:2 (the usual camera and encoder layout): full-width luma, chroma at half width.
      const [ca, cb, cc] = this.comps;
      const h2 = ca.h === hmax && cb.h * 2 === hmax && cc.h * 2 === hmax;
      const pitch = outW * 3;
      let o = 0;
      for (let y = 0; y < outH; y++) {
        const r0 = rm0[y];
        const r1 = rm1[y];
        const r2 = rm2[y];
        if (ycc) {
          if (h2 && y + 1 < outH && rm1[y + 1] === r1 && rm2[y + 1] === r2) {
            // 4:2:0: this row and the next read the same chroma rows.
            yccRowsH2(out, o, o + pitch, outW, p0, r0, rm0[y + 1], p1, r1, p2, r2);
            o += 2 * pitch;
            y++;
          } else {
            if (h2) yccRowH2(out, o, outW, p0, r0, p1, r1, p2, r2);
            else yccRow(out, o, outW, p0, r0, m0, p1, r1, m1, p2, r2, m2);
            o += pitch;
          }
        } else {
          for (let x = 0; x < outW; x++) {
            out[o] = p0[r0 + m0[x]];
            out[o + 1] = p1[r1 + m1[x]];
            out[o + 2] = p2[r2 + m2[x]];
            o += 3;
          }
        }
      }
      return { width: outW, height: outH, data: out, scale: s };
    }
    const p3 = this.comps[3].plane;
    const m3 = colMaps[3];
    const rm3 = rowMaps[3];
    // Adobe CMYK files store inverted ink values; without the Adobe marker they are plain.
    const inverted = this.adobeTransform >= 0;
    let o = 0;
    for (let y = 0; y < outH; y++) {
      const r0 = rm0[y];
      const r1 = rm1[y];
      const r2 = rm2[y];
      const r3 = rm3[y];
      for (let x = 0; x < outW; x++) {
        let a = p0[r0 + m0[x]];
        let b = p1[r1 + m1[x]];
        let cc = p2[r2 + m2[x]];
        if (ycc) {
          const Y = a;
          const cb = b;
          const cr = cc;
          a = Y + CR_R[cr];
          b = Y + ((CB_G[cb] + CR_G[cr]) >> 16);
          cc = Y + CB_B[cb];
          // YCCK holds YCC of (255 − C, 255 − M, 255 − Y) of the stored CMYK (libjpeg's
          // ycck_cmyk_convert), so the stored C is 255 − R: the same bytes a transform-0 file holds.
          a = 255 - (a < 0 ? 0 : a > 255 ? 255 : a);
          b = 255 - (b < 0 ? 0 : b > 255 ? 255 : b);
          cc = 255 - (cc < 0 ? 0 : cc > 255 ? 255 : cc);
        }
        const kk = p3[r3 + m3[x]];
        // PIL's CMYK→RGB: R = (255 − C)(255 − K)/255, and an Adobe file holds 255 − C, 255 − K.
        // x/255 never lands on .5 for integer x, so the clamped store's round-half-even equals Math.round.
        if (inverted) {
          outC[o] = (a * kk) / 255;
          outC[o + 1] = (b * kk) / 255;
          outC[o + 2] = (cc * kk) / 255;
        } else {
          outC[o] = ((255 - a) * (255 - kk)) / 255;
          outC[o + 1] = ((255 - b) * (255 - kk)) / 255;
          outC[o + 2] = ((255 - cc) * (255 - kk)) / 255;
        }
        o += 3;
      }
    }
    return { width: outW, height: outH, data: out, scale: s };
  }
}
