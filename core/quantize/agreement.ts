/**
 * How closely a quantized model follows its float32 original on the same inputs: top-1 agreement,
 * the softmax probability that moves, and the cosine of the logit vectors, with both models timed
 * back to back on each input (the order alternating) so machine load hits both alike.
 */
import { performance } from 'node:perf_hooks';

import { InvalidArgumentError } from '../errors.js';
import { softmax } from '../postprocess.js';
import type { ClassifierSession } from '../session.js';

/** Agreement of two models over the same inputs. */
export interface AgreementReport {
  /** Inputs compared. */
  readonly images: number;
  /** Share of inputs whose top-1 class is the same in both, 0..1. */
  readonly top1Agreement: number;
  /** Share of inputs whose float32 top-1 class is in the quantized model's top 5, 0..1. */
  readonly top1InTop5: number;
  /** Mean over inputs of Σ_c |p_c − q_c| / 2: softmax probability mass that moved (total variation), 0..1. */
  readonly meanSoftmaxDelta: number;
  /** Mean over inputs of max_c |p_c − q_c|. */
  readonly meanMaxSoftmaxDelta: number;
  /** Mean cosine similarity of the logit vectors. */
  readonly meanLogitCosine: number;
  /** Smallest cosine similarity of the logit vectors. */
  readonly minLogitCosine: number;
  /** Median time of one `run` of the float32 model, ms. */
  readonly referenceMs: number;
  /** Median time of one `run` of the quantized model, ms. */
  readonly candidateMs: number;
}

function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The comparison measures of one pair of logit vectors. */
export function compareLogits(reference: Float32Array, candidate: Float32Array): { sameTop1: boolean; top1InTop5: boolean; delta: number; maxDelta: number; cosine: number } {
  if (reference.length !== candidate.length) throw new InvalidArgumentError(`The models output ${reference.length} and ${candidate.length} classes; compare models of the same classifier.`);
  const p = softmax(reference);
  const q = softmax(candidate);
  let delta = 0;
  let maxDelta = 0;
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let c = 0; c < p.length; c++) {
    const d = Math.abs(p[c] - q[c]);
    delta += d;
    if (d > maxDelta) maxDelta = d;
    dot += reference[c] * candidate[c];
    na += reference[c] ** 2;
    nb += candidate[c] ** 2;
  }
  const top = argmax(reference);
  const rank = [...q].filter((v) => v > q[top]).length;
  return { sameTop1: top === argmax(candidate), top1InTop5: rank < 5, delta: delta / 2, maxDelta, cosine: na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 1 };
}

/**
 * Runs every input through both sessions (one input per run, alternating which goes first) and
 * compares the logits.
 * @throws InvalidArgumentError without inputs or when the models' class counts differ.
 */
export async function compareModels(reference: ClassifierSession, candidate: ClassifierSession, inputs: readonly Float32Array[], onProgress?: (done: number, total: number) => void): Promise<AgreementReport> {
  if (inputs.length === 0) throw new InvalidArgumentError('Agreement needs at least one held-out image.');
  const times = { reference: [] as number[], candidate: [] as number[] };
  const timed = async (which: 'reference' | 'candidate', x: Float32Array): Promise<Float32Array> => {
    const t0 = performance.now();
    const [out] = await (which === 'reference' ? reference : candidate).run([x]);
    times[which].push(performance.now() - t0);
    return out;
  };
  let same = 0;
  let inTop5 = 0;
  let delta = 0;
  let maxDelta = 0;
  let cosine = 0;
  let minCosine = 1;
  for (let i = 0; i < inputs.length; i++) {
    const x = inputs[i];
    let a: Float32Array;
    let b: Float32Array;
    if (i % 2 === 0) {
      a = await timed('reference', x);
      b = await timed('candidate', x);
    } else {
      b = await timed('candidate', x);
      a = await timed('reference', x);
    }
    const c = compareLogits(a, b);
    if (c.sameTop1) same++;
    if (c.top1InTop5) inTop5++;
    delta += c.delta;
    maxDelta += c.maxDelta;
    cosine += c.cosine;
    minCosine = Math.min(minCosine, c.cosine);
    onProgress?.(i + 1, inputs.length);
  }
  const n = inputs.length;
  return {
    images: n,
    top1Agreement: same / n,
    top1InTop5: inTop5 / n,
    meanSoftmaxDelta: delta / n,
    meanMaxSoftmaxDelta: maxDelta / n,
    meanLogitCosine: cosine / n,
    minLogitCosine: minCosine,
    referenceMs: median(times.reference),
    candidateMs: median(times.candidate),
  };
}
