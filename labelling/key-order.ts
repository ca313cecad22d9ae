/**
 * The order S3 lists keys in, and how the order of source keys differs from the order of their
 * result keys.
 *
 * S3 lists in UTF-8 binary order. JavaScript's `<` compares UTF-16 code units, which disagrees
 * with it for characters above U+FFFF against U+E000..U+FFFF (a surrogate, 0xD800.., sorts below
 * U+E000 in UTF-16 but its UTF-8 lead byte 0xF0 sorts above 0xEE), so {@link compareKeys} compares
 * code points.
 *
 * A result key is `<base><key>.json` (labelling/results.ts). Appending `.json` keeps the order of
 * two keys unless one is a prefix of the other: `a` < `a-b` but `a-b.json` < `a.json`, because
 * `-` (0x2D) sorts before `.` (0x2E). {@link ResultOrder} turns a listing in key order into the same
 * keys in result-key order, holding back only the keys whose result may still be overtaken.
 */

/** Compares two strings in UTF-8 binary order (S3's listing order); negative, 0 or positive. */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Code units differ. Outside the surrogate range UTF-16 order is code-point order; a surrogate
    // (a code point above U+FFFF) sorts above every BMP character in UTF-8.
    const sx = x >= 0xd800 && x <= 0xdfff;
    const sy = y >= 0xd800 && y <= 0xdfff;
    if (sx === sy) return x - y;
    return sx ? 1 : -1;
  }
  return a.length - b.length;
}

/** What is appended to a source key to make its result key. */
export const RESULT_SUFFIX = '.json';

/**
 * Whether a later key of the listing may still have a result key that sorts before `held`'s,
 * given that the listing has reached `current` (every later key is >= `current`).
 *
 * A later key k overtakes `held` only when it extends it, k = held + t, with t + ".json" < ".json",
 * which holds exactly when t < ".json" (proof: compare t + ".json" with ".json" at the first
 * difference; a proper prefix of ".json" is below it, ".json" itself and its extensions above).
 * The smallest t still to come is `current` minus `held`, so `held` waits while that is < ".json".
 */
export function mayBeOvertaken(held: string, current: string): boolean {
  return current.startsWith(held) && compareKeys(current.slice(held.length), RESULT_SUFFIX) < 0;
}

/**
 * Reorders keys that arrive in listing order into the order of their result keys. Memory: the
 * held keys are `current` and those of its prefixes that are keys and that it may overtake, so at
 * most one per character of a key (S3 keys are at most 1,024 bytes); in practice one or two.
 */
export class ResultOrder {
  /** Held keys, sorted by result key (ascending). */
  private held: string[] = [];

  /** Keys held back now. */
  get size(): number {
    return this.held.length;
  }

  /** Adds the next key of the listing; returns the keys now due, in result-key order. */
  push(key: string): string[] {
    const due: string[] = [];
    while (this.held.length > 0 && !mayBeOvertaken(this.held[0]!, key)) due.push(this.held.shift()!);
    const rk = key + RESULT_SUFFIX;
    let i = this.held.length;
    while (i > 0 && compareKeys(this.held[i - 1]! + RESULT_SUFFIX, rk) > 0) i--;
    this.held.splice(i, 0, key);
    return due;
  }

  /** The listing ended: every held key is due, in result-key order. */
  drain(): string[] {
    const due = this.held;
    this.held = [];
    return due;
  }
}
