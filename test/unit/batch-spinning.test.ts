/**
 * The batch worker opens its session with onnxruntime's intra-op spinning off, so idle inference
 * threads leave the cores to the decode workers. The option must reach onnxruntime as the session
 * config entry `session.intra_op.allow_spinning` and must not change any result.
 */
import { ModelSession, ortSessionOptions } from '../../core/session.js';
import { testModelPath } from '../helpers/models.js';

const IMAGE = 3 * 224 * 224;

function images(): Float32Array[] {
  let s = 987;
  const noise = (): number => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s / 2 ** 32) * 4 - 2;
  };
  return [Float32Array.from({ length: IMAGE }, noise), Float32Array.from({ length: IMAGE }, (_, i) => Math.cos(i / 97))];
}

describe('allowSpinning session option', () => {
  it('maps false to the session.intra_op.allow_spinning = "0" config entry and leaves the default alone', () => {
    expect(ortSessionOptions({ allowSpinning: false }).extra).toEqual({ session: { intra_op: { allow_spinning: '0' } } });
    expect(ortSessionOptions({}).extra).toBeUndefined();
    expect(ortSessionOptions({ allowSpinning: true }).extra).toBeUndefined();
  });

  it('gives the same logits with spinning off as with the default', async () => {
    const model = await testModelPath({ depth: 18, version: 1, batch: 'dynamic', classes: 10 });
    const spinning = await ModelSession.create(model, { threads: 2 });
    const quiet = await ModelSession.create(model, { threads: 2, allowSpinning: false });
    try {
      const [a, b] = [await spinning.run(images()), await quiet.run(images())];
      expect(b).toHaveLength(2);
      b.forEach((logits, i) => {
        expect(logits).toHaveLength(10);
        logits.forEach((v, j) => expect(v).toBeCloseTo(a[i]![j]!, 4));
      });
    } finally {
      await spinning.dispose();
      await quiet.dispose();
    }
  });
});
