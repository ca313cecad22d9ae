/**
 * A scan's entropy-coded bytes with the 0xFF00 stuffing and restart markers taken out, whole
 * ({@link unstuff}) or through a sliding window ({@link ScanWindow}).
 */

/**
 * Zero bytes after a scan's data. One MCU reads at most 10 blocks × 64 symbols × 31 bits ≈ 2.5 kB,
 * and the reader is pulled back once it is more than half of this past the end.
 */
export const UNSTUFF_PAD = 8192;

/** One scan's entropy-coded bytes with the 0xFF00 stuffing taken out. */
export interface ScanData {
  view: DataView;
  /** Data bytes (the view has UNSTUFF_PAD zero bytes more). */
  length: number;
  /** Offset in the data where each restart interval after the first begins (RSTn markers removed). */
  restarts: number[];
  /** The data ended at a marker (else at the end of the file: it was cut). */
  endsAtMarker: boolean;
  /** Position of that marker in the file (or the file's length). */
  end: number;
}

/** The entropy-coded segment starting at `start`, unstuffed whole (a {@link ScanWindow} large enough for all of it). */
export function unstuff(d: Uint8Array, start: number): ScanData {
  // Unstuffed data is never longer than the raw bytes; +1 so an empty rest still reaches its end.
  const w = new ScanWindow(d, start, d.length - start + 1);
  return { view: w.view, length: w.filled, restarts: w.restarts, endsAtMarker: w.endsAtMarker, end: w.end };
}

/** Bytes a sequential scan's reader may run ahead of its position within one MCU (see UNSTUFF_PAD). */
export const MCU_LOOKAHEAD = 4096;
/** Unstuffed bytes a sequential scan keeps at once: small enough to stay in the core's L2 cache. */
const WINDOW = 64 * 1024;

/**
 * A scan's entropy-coded data without stuffing (0xFF00 → 0xFF, RSTn markers removed), unstuffed a
 * window at a time as a sequential scan's reader advances ({@link unstuff}: a whole scan at once).
 * A 12 MP file's scan is ~2.5 MB: copied whole, it streamed through the caches twice more per image
 * than the reader needs and evicted what onnxruntime's threads on the same cores were using.
 * Offsets in `restarts` count unstuffed bytes from the scan's start; the window holds those from `base`.
 */
export class ScanWindow {
  buf: Uint8Array;
  view: DataView;
  /** Unstuffed offset of buf[0]. */
  base = 0;
  /** Valid bytes in buf. */
  filled = 0;
  /** Unstuffed offset where each restart interval after the first begins (RSTn markers removed). */
  readonly restarts: number[] = [];
  /** The end of the data was reached: at a marker, or at the end of the file (it was cut). */
  done = false;
  endsAtMarker = false;
  /** Position of that marker in the file (or the file's length), once done. */
  end: number;
  private src: number;
  private readonly find: Buffer;

  constructor(
    private readonly d: Uint8Array,
    start: number,
    capacity = WINDOW,
  ) {
    this.src = start;
    this.end = d.length;
    // Buffer's indexOf is memchr; a typed array's walks element by element.
    this.find = Buffer.from(d.buffer, d.byteOffset, d.length);
    this.buf = new Uint8Array(capacity + UNSTUFF_PAD);
    this.view = new DataView(this.buf.buffer);
    this.fill();
  }

  /** Unstuffs into the free space until it is full or the data ends (then UNSTUFF_PAD zeros follow). */
  private fill(): void {
    const d = this.d;
    const n = d.length;
    const cap = this.buf.length - UNSTUFF_PAD;
    while (!this.done && this.filled < cap) {
      const q = this.find.indexOf(0xff, this.src);
      const stop = q < 0 ? n : q;
      const take = Math.min(stop - this.src, cap - this.filled);
      if (take > 0) {
        this.buf.set(d.subarray(this.src, this.src + take), this.filled);
        this.filled += take;
        this.src += take;
      }
      if (this.src < stop) return; // window full mid-run
      if (stop === n || q + 1 >= n) {
        this.done = true; // no marker: the file ends inside the scan (a lone 0xFF last byte is dropped)
        break;
      }
      const m = d[q + 1];
      if (m === 0) {
        if (this.filled >= cap) return;
        this.buf[this.filled++] = 0xff;
        this.src = q + 2;
      } else if (m >= 0xd0 && m <= 0xd7) {
        this.restarts.push(this.base + this.filled);
        this.src = q + 2;
      } else {
        this.done = true;
        this.endsAtMarker = true;
        this.end = q;
        break;
      }
    }
    if (this.done) this.buf.fill(0, this.filled, this.filled + UNSTUFF_PAD);
  }

  /**
   * Drops the bytes before window index `keep`, moves the rest to the front and unstuffs more
   * (the buffer grows when nothing can be dropped). The caller re-reads `view`, which a growth replaces.
   * @returns the reader's bit position `bp` in the moved window
   */
  slide(keep: number, bp: number): number {
    if (keep > 0) {
      this.buf.copyWithin(0, keep, this.filled);
      this.base += keep;
      this.filled -= keep;
    } else if (this.filled >= this.buf.length - UNSTUFF_PAD) {
      const grown = new Uint8Array(this.buf.length * 2);
      grown.set(this.buf.subarray(0, this.filled));
      this.buf = grown;
      this.view = new DataView(grown.buffer);
    }
    this.fill();
    return bp - keep * 8;
  }

  /** Finds where the scan's data ends when the reader stopped before it (trailing bytes are skipped, not copied). */
  finish(): void {
    const d = this.d;
    const n = d.length;
    while (!this.done) {
      const q = this.find.indexOf(0xff, this.src);
      if (q < 0 || q + 1 >= n) {
        this.done = true;
        break;
      }
      const m = d[q + 1];
      if (m === 0 || (m >= 0xd0 && m <= 0xd7)) this.src = q + 2;
      else {
        this.done = true;
        this.endsAtMarker = true;
        this.end = q;
      }
    }
  }
}
