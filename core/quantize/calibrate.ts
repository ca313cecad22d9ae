/**
 * Activation ranges from calibration data: per tensor, the running min/max and a histogram of |x|,
 * and three ways to turn them into the range an 8-bit quantizer covers (the methods of
 * onnxruntime's python `calibrate.py` and of TensorRT's entropy calibrator):
 * - `minmax`: the whole observed range;
 * - `percentile`: |x| up to the given percentile of the observed values (outliers clip);
 * - `entropy`: the |x| threshold whose 8-bit histogram is nearest (Kullback-Leibler) to the observed one.
 */

/** How activation ranges are chosen. */
export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy';

/** Bins of the |x| histogram. */
const HISTOGRAM_BINS = 2048;

/** The running statistics of one tensor. */
export class TensorStats {
  min = Infinity;
  max = -Infinity;
  /** Width of each |x| bin; doubled (merging pairs of bins, exactly) when a larger |x| arrives. */
  private width = 0;
  private readonly hist = new Float64Array(HISTOGRAM_BINS);

  constructor(private readonly withHistogram: boolean) {}

  /** Adds the values of one calibration batch. */
  add(values: Float32Array): void {
    let lo = this.min;
    let hi = this.max;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    this.min = lo;
    this.max = hi;
    if (!this.withHistogram) return;
    const top = Math.max(Math.abs(lo), Math.abs(hi));
    if (top === 0) return;
    if (this.width === 0) this.width = top / HISTOGRAM_BINS;
    while (top > this.width * HISTOGRAM_BINS) this.widen();
    const inv = 1 / this.width;
    const last = HISTOGRAM_BINS - 1;
    for (let i = 0; i < values.length; i++) {
      // Exact zeros (most of a ReLU output) are left out: zero is exact at any range, and their
      // spike in the first bin would otherwise drive the entropy threshold down.
      if (values[i] === 0) continue;
      const b = Math.floor(Math.abs(values[i]) * inv);
      this.hist[b > last ? last : b]++;
    }
  }

  private widen(): void {
    for (let i = 0; i < HISTOGRAM_BINS / 2; i++) this.hist[i] = this.hist[2 * i] + this.hist[2 * i + 1];
    this.hist.fill(0, HISTOGRAM_BINS / 2);
    this.width *= 2;
  }

  /**
   * The range to quantize, always containing 0 (so zero, and so padding, is exact).
   * @param percentile for `percentile`, in percent. @default 99.999
   * @param levels quantization levels over [0, |x|max] for `entropy` (255 for a non-negative tensor in uint8). @default 128
   */
  range(method: CalibrationMethod, percentile = 99.999, levels = 128): { min: number; max: number } {
    const lo = Math.min(this.min, 0);
    const hi = Math.max(this.max, 0);
    if (method === 'minmax' || this.width === 0) return { min: lo, max: hi };
    const t = method === 'percentile' ? this.percentileThreshold(percentile) : this.entropyThreshold(levels);
    return { min: Math.max(lo, -t), max: Math.min(hi, t) };
  }

  private percentileThreshold(percentile: number): number {
    const total = this.hist.reduce((a, b) => a + b, 0);
    const want = (total * percentile) / 100;
    let seen = 0;
    for (let i = 0; i < HISTOGRAM_BINS; i++) {
      seen += this.hist[i];
      if (seen >= want) return (i + 1) * this.width;
    }
    return HISTOGRAM_BINS * this.width;
  }

  /**
   * For each candidate threshold of i bins: P is the histogram cut at i with the outliers added to
   * its last bin; Q is the cut histogram merged into `levels` groups and spread back evenly over the
   * non-empty bins of each group. The threshold with the least KL(P‖Q) wins.
   */
  private entropyThreshold(levels: number): number {
    const h = this.hist;
    let bestI = HISTOGRAM_BINS;
    let best = Infinity;
    const suffix = new Float64Array(HISTOGRAM_BINS + 1);
    for (let i = HISTOGRAM_BINS - 1; i >= 0; i--) suffix[i] = suffix[i + 1] + h[i];
    const q = new Float64Array(HISTOGRAM_BINS);
    for (let i = levels; i <= HISTOGRAM_BINS; i++) {
      for (let j = 0; j < levels; j++) {
        const start = Math.floor((j * i) / levels);
        const end = j === levels - 1 ? i : Math.floor(((j + 1) * i) / levels);
        let sum = 0;
        let nonzero = 0;
        for (let k = start; k < end; k++) {
          sum += h[k];
          if (h[k] > 0) nonzero++;
        }
        const each = nonzero > 0 ? sum / nonzero : 0;
        for (let k = start; k < end; k++) q[k] = h[k] > 0 ? each : 0;
      }
      const outliers = suffix[i];
      const pTotal = suffix[0];
      const qTotal = pTotal - outliers;
      if (qTotal <= 0) continue;
      let kl = 0;
      for (let k = 0; k < i; k++) {
        const p = (k === i - 1 ? h[k] + outliers : h[k]) / pTotal;
        if (p === 0) continue;
        // An empty Q bin under a non-empty P bin (only the last, when it held only outliers) gets a floor.
        const qk = Math.max(q[k] / qTotal, 1e-12);
        kl += p * Math.log(p / qk);
      }
      if (kl < best) {
        best = kl;
        bestI = i;
      }
    }
    return bestI * this.width;
  }
}
