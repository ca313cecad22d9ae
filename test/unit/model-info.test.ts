/**
 * Model facts for users: the ONNX header's provenance strings, and whether a model is untrained
 * (written by this project's builder) with the zoo model to fetch instead.
 */
import { Classifier } from '../../core/classifier.js';
import { BUILDER_PRODUCER, BUILDER_REVISION } from '../../core/model-builder/index.js';
import { ProtoWriter } from '../../core/model-builder/proto-writer.js';
import { describeModel, parseOnnxHeader, type OnnxHeader } from '../../core/model-info.js';
import { testModelPath } from '../helpers/models.js';
import { SYNSET_PATH } from '../helpers/paths.js';

/** A ModelProto's first fields (ir_version, producer name/version, domain, model_version, doc string) and a graph. */
function header(h: Partial<OnnxHeader>): Uint8Array {
  const w = new ProtoWriter().int(1, 7);
  if (h.producerName !== undefined) w.string(2, h.producerName);
  if (h.producerVersion !== undefined) w.string(3, h.producerVersion);
  w.string(4, 'ai.example').int(5, 3);
  if (h.docString !== undefined) w.string(6, h.docString);
  return w.message(7, new ProtoWriter().string(2, 'graph')).toBytes();
}

const facts = { id: 'm', inputSize: 224, numClasses: 1000, maxBatch: null, resizeShortSide: 256 };

describe('parseOnnxHeader', () => {
  test.each([
    ['all fields', { producerName: 'pytorch', producerVersion: '2.1.0', docString: 'a trained net' }],
    ['no doc string', { producerName: 'onnx-mxnet', producerVersion: '1.3' }],
    ['unicode', { producerName: 'hérisson', producerVersion: 'v2', docString: '猫' }],
    ['nothing', {}],
  ])('%s', (_name, h) => {
    expect(parseOnnxHeader(header(h))).toEqual({ producerName: '', producerVersion: '', docString: '', ...h });
  });

  test('stops without throwing at bytes that are not a ModelProto, or cut off mid-string', () => {
    expect(parseOnnxHeader(new TextEncoder().encode('not an onnx file at all'))).toEqual({ producerName: '', producerVersion: '', docString: '' });
    const full = header({ producerName: 'pytorch', producerVersion: '2.1.0' });
    expect(parseOnnxHeader(full.subarray(0, 6)).producerName).toBe('');
    expect(parseOnnxHeader(new Uint8Array(0)).producerName).toBe('');
  });
});

describe('describeModel', () => {
  test.each([
    ['the builder, ResNet-50 v2', { producerName: BUILDER_PRODUCER, producerVersion: BUILDER_REVISION, docString: 'ResNet-50 v2, seeded weights (seed 0), 1000 classes; generated, not trained.' }, 'resnet50-v2'],
    ['the builder, ResNet-101 v1', { producerName: BUILDER_PRODUCER, producerVersion: BUILDER_REVISION, docString: 'ResNet-101 v1, seeded weights (seed 3), 1000 classes; generated, not trained.' }, 'resnet101-v1'],
    ['the builder, no description', { producerName: BUILDER_PRODUCER, producerVersion: BUILDER_REVISION, docString: '' }, 'resnet50-v2'],
  ])('%s → untrained, fetch %s', (_name, h, zoo) => {
    const info = describeModel({ ...facts, header: h });
    expect(info).toMatchObject({ untrained: true, producer: `${BUILDER_PRODUCER} ${BUILDER_REVISION}`, trained: { id: zoo, fetchCommand: `npx resnet fetch ${zoo}` } });
  });

  test('another producer → trained, no fetch command; absent strings are null', () => {
    expect(describeModel({ ...facts, header: { producerName: 'pytorch', producerVersion: '', docString: '' } })).toEqual({
      ...facts,
      untrained: false,
      producer: 'pytorch',
      description: null,
    });
    expect(describeModel({ ...facts, header: { producerName: '', producerVersion: '', docString: '' } }).producer).toBeNull();
  });

  test("a loaded Classifier's info reads its file's header", async () => {
    const model = await testModelPath({ depth: 18, version: 2, classes: 1000 });
    const c = await Classifier.load({ model, labels: SYNSET_PATH, modelId: 'x', threads: 1 });
    try {
      expect(c.info).toEqual({
        id: 'x',
        inputSize: 224,
        numClasses: 1000,
        maxBatch: null,
        resizeShortSide: 256,
        untrained: true,
        producer: `${BUILDER_PRODUCER} ${BUILDER_REVISION}`,
        description: 'ResNet-18 v2, seeded weights (seed 0), 1000 classes; generated, not trained.',
        trained: { id: 'resnet18-v2', fetchCommand: 'npx resnet fetch resnet18-v2' },
      });
    } finally {
      await c.dispose();
    }
  }, 60_000);
});
