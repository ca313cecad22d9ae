/**
 * Busy time per pipeline stage. Its own module so that the run context (stages/context.ts), which
 * holds the clocks, and the summary (summary.ts), which reads the context, do not import each other.
 */
import type { StageStats } from './types.js';

/** Busy time and count of one pipeline stage, summed over its parallel lanes. */
export class StageClock {
  count = 0;
  busyMs = 0;
  constructor(readonly parallelism: number) {}
  add(ms: number, n = 1): void {
    this.count += n;
    this.busyMs += ms;
  }
  stats(): StageStats {
    return {
      count: this.count,
      busyMs: Math.round(this.busyMs),
      parallelism: this.parallelism,
      perSecond: this.busyMs > 0 ? Number(((this.count * 1000 * this.parallelism) / this.busyMs).toFixed(2)) : 0,
    };
  }
}
