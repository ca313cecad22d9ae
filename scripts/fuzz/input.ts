/**
 * Input `index` of a run: which seed, which second seed for splices, which decode hint, and the
 * mutant. Everything follows from (run seed, format, index), and a reproducer records the seed
 * names and the mutation seed so it replays even after the corpus grows.
 */
import type { ImageFormat } from '../../core/types.js';
import type { Seed } from './corpus.js';
import { mutate, type Mutator } from './mutate.js';
import { inputSeed, makeRng } from './rng.js';

/** The hints the fuzzer passes as `minShortSide`: full size, the zoo's 256 and small ones that pick 1/2–1/8 DCT scales. */
const MIN_SHORT_SIDES = [undefined, 256, 32, 8, 1] as const;

/** A planned input: enough to rebuild it ({@link replayInput}) and its bytes. */
export interface FuzzInput {
  format: ImageFormat;
  seedName: string;
  otherName: string;
  mutationSeed: number;
  minShortSide?: number;
  /** DCT scale for the differential check. */
  scale: 1 | 2 | 4 | 8;
  ops: Mutator[];
  bytes: Uint8Array;
}

function pickWeighted(seeds: readonly Seed[], r: number): Seed {
  const total = seeds.reduce((n, s) => n + (s.weight ?? 1), 0);
  let x = r * total;
  for (const s of seeds) {
    x -= s.weight ?? 1;
    if (x < 0) return s;
  }
  return seeds[seeds.length - 1]!;
}

/** Plans input `index` of `format` for a run seeded `seed` over `seeds` (that format's corpus). */
export function planInput(seeds: readonly Seed[], format: ImageFormat, seed: number, index: number): FuzzInput {
  const rng = makeRng(inputSeed(seed, format, index));
  const base = pickWeighted(seeds, rng());
  const other = rng.pick(seeds);
  const minShortSide = rng.pick(MIN_SHORT_SIDES);
  const scale = rng.pick([1, 2, 4, 8] as const);
  const mutationSeed = rng.int(2 ** 32);
  return replayInput(seeds, { format, seedName: base.name, otherName: other.name, mutationSeed, scale, ...(minShortSide !== undefined ? { minShortSide } : {}) });
}

/** Rebuilds an input from its recipe; throws when a named seed is not in `seeds`. */
export function replayInput(seeds: readonly Seed[], r: Omit<FuzzInput, 'ops' | 'bytes'>): FuzzInput {
  const find = (name: string): Seed => {
    const s = seeds.find((x) => x.name === name);
    if (!s) throw new Error(`seed ${name} is not in this corpus`);
    return s;
  };
  const { bytes, ops } = mutate(r.format, find(r.seedName).bytes, find(r.otherName).bytes, makeRng(r.mutationSeed));
  return { ...r, ops, bytes };
}
