import { averagedSoftmax, softmax, topK } from '../../core/postprocess.js';
import { InvalidArgumentError } from '../../core/errors.js';

const labels = (n: number) => Array.from({ length: n }, (_, i) => ({ index: i, id: `c${i}`, name: `class ${i}` }));

describe('softmax', () => {
  it.each([
    [[0, 0, 0, 0], [0.25, 0.25, 0.25, 0.25]],
    [[1, 2, 3], [0.09003057, 0.24472847, 0.66524096]],
    // Large logits would overflow Math.exp without the max subtraction.
    [[1000, 1001, 1002], [0.09003057, 0.24472847, 0.66524096]],
    [[-1000, 0], [0, 1]],
  ])('softmax(%j) = %j', (input, expected) => {
    const p = softmax(Float32Array.from(input));
    expected.forEach((e, i) => expect(p[i]).toBeCloseTo(e, 6));
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
  });

  it('rejects non-finite logits with a typed error', () => {
    expect(() => softmax(Float32Array.from([NaN, NaN]))).toThrow(InvalidArgumentError);
  });
});

describe('averagedSoftmax', () => {
  it('averages probabilities, not logits', () => {
    const a = Float32Array.from([10, 0]);
    const b = Float32Array.from([0, 0]);
    const avg = averagedSoftmax([a, b]);
    const pa = softmax(a);
    expect(avg[0]).toBeCloseTo((pa[0]! + 0.5) / 2, 6);
    expect(avg[1]).toBeCloseTo((pa[1]! + 0.5) / 2, 6);
  });
});

describe('topK', () => {
  it('returns the best k with rank, index, id, name and score, best first', () => {
    const probs = Float32Array.from([0.1, 0.4, 0.05, 0.3, 0.15]);
    const top = topK(probs, 3, labels(5));
    expect(top.map((l) => l.index)).toEqual([1, 3, 4]);
    expect(top[0]).toEqual({ rank: 1, index: 1, id: 'c1', name: 'class 1', score: probs[1] });
    expect(top.map((l) => l.rank)).toEqual([1, 2, 3]);
  });

  it('breaks ties by lower index and clamps k to the class count', () => {
    const top = topK(Float32Array.from([0.25, 0.25, 0.25, 0.25]), 10, labels(4));
    expect(top.map((l) => l.index)).toEqual([0, 1, 2, 3]);
  });

  it('matches a full sort on random scores', () => {
    let s = 7;
    const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const probs = Float32Array.from({ length: 1000 }, rnd);
    const expected = [...probs.keys()].sort((a, b) => probs[b]! - probs[a]! || a - b).slice(0, 7);
    expect(topK(probs, 7, labels(1000)).map((l) => l.index)).toEqual(expected);
  });

  it.each([0, -1, 2.5])('rejects k=%p', (k) => {
    expect(() => topK(Float32Array.from([1]), k, labels(1))).toThrow(InvalidArgumentError);
  });
});
