import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { Classifier } from '../../core/classifier.js';
import { LabelsMismatchError, ModelNotCachedError, ResnetError, UnknownModelError } from '../../core/errors.js';
import { preprocess } from '../../core/preprocess.js';
import { decodeImage } from '../../core/decode.js';
import { testModelPath } from '../helpers/models.js';
import { PHOTOS_DIR, SYNSET_PATH } from '../helpers/paths.js';

const photo = (name: string) => readFile(path.join(PHOTOS_DIR, name));

describe('Classifier', () => {
  let classifier: Classifier;
  let modelPath: string;

  beforeAll(async () => {
    modelPath = await testModelPath({ depth: 18, version: 2, batch: 'dynamic', classes: 1000, seed: 1 });
    classifier = await Classifier.load({ model: modelPath, labels: SYNSET_PATH, threads: 1 });
  });
  afterAll(() => classifier.dispose());

  it('classifies a real photo into top-k labels with ids and names from the labels file', async () => {
    const r = await classifier.classify(await photo('chelsea.jpg'), { top: 3 });
    expect(r.model).toBe(path.basename(modelPath, '.onnx'));
    expect(r.labels).toHaveLength(3);
    expect(r.labels.map((l) => l.rank)).toEqual([1, 2, 3]);
    for (const l of r.labels) {
      expect(classifier.labels[l.index]!.id).toBe(l.id);
      expect(l.id).toMatch(/^n\d{8}$/);
    }
    expect(r.labels[0]!.score).toBeGreaterThanOrEqual(r.labels[1]!.score);
    const t = r.timingsMs;
    expect(t.total).toBeCloseTo(t.decode + t.preprocess + t.inference + t.postprocess, 6);
  });

  it('gives the same answer batched as one by one', async () => {
    const images = await Promise.all(['chelsea.jpg', 'rocket.jpg', 'coffee.png'].map(photo));
    const batched = await classifier.classifyMany(images, { top: 5 });
    for (const [i, img] of images.entries()) {
      const single = await classifier.classify(img, { top: 5 });
      const b = batched[i];
      if (b instanceof ResnetError || b === undefined) throw new Error('unexpected error');
      expect(b.labels.map((l) => l.index)).toEqual(single.labels.map((l) => l.index));
      b.labels.forEach((l, j) => expect(l.score).toBeCloseTo(single.labels[j]!.score, 5));
    }
  });

  it('matches softmax over a direct session run of the preprocessed tensor', async () => {
    const bytes = await photo('rocket.jpg');
    const img = await decodeImage(bytes, { minShortSide: 256 });
    const [logits] = await classifier.infer([preprocess(img)]);
    const expected = classifier.labelsFor([logits!], 1)[0]!;
    const r = await classifier.classify(bytes, { top: 1 });
    expect(r.labels[0]!.index).toBe(expected.index);
  });

  it('keeps going when one image of a batch is bad, returning its typed error', async () => {
    const results = await classifier.classifyMany([await photo('chelsea.jpg'), new Uint8Array(0), Buffer.from('%PDF-1.4 not an image')]);
    expect(results[0]).not.toBeInstanceOf(ResnetError);
    expect((results[1] as ResnetError).code).toBe('EMPTY_INPUT');
    expect((results[2] as ResnetError).code).toBe('UNSUPPORTED_FORMAT');
  });

  it('reports the WordNet parents over the threshold, scored over every class under them', async () => {
    const bytes = await photo('chelsea.jpg');
    const all = await classifier.classify(bytes, { top: 1000 });
    const r = await classifier.classify(bytes, { top: 3, labels: { minConfidence: 10 } });
    expect(r.parents.length).toBeGreaterThan(0);
    const score = new Map(all.labels.map((l) => [l.id, l.score]));
    for (const p of r.parents) {
      expect(p.score).toBeGreaterThanOrEqual(0.1);
      const under = classifier.labels.filter((c) => classifier.tree.hierarchy.ancestors(c.id).some((a) => a.id === p.id));
      expect(p.score).toBeCloseTo(under.reduce((a, c) => a + score.get(c.id)!, 0), 6);
    }
    expect(r.parents.map((p) => p.rank)).toEqual(r.parents.map((_, i) => i + 1));
    const rek = classifier.toRekognition(await classifier.classify(bytes, classifier.rekognitionOptions({ minConfidence: 10, maxLabels: 2 })), { maxLabels: 2 });
    expect(rek.Labels.map((l) => l.Id)).toEqual(r.parents.slice(0, 2).map((p) => p.id));
    await expect(classifier.classify(bytes, { labels: { minConfidence: 150 } })).rejects.toThrow(/minConfidence/);
  });

  it('ten-crop averages ten crops into one distribution', async () => {
    const bytes = await photo('chelsea.png');
    const prepared = await classifier.prepare(bytes, { tenCrop: true });
    expect(prepared.tensors).toHaveLength(10);
    const r = await classifier.classify(bytes, { top: 1000, tenCrop: true });
    const total = r.labels.reduce((a, l) => a + l.score, 0);
    expect(total).toBeCloseTo(1, 4);
  });

  it('rejects a labels file whose size does not match the model output', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'labels-'));
    const small = path.join(dir, 'ten.txt');
    await writeFile(small, Array.from({ length: 10 }, (_, i) => `c${i} class ${i}`).join('\n'));
    await expect(Classifier.load({ model: modelPath, labels: small })).rejects.toBeInstanceOf(LabelsMismatchError);
  });

  it('says how to fetch a zoo model that is not cached instead of downloading silently', async () => {
    const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'cache-'));
    const err = await Classifier.load({ model: 'resnet50-v2', cacheDir, download: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelNotCachedError);
    expect((err as Error).message).toContain('resnet fetch resnet50-v2');
  });

  it('names the known ids for an unknown model', async () => {
    const err = await Classifier.load({ model: 'resnet51-v3' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnknownModelError);
    expect((err as Error).message).toContain('resnet152-v2');
  });
});
