/**
 * Query-string numbers from clients. Decimal digits only: `Number()` would also take "0x10",
 * "1e2", " 5 " and "" (as 0).
 */

/**
 * The whole number `raw` spells in decimal digits, when it lies in [min, max]; else null.
 * @param raw the parameter's text as received
 * @param min smallest value accepted
 * @param max largest value accepted (at most Number.MAX_SAFE_INTEGER)
 * @param maxDigits longest text accepted, leading zeros included
 * @default maxDigits 16
 */
export function wholeNumberParam(raw: string, min: number, max: number, maxDigits = 16): number | null {
  if (raw.length > maxDigits || !/^[0-9]+$/.test(raw)) return null;
  const n = Number(raw);
  return n >= min && n <= max ? n : null;
}
