/** Seeded randomness for the fuzzer: every input is named by (seed, format, index) and can be rebuilt from it. */

/** A small, fast PRNG (mulberry32): numbers in [0, 1). */
export interface Rng {
  (): number;
  /** A whole number in [0, n). */
  int(n: number): number;
  /** One element of `xs`. */
  pick<T>(xs: readonly T[]): T;
}

/** The generator for one 32-bit seed. */
export function makeRng(seed: number): Rng {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const rng = next as Rng;
  rng.int = (n) => Math.floor(next() * n);
  rng.pick = (xs) => xs[Math.floor(next() * xs.length)]!;
  return rng;
}

/** The seed of input `index` of `format` in a run seeded `seed` (FNV-1a over the three). */
export function inputSeed(seed: number, format: string, index: number): number {
  let h = 0x811c9dc5;
  for (const c of `${seed}/${format}/${index}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193);
  return h >>> 0;
}
