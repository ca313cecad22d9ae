import { UnknownModelError } from '../../core/errors.js';
import { findZooModel, getZooModel, LABELS_URL, ZOO_MODELS } from '../../core/registry.js';
import { IMAGENET_PREPROCESS } from '../../core/types.js';

const IDS = [
  'resnet18-v1', 'resnet34-v1', 'resnet50-v1', 'resnet101-v1', 'resnet152-v1',
  'resnet18-v2', 'resnet34-v2', 'resnet50-v2', 'resnet101-v2', 'resnet152-v2',
  'resnet50-v1-12', 'resnet50-v1-12-int8',
];

// The zoo card's "Download" column (MB there means MiB, rounded to 0.1), its accuracies, and
// the first 8 hex digits of each file's sha256 (collected apart from core/registry.ts): an
// independent transcription to catch typos.
const CARD: Record<string, { mib: number; top1: number; top5: number; sha8?: string; output?: string }> = {
  'resnet18-v1': { mib: 44.7, top1: 69.93, top5: 89.29, sha8: '4e8f8653', output: 'resnetv15_dense0_fwd' },
  'resnet34-v1': { mib: 83.3, top1: 73.73, top5: 91.4, sha8: '883a41b2', output: 'resnetv16_dense0_fwd' },
  'resnet50-v1': { mib: 97.8, top1: 74.93, top5: 92.38, sha8: 'af16a04a', output: 'resnetv17_dense0_fwd' },
  'resnet101-v1': { mib: 170.6, top1: 76.48, top5: 93.2, sha8: '760702f6', output: 'resnetv18_dense0_fwd' },
  'resnet152-v1': { mib: 230.6, top1: 77.11, top5: 93.61, sha8: 'b0ec9243', output: 'resnetv19_dense0_fwd' },
  'resnet18-v2': { mib: 44.6, top1: 69.7, top5: 89.49, sha8: '3b4d0480', output: 'resnetv22_dense0_fwd' },
  'resnet34-v2': { mib: 83.2, top1: 73.36, top5: 91.43, sha8: '3d3815e2', output: 'resnetv23_dense0_fwd' },
  'resnet50-v2': { mib: 97.7, top1: 75.81, top5: 92.82, sha8: '79102261', output: 'resnetv24_dense0_fwd' },
  'resnet101-v2': { mib: 170.4, top1: 77.42, top5: 93.61, sha8: '3a0a819e', output: 'resnetv25_dense0_fwd' },
  'resnet152-v2': { mib: 230.3, top1: 78.2, top5: 94.21, sha8: '40fb3f6d', output: 'resnetv27_dense0_fwd' },
  'resnet50-v1-12': { mib: 97.8, top1: 74.97, top5: 92.33 },
  'resnet50-v1-12-int8': { mib: 24.6, top1: 74.77, top5: 92.32 },
};

describe('ZOO_MODELS', () => {
  it('holds exactly the twelve ids, unique, in order', () => {
    expect(ZOO_MODELS.map((m) => m.id)).toEqual(IDS);
    expect(new Set(ZOO_MODELS.map((m) => m.file)).size).toBe(12);
    expect(new Set(ZOO_MODELS.map((m) => m.url)).size).toBe(12);
  });

  describe.each(IDS)('%s', (id) => {
    const m = getZooModel(id);
    const card = CARD[id]!;

    it('matches the card: size, accuracy, architecture', () => {
      expect(Math.abs(m.bytes / 2 ** 20 - card.mib)).toBeLessThan(0.051);
      expect(m.top1).toBe(card.top1);
      expect(m.top5).toBe(card.top5);
      expect(m.top5).toBeGreaterThan(m.top1);
      expect(id.startsWith(`resnet${m.depth}-v${m.version}`)).toBe(true);
      expect(m.preprocess).toEqual(IMAGENET_PREPROCESS);
    });

    it('has a checksum that agrees with zoo-facts', () => {
      expect(m.sha256).toMatch(/^(|[0-9a-f]{8}|[0-9a-f]{64})$/);
      if (card.sha8) expect(m.sha256.slice(0, 8)).toBe(card.sha8);
      if (card.output) expect(m.outputName).toBe(card.output);
    });

    it('downloads from the current zoo path, with the seed S3 copy as MD5-checked mirror for -7 files', () => {
      expect(m.url).toBe(`https://github.com/onnx/models/raw/main/validated/vision/classification/resnet/model/${m.file}`);
      if (m.opset === 7) {
        const s3 = `resnet${m.depth}v${m.version}`;
        expect(m.file).toBe(`${id}-7.onnx`);
        expect(m.mirrorUrl).toBe(`https://s3.amazonaws.com/onnx-model-zoo/resnet/${s3}/${s3}.onnx`);
        expect(m.md5Url).toBe(`https://s3.amazonaws.com/onnx-model-zoo/resnet/${s3}/${s3}-md5.txt`);
      } else {
        expect(m.opset).toBe(12);
        expect(m.file).toBe(`${id}.onnx`);
        expect(m.mirrorUrl).toBeUndefined();
      }
    });
  });

  it('has full sha256 for the files whose LFS pointers were read', () => {
    const full = ZOO_MODELS.filter((m) => m.sha256.length === 64).map((m) => m.id);
    expect(full).toEqual(['resnet18-v1', 'resnet101-v1', 'resnet152-v1', 'resnet18-v2', 'resnet101-v2', 'resnet152-v2', 'resnet50-v1-12-int8']);
  });

  it('marks only the int8 file quantized, and it is ~4x smaller than fp32', () => {
    expect(ZOO_MODELS.filter((m) => m.quantized).map((m) => m.id)).toEqual(['resnet50-v1-12-int8']);
    const ratio = getZooModel('resnet50-v1-12').bytes / getZooModel('resnet50-v1-12-int8').bytes;
    expect(ratio).toBeGreaterThan(3.9);
    expect(ratio).toBeLessThan(4.1);
  });

  it('is JSON-serialisable (resnet models --json)', () => {
    expect(JSON.parse(JSON.stringify(ZOO_MODELS[0]))).toEqual(ZOO_MODELS[0]);
  });
});

describe('getZooModel', () => {
  it.each([
    ['ResNet-50 v2', 'resnet50-v2'],
    ['resnet50v2', 'resnet50-v2'],
    ['resnet50-v2-7', 'resnet50-v2'],
    ['RESNET152-V1', 'resnet152-v1'],
    ['resnet50-v1-12-int8', 'resnet50-v1-12-int8'],
    ['resnet50-v1-12', 'resnet50-v1-12'],
  ])('resolves %s to %s', (alias, id) => {
    expect(getZooModel(alias).id).toBe(id);
  });

  it('throws UnknownModelError listing every id', () => {
    let err: unknown;
    try {
      getZooModel('resnet200-v1');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnknownModelError);
    const e = err as UnknownModelError;
    expect(e.code).toBe('UNKNOWN_MODEL');
    expect(e.message).toContain('"resnet200-v1"');
    for (const id of IDS) expect(e.message).toContain(id);
  });

  it('findZooModel returns undefined for paths', () => {
    expect(findZooModel('./my-model.onnx')).toBeUndefined();
    expect(findZooModel('resnet18-v1')?.id).toBe('resnet18-v1');
  });
});

it('LABELS_URL points at the zoo synset beside the classification folder', () => {
  expect(LABELS_URL).toBe('https://github.com/onnx/models/raw/main/validated/vision/classification/synset.txt');
});
