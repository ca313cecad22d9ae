/**
 * DetectLabels-style options from text (a query string, command-line flags, environment
 * variables), parsed one way for every adapter.
 */
import { InvalidArgumentError } from '../errors.js';
import { checkLabelOptions, type LabelOptions } from './hierarchy.js';

/** The options as text, by their LabelOptions name; lists are comma-separated. */
export interface LabelOptionsText {
  minConfidence?: string | undefined;
  maxLabels?: string | undefined;
  includeLabels?: string | undefined;
  excludeLabels?: string | undefined;
  includeCategories?: string | undefined;
  excludeCategories?: string | undefined;
  /** `true`/`false` (also `1`/`0`). */
  parents?: string | undefined;
}

/** The option names, for adapters that map them (query parameters use them as they are). */
export const LABEL_OPTION_NAMES = ['minConfidence', 'maxLabels', 'includeLabels', 'excludeLabels', 'includeCategories', 'excludeCategories', 'parents'] as const;

function list(v: string | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  const items = v.split(',').map((x) => x.trim()).filter((x) => x !== '');
  return items.length > 0 ? items : undefined;
}

/**
 * Parses option text. Numbers are plain decimals (no `0x`, `1e2`, or blanks).
 * @throws InvalidArgumentError naming the option, its text and its range
 */
export function parseLabelOptions(text: LabelOptionsText): LabelOptions {
  const out: { -readonly [K in keyof LabelOptions]: LabelOptions[K] } = {};
  if (text.minConfidence !== undefined) {
    if (!/^\d{1,3}(\.\d{1,6})?$/.test(text.minConfidence)) throw new InvalidArgumentError(`minConfidence must be a number from 0 to 100, got "${text.minConfidence}".`);
    out.minConfidence = Number(text.minConfidence);
  }
  if (text.maxLabels !== undefined) {
    if (!/^\d{1,7}$/.test(text.maxLabels)) throw new InvalidArgumentError(`maxLabels must be a whole number >= 1, got "${text.maxLabels}".`);
    out.maxLabels = Number(text.maxLabels);
  }
  if (text.parents !== undefined) {
    const v = text.parents.trim().toLowerCase();
    if (!['true', 'false', '1', '0'].includes(v)) throw new InvalidArgumentError(`parents must be true or false, got "${text.parents}".`);
    out.parents = v === 'true' || v === '1';
  }
  for (const k of ['includeLabels', 'excludeLabels', 'includeCategories', 'excludeCategories'] as const) {
    const l = list(text[k]);
    if (l !== undefined) out[k] = l;
  }
  checkLabelOptions(out);
  return out;
}
