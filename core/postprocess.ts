import { InvalidArgumentError } from './errors.js';
import type { Label } from './types.js';

/** One class of a labels file (mirrors core/labels.ts's ClassLabel, kept structural to avoid a cycle). */
export interface LabelLike {
  readonly index: number;
  readonly id: string;
  readonly name: string;
}

/**
 * Numerically stable softmax: subtracts the maximum logit before exponentiating and sums in
 * float64, so logits in the thousands neither overflow nor lose the small classes.
 * @param logits raw scores of one image.
 * @returns probabilities summing to 1 (float32).
 */
export function softmax(logits: Float32Array): Float32Array {
  const n = logits.length;
  const out = new Float32Array(n);
  if (n === 0) return out;
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (logits[i]! > max) max = logits[i]!;
  if (!Number.isFinite(max)) {
    throw new InvalidArgumentError('The model produced non-finite scores (NaN or Infinity); check the model file and its input.');
  }
  const exps = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const e = Math.exp(logits[i]! - max);
    exps[i] = e;
    sum += e;
  }
  for (let i = 0; i < n; i++) out[i] = exps[i]! / sum;
  return out;
}

/**
 * Softmax of each crop's logits, averaged (the ResNet paper's multi-crop testing averages
 * probabilities, not logits).
 * @param logits one logits vector per crop; at least one.
 */
export function averagedSoftmax(logits: readonly Float32Array[]): Float32Array {
  if (logits.length === 0) throw new InvalidArgumentError('averagedSoftmax needs at least one logits vector.');
  if (logits.length === 1) return softmax(logits[0]!);
  const n = logits[0]!.length;
  const acc = new Float64Array(n);
  for (const l of logits) {
    if (l.length !== n) throw new InvalidArgumentError(`Crops disagree on the class count (${l.length} vs ${n}).`);
    const p = softmax(l);
    for (let i = 0; i < n; i++) acc[i]! += p[i]!;
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = acc[i]! / logits.length;
  return out;
}

/**
 * The k most probable classes, best first; ties keep the lower index first so results are
 * deterministic.
 * @param probs probabilities per class.
 * @param k how many to return (clamped to the class count); must be >= 1.
 * @param labels one entry per class, by index.
 */
export function topK(probs: Float32Array, k: number, labels: readonly LabelLike[]): Label[] {
  if (!Number.isInteger(k) || k < 1) throw new InvalidArgumentError(`top must be a whole number >= 1, got ${k}.`);
  if (labels.length !== probs.length) {
    throw new InvalidArgumentError(`Got ${probs.length} scores but ${labels.length} labels.`);
  }
  const kk = Math.min(k, probs.length);
  // Keep a small sorted buffer instead of sorting all classes: k is tiny (≤ 10 usually), n is 1000.
  const idx: number[] = [];
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i]!;
    if (idx.length === kk && p <= probs[idx[kk - 1]!]!) continue;
    let pos = idx.length;
    while (pos > 0 && probs[idx[pos - 1]!]! < p) pos--;
    idx.splice(pos, 0, i);
    if (idx.length > kk) idx.pop();
  }
  return idx.map((i, r) => {
    const l = labels[i]!;
    return { rank: r + 1, index: i, id: l.id, name: l.name, score: probs[i]! };
  });
}
