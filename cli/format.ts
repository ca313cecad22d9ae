import type { ClassificationResult } from '../core/types.js';

/** One line of `--json` output for a classified image; `untrained` marks a model whose labels are meaningless. */
export function jsonLine(image: string, r: ClassificationResult, untrained = false): string {
  return JSON.stringify({ image, model: r.model, ...(untrained ? { untrained: true } : {}), labels: r.labels, parents: r.parents, timingsMs: r.timingsMs });
}

/** One line of `--json` output for an image that failed. */
export function jsonErrorLine(image: string, error: { code: string; message: string }): string {
  return JSON.stringify({ image, error });
}

/**
 * A readable block for one image: rank, class id, score bar and name of each class, then the
 * parents (WordNet ancestors, scored over the classes under them) marked `^`.
 */
export function humanBlock(image: string, r: ClassificationResult): string {
  const lines = [`${image}  (${r.model}, ${r.timingsMs.total.toFixed(0)} ms)`];
  if (r.labels.length === 0 && r.parents.length === 0) lines.push('  no label passes the confidence threshold and filters');
  const idWidth = Math.max(...r.labels.map((l) => l.id.length), ...r.parents.map((p) => p.id.length), 2);
  const row = (mark: string, id: string, score: number, name: string): string => {
    const pct = `${(score * 100).toFixed(2)}%`.padStart(7);
    const bar = '█'.repeat(Math.round(score * 20)).padEnd(20, '·');
    return `  ${mark.padStart(2)}  ${id.padEnd(idWidth)}  ${pct}  ${bar}  ${name}`;
  };
  for (const l of r.labels) lines.push(row(String(l.rank), l.id, l.score, l.name));
  for (const p of r.parents) lines.push(row('^', p.id, p.score, p.name));
  return lines.join('\n');
}

/** A readable line for an image that failed. */
export function humanError(image: string, error: { code: string; message: string }): string {
  return `${image}  ERROR ${error.code}: ${error.message}`;
}

/** Renders rows as an aligned plain-text table (first row is the header). */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows
    .map((r, i) => {
      const line = r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd();
      return i === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line;
    })
    .join('\n');
}
