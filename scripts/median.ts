import { performance } from 'node:perf_hooks';

/** The median of the benchmarks' samples (the mean of the two middle ones for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * One round of an interleaved A/B: `reps` times, `run(true, rep)` then `run(false, rep)`, each
 * timed (with `perRep` calls of it per side, `rep * perRep + i` passed as the call's index);
 * the VM's speed drifts, so the two sides share every minute of the round.
 * @returns the median time per call of each side and the calls each made
 */
export function abRound(reps: number, run: (a: boolean, index: number) => void, perRep = 1): { a: number; b: number; calls: number } {
  const t = { a: [] as number[], b: [] as number[] };
  for (let r = 0; r < reps; r++) {
    for (const a of [true, false]) {
      for (let i = 0; i < perRep; i++) {
        const s = performance.now();
        run(a, r * perRep + i);
        (a ? t.a : t.b).push(performance.now() - s);
      }
    }
  }
  return { a: median(t.a), b: median(t.b), calls: t.a.length };
}
