import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { FileNotFoundError, InvalidArgumentError, InvalidModelError } from '../../core/errors.js';
import { encodeModel, type OnnxModel } from '../../core/model-builder/onnx-model.js';
import { ModelSession } from '../../core/session.js';
import { testModelPath } from '../helpers/models.js';

const IMAGE = 3 * 224 * 224;
const TOLERANCE = 1e-4;

/** Three different CHW images: constant, a smooth pattern, and seeded noise. */
function images(): Float32Array[] {
  let s = 12345;
  const noise = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s / 2 ** 32) * 4 - 2;
  };
  return [
    new Float32Array(IMAGE).fill(0.5),
    Float32Array.from({ length: IMAGE }, (_, i) => Math.sin(i / 311) * 2),
    Float32Array.from({ length: IMAGE }, noise),
  ];
}

function expectClose(actual: Float32Array[], expected: Float32Array[]): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((a, i) => {
    expect(a).toHaveLength(expected[i].length);
    a.forEach((v, k) => expect(Math.abs(v - expected[i][k])).toBeLessThanOrEqual(TOLERANCE));
  });
}

async function oneByOne(session: ModelSession, inputs: Float32Array[]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const t of inputs) out.push(...(await session.run([t])));
  return out;
}

describe('ModelSession', () => {
  const base = { depth: 18, version: 1, seed: 0, classes: 10 } as const;
  let fixed: ModelSession;
  let dynamic: ModelSession;
  beforeAll(async () => {
    fixed = await ModelSession.create(await testModelPath({ ...base, batch: 1 }), { threads: 1 });
    dynamic = await ModelSession.create(await testModelPath({ ...base, batch: 'dynamic' }), { threads: 1, maxDynamicBatch: 2 });
  });
  afterAll(async () => {
    await fixed.dispose();
    await dynamic.dispose();
  });

  it('reads names and shapes from the model', () => {
    for (const s of [fixed, dynamic]) {
      expect(s.inputName).toBe('data');
      expect(s.outputName).toBe('resnet18v1_dense0_fwd');
      expect(s.inputSize).toBe(224);
      expect(s.numClasses).toBe(10);
    }
    expect(fixed.maxBatch).toBe(1);
    expect(dynamic.maxBatch).toBeNull();
  });

  it.each([
    ['fixed batch 1', () => fixed],
    ['dynamic batch (chunks of 2)', () => dynamic],
  ])('%s: a batch of 3 gives the same logits per image as one at a time', async (_name, session) => {
    const inputs = images();
    const batched = await session().run(inputs);
    expectClose(batched, await oneByOne(session(), inputs));
    // The images really differ, so order mistakes would be caught.
    expect(Math.max(...batched[1].map((v, k) => Math.abs(v - batched[2][k])))).toBeGreaterThan(1e-3);
  });

  it('fixed and dynamic files built from the same seed agree', async () => {
    const inputs = images();
    expectClose(await dynamic.run(inputs), await fixed.run(inputs));
  });

  it('accepts tensors that are views into a larger buffer', async () => {
    const inputs = images();
    const packed = new Float32Array(IMAGE * 3);
    inputs.forEach((t, i) => packed.set(t, i * IMAGE));
    const views = [0, 1, 2].map((i) => packed.subarray(i * IMAGE, (i + 1) * IMAGE));
    expectClose(await fixed.run(views.slice(2)), await fixed.run(inputs.slice(2)));
    expectClose(await dynamic.run(views), await dynamic.run(inputs));
    // Back-to-back views go in as one view of the buffer, also when they do not start at its beginning.
    expectClose(await dynamic.run(views.slice(1)), await dynamic.run(inputs.slice(1)));
  });

  it('returns independent copies and handles an empty batch', async () => {
    const [a] = await fixed.run([images()[0]]);
    const [b] = await fixed.run([images()[0]]);
    a[0] += 100;
    expect(b[0]).not.toBe(a[0]);
    expect(await dynamic.run([])).toEqual([]);
  });

  it('pinned logits: resnet18 v1, seed 0, 10 classes, constant 0.5 input', async () => {
    // Recorded once from this builder revision; a change means the generated weights or graph changed.
    const expected = [0.83024, 0.3679, -0.35786, 0.41264, 0.38605, 0.47679, -0.31752, 0.89036, 0.53589, -0.57904];
    const [logits] = await fixed.run([new Float32Array(IMAGE).fill(0.5)]);
    Array.from(logits).forEach((v, k) => expect(v).toBeCloseTo(expected[k], 3));
    expect(logits.indexOf(Math.max(...logits))).toBe(7);
  });

  it('rejects tensors of the wrong size', async () => {
    await expect(fixed.run([new Float32Array(IMAGE - 1)])).rejects.toThrow(InvalidArgumentError);
  });

  it('rejects invalid options', async () => {
    const model = await testModelPath({ ...base, batch: 1 });
    await expect(ModelSession.create(model, { threads: 0 })).rejects.toThrow(InvalidArgumentError);
    await expect(ModelSession.create(model, { maxDynamicBatch: 0 })).rejects.toThrow(InvalidArgumentError);
  });
});

describe('ModelSession.create errors', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'resnet-session-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A tiny valid ONNX model: `data` -> one op -> `out`. */
  async function tinyModel(name: string, op: string, inputDims: (number | string)[], outputDims: (number | string)[]): Promise<string> {
    const model: OnnxModel = {
      irVersion: 3,
      opsetVersion: 7,
      producerName: 'test',
      producerVersion: '0',
      graphName: name,
      nodes: [{ opType: op, name: 'op0', inputs: ['data'], outputs: ['out'] }],
      initializers: [],
      inputs: [{ name: 'data', dims: inputDims }],
      outputs: [{ name: 'out', dims: outputDims }],
    };
    const file = path.join(dir, `${name}.onnx`);
    await writeFile(file, encodeModel(model).toBytes());
    return file;
  }

  it('a missing file is FileNotFoundError', async () => {
    await expect(ModelSession.create(path.join(dir, 'absent.onnx'))).rejects.toThrow(FileNotFoundError);
  });

  it('a file that is not ONNX is InvalidModelError', async () => {
    const file = path.join(dir, 'corrupt.onnx');
    await writeFile(file, 'this is not a protobuf model\n'.repeat(100));
    const err: unknown = await ModelSession.create(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidModelError);
    expect((err as InvalidModelError).code).toBe('INVALID_MODEL');
    expect((err as Error).message).toContain(file);
  });

  it('a truncated model is InvalidModelError', async () => {
    const bytes = encodeModel({
      irVersion: 3, opsetVersion: 7, producerName: 't', producerVersion: '0', graphName: 'g',
      nodes: [{ opType: 'Relu', name: 'r', inputs: ['data'], outputs: ['out'] }],
      initializers: [], inputs: [{ name: 'data', dims: [1, 3, 224, 224] }], outputs: [{ name: 'out', dims: [1, 3, 224, 224] }],
    }).toBytes();
    const file = path.join(dir, 'truncated.onnx');
    await writeFile(file, bytes.subarray(0, bytes.length - 20));
    await expect(ModelSession.create(file)).rejects.toThrow(InvalidModelError);
  });

  it('an input that is not [N,3,S,S] is InvalidModelError', async () => {
    const file = await tinyModel('rank2', 'Relu', ['N', 10], ['N', 10]);
    await expect(ModelSession.create(file)).rejects.toThrow(/input "data" has shape \[N,10\]/);
  });

  it('an output that is not [N,classes] is InvalidModelError', async () => {
    const file = await tinyModel('rank4out', 'Relu', ['N', 3, 224, 224], ['N', 3, 224, 224]);
    const err: unknown = await ModelSession.create(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidModelError);
    expect((err as Error).message).toMatch(/output "out" has shape \[N,3,224,224\]/);
  });

  it('a disposed session refuses to run', async () => {
    const session = await ModelSession.create(await testModelPath({ depth: 18, version: 1, seed: 0, classes: 10, batch: 1 }), { threads: 1 });
    await session.dispose();
    await session.dispose();
    await expect(session.run([new Float32Array(IMAGE)])).rejects.toThrow(InvalidArgumentError);
  });
});
