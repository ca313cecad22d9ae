/**
 * The `optimized` model form (layers/build-model-form.ts) gives the original model's labels and
 * scores, within float tolerance, for a generated ResNet at every depth the tests use (18, 50,
 * 152), v1 and v2, on the committed photos; and the functions' model resolution loads it without
 * optimising again.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { Classifier } from '../../core/classifier.js';
import { decodeModel } from '../../core/model-builder/onnx-reader.js';
import type { Label } from '../../core/types.js';
import { resolveModelOptions } from '../../functions/common/model.js';
import { buildModelForm, withoutInitializerInputs } from '../../layers/build-model-form.js';
import { buildModelLayer } from '../../layers/build-model-layer.js';
import { OPTIMIZED_DATA_FILE, OPTIMIZED_MODEL_FILE, modelFormDir, readModelForm } from '../../layers/model-form.js';
import { testModelPath } from '../helpers/models.js';
import { PHOTOS_DIR, SYNSET_PATH } from '../helpers/paths.js';

const SLOW = 600_000;
/**
 * Softmax scores may differ by this much: the optimised graph folds BatchNorm into the
 * convolutions and fuses activations, which reorders float32 arithmetic (measured differences are
 * around 1e-7 on these models).
 */
const SCORE_TOLERANCE = 1e-5;
/** Logits, likewise (they span about ±20 here). */
const LOGIT_TOLERANCE = 1e-3;

let tmp: string;
let photos: Uint8Array[];
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'model-form-'));
  const names = (await readdir(PHOTOS_DIR)).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort();
  photos = await Promise.all(names.map((f) => readFile(path.join(PHOTOS_DIR, f))));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/**
 * The same labels in the same order, except that two labels whose original scores lie within the
 * tolerance of each other may swap places; every score within the tolerance of the original's.
 */
function expectSameLabels(optimised: readonly Label[], original: readonly Label[]): void {
  expect(optimised).toHaveLength(original.length);
  for (const [i, o] of original.entries()) {
    const got = optimised[i]!;
    const tied = original.filter((x) => Math.abs(x.score - o.score) <= SCORE_TOLERANCE).map((x) => x.index);
    expect(tied).toContain(got.index);
    expect(Math.abs(got.score - o.score)).toBeLessThanOrEqual(SCORE_TOLERANCE);
  }
}

describe.each([
  { depth: 18, version: 1 },
  { depth: 18, version: 2 },
  { depth: 50, version: 1 },
  { depth: 50, version: 2 },
  { depth: 152, version: 1 },
] as const)('the optimized form of a generated ResNet-$depth v$version', ({ depth, version }) => {
  let original: Classifier;
  let optimised: Classifier;
  let layerDir: string;

  beforeAll(async () => {
    const model = await testModelPath({ depth, version, classes: 1000 });
    layerDir = path.join(tmp, `layer-${depth}-v${version}`);
    buildModelLayer({ modelId: `r${depth}`, modelPath: model, labelsPath: SYNSET_PATH, outDir: layerDir });
    await buildModelForm({ sourceDir: layerDir, form: 'optimized' });
    original = await Classifier.load({ model: path.join(layerDir, 'model/model.onnx'), labels: SYNSET_PATH, threads: 1 });
    // Through the functions' own resolution of a model layer, as /opt/model.
    const opts = await resolveModelOptions({ MODEL_DIR: path.join(modelFormDir(layerDir, 'optimized'), 'model'), MODEL_ID: `r${depth}` });
    expect(opts).toMatchObject({ model: expect.stringMatching(new RegExp(`${OPTIMIZED_MODEL_FILE}$`)), preOptimized: true });
    optimised = await Classifier.load({ ...opts, threads: 1 });
  }, SLOW);
  afterAll(async () => {
    await Promise.all([original?.dispose(), optimised?.dispose()]);
    await rm(layerDir, { recursive: true, force: true });
    await rm(modelFormDir(layerDir, 'optimized'), { recursive: true, force: true });
  });

  it('is a different, smaller graph whose weights sit in the mapped data file', async () => {
    const dir = path.join(modelFormDir(layerDir, 'optimized'), 'model');
    const before = decodeModel(await readFile(path.join(layerDir, 'model/model.onnx')));
    const after = decodeModel(await readFile(path.join(dir, OPTIMIZED_MODEL_FILE)));
    // BatchNorms that follow a convolution folded into it, activations fused (v2's pre-activation
    // BatchNorms, which follow an Add, stay).
    const count = (m: typeof before, op: string): number => m.nodes.filter((n) => n.opType === op).length;
    expect(count(after, 'BatchNormalization')).toBeLessThan(count(before, 'BatchNormalization'));
    expect(after.nodes.length).toBeLessThan(before.nodes.length);
    expect(after.inputs.map((i) => i.name)).toEqual(['data']);
    expect(after.initializers.filter((t) => t.external).length).toBeGreaterThan(0);
    expect(readModelForm(modelFormDir(layerDir, 'optimized'), 'optimized', path.join(layerDir, 'model/model.onnx'))).toMatchObject({ modelFile: OPTIMIZED_MODEL_FILE });
    await expect(readdir(dir)).resolves.toEqual(expect.arrayContaining([OPTIMIZED_MODEL_FILE, OPTIMIZED_DATA_FILE, 'labels.txt']));
  });

  it('gives the original labels and scores on every photo', async () => {
    expect(photos.length).toBeGreaterThanOrEqual(5);
    for (const photo of photos) {
      const { tensors } = await original.prepare(photo);
      const [a] = await original.infer(tensors);
      const [b] = await optimised.infer(tensors);
      let maxDelta = 0;
      for (let i = 0; i < a!.length; i++) maxDelta = Math.max(maxDelta, Math.abs(a![i]! - b![i]!));
      expect(maxDelta).toBeLessThanOrEqual(LOGIT_TOLERANCE);
      expectSameLabels(optimised.labelsFor([b!], 5), original.labelsFor([a!], 5));
    }
  }, SLOW);

  it('keeps what the model says about itself (untrained, builder)', () => {
    expect(optimised.info).toMatchObject({ untrained: true, producer: original.info.producer, description: original.info.description });
  });
});

describe('withoutInitializerInputs', () => {
  it('drops the initializer declarations from the inputs of an IR-3 model and leaves a clean model as it is', async () => {
    const bytes = await readFile(await testModelPath({ depth: 18, version: 1, classes: 10 }));
    const before = decodeModel(bytes);
    expect(before.inputs.length).toBeGreaterThan(1);
    const cleaned = withoutInitializerInputs(bytes);
    const after = decodeModel(cleaned);
    expect(after.inputs.map((i) => i.name)).toEqual(['data']);
    expect(after.irVersion).toBeGreaterThanOrEqual(4);
    expect(after.initializers.map((t) => t.name)).toEqual(before.initializers.map((t) => t.name));
    expect(withoutInitializerInputs(cleaned)).toBe(cleaned);
  });
});
