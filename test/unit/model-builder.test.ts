import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import * as ort from 'onnxruntime-node';

import { InvalidArgumentError } from '../../core/errors.js';
import { buildResNet, countParameters, type ResNetBuildOptions, writeResNet } from '../../core/model-builder/index.js';
import { ModelSession } from '../../core/session.js';
import { testModelPath } from '../helpers/models.js';

/** torchvision's ResNet v1 parameter counts (sum of numel over model.parameters()). */
const PUBLISHED: Record<ResNetBuildOptions['depth'], number> = {
  18: 11_689_512,
  34: 21_797_672,
  50: 25_557_032,
  101: 44_549_160,
  152: 60_192_808,
};

const IMAGE = 3 * 224 * 224;

async function logitsOf(model: Uint8Array, input: Float32Array): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
  try {
    const out = await session.run({ data: new ort.Tensor('float32', input, [1, 3, 224, 224]) });
    return out[session.outputNames[0]].data as Float32Array;
  } finally {
    await session.release();
  }
}

/** A protobuf reader independent of the writer under test: field number -> varints or byte slices. */
function fieldsOf(bytes: Uint8Array): Map<number, (number | Uint8Array)[]> {
  const fields = new Map<number, (number | Uint8Array)[]>();
  let at = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 1; ; shift *= 128) {
      const b = bytes[at++];
      value += (b & 0x7f) * shift;
      if (b < 0x80) return value;
    }
  };
  while (at < bytes.length) {
    const key = varint();
    const [field, wire] = [Math.floor(key / 8), key % 8];
    let value: number | Uint8Array;
    if (wire === 0) value = varint();
    else if (wire === 2) {
      const len = varint();
      value = bytes.subarray(at, at + len);
      at += len;
    } else if (wire === 5) {
      value = new DataView(bytes.buffer, bytes.byteOffset + at, 4).getFloat32(0, true);
      at += 4;
    } else throw new Error(`unexpected wire type ${wire}`);
    const list = fields.get(field) ?? [];
    list.push(value);
    fields.set(field, list);
  }
  return fields;
}

/** The op_type of every node of a serialized ModelProto, in graph order. */
function opTypesOf(model: Uint8Array): string[] {
  const graph = fieldsOf(fieldsOf(model).get(7)?.[0] as Uint8Array);
  return (graph.get(1) ?? []).map((node) => new TextDecoder().decode(fieldsOf(node as Uint8Array).get(4)?.[0] as Uint8Array));
}

function count(items: string[], item: string): number {
  return items.filter((i) => i === item).length;
}

function rampInput(): Float32Array {
  return Float32Array.from({ length: IMAGE }, (_, i) => Math.sin(i / 997) * 1.5);
}

describe('countParameters', () => {
  describe.each([1, 2] as const)('ResNet v%i', (version) => {
    it.each([18, 34, 50, 101, 152] as const)('depth %i is within 1 %% of the published count', (depth) => {
      const n = countParameters({ depth, version });
      expect(Math.abs(n / PUBLISHED[depth] - 1)).toBeLessThan(0.01);
      // v1 has exactly torchvision's layout; v2 differs only in where BatchNorms sit.
      if (version === 1) expect(n).toBe(PUBLISHED[depth]);
      else expect(n).not.toBe(PUBLISHED[depth]);
    });
  });

  it('the classes option resizes only the classifier', () => {
    const tenClasses = countParameters({ depth: 50, version: 1, classes: 10 });
    expect(tenClasses).toBe(PUBLISHED[50] - (2048 * 1000 + 1000) + (2048 * 10 + 10));
  });

  it.each([
    [{ depth: 20, version: 1 }],
    [{ depth: 18, version: 3 }],
    [{ depth: 18, version: 1, seed: -1 }],
    [{ depth: 18, version: 1, seed: 1.5 }],
    [{ depth: 18, version: 1, classes: 0 }],
    [{ depth: 18, version: 1, batch: 4 }],
  ])('rejects %j with InvalidArgumentError', (opts) => {
    expect(() => countParameters(opts as unknown as ResNetBuildOptions)).toThrow(InvalidArgumentError);
  });
});

describe('buildResNet', () => {
  const r18: ResNetBuildOptions = { depth: 18, version: 1, classes: 10 };
  let bytes: Uint8Array;
  beforeAll(() => {
    bytes = buildResNet(r18);
  });

  it('loads in onnxruntime with the zoo input name and shapes', async () => {
    const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
    try {
      expect(session.inputMetadata).toEqual([{ name: 'data', isTensor: true, type: 'float32', shape: ['N', 3, 224, 224] }]);
      const [output] = session.outputMetadata;
      expect(output).toMatchObject({ isTensor: true, type: 'float32', shape: ['N', 10] });
      const out = await session.run({ data: new ort.Tensor('float32', new Float32Array(2 * IMAGE).fill(0.5), [2, 3, 224, 224]) });
      const logits = out[output.name];
      expect(logits.dims).toEqual([2, 10]);
      const values = Array.from(logits.data as Float32Array);
      expect(values.every(Number.isFinite)).toBe(true);
      // Seeded He init with matched BatchNorm statistics keeps logits in a trained-model-like range.
      const spread = Math.max(...values) - Math.min(...values);
      expect(spread).toBeGreaterThan(0.5);
      expect(spread).toBeLessThan(50);
    } finally {
      await session.release();
    }
  });

  it('is deterministic: the same options give identical bytes', () => {
    expect(Buffer.compare(buildResNet(r18), bytes)).toBe(0);
  });

  it('a different seed gives different weights and different logits', async () => {
    const other = buildResNet({ ...r18, seed: 1 });
    expect(other.length).toBe(bytes.length);
    expect(Buffer.compare(other, bytes)).not.toBe(0);
    const input = rampInput();
    const [a, b] = [await logitsOf(bytes, input), await logitsOf(other, input)];
    const maxDiff = Math.max(...a.map((v, i) => Math.abs(v - b[i])));
    expect(maxDiff).toBeGreaterThan(0.1);
  });

  it('v1 (post-activation) and v2 (pre-activation) are different graphs', () => {
    const [ops1, ops2] = [opTypesOf(bytes), opTypesOf(buildResNet({ ...r18, version: 2 }))];
    // v1: stem BN + 2 per unit + 3 projection BNs; v2: input BN + stem BN + 2 per unit + final BN.
    expect(count(ops1, 'BatchNormalization')).toBe(1 + 8 * 2 + 3);
    expect(count(ops2, 'BatchNormalization')).toBe(2 + 8 * 2 + 1);
    expect(count(ops1, 'Relu')).toBe(1 + 8 * 2);
    expect(count(ops2, 'Relu')).toBe(1 + 8 * 2 + 1);
    // Post-activation starts with Conv; pre-activation normalises the input first.
    expect(ops1.slice(0, 3)).toEqual(['Conv', 'BatchNormalization', 'Relu']);
    expect(ops2.slice(0, 4)).toEqual(['BatchNormalization', 'Conv', 'BatchNormalization', 'Relu']);
    for (const ops of [ops1, ops2]) {
      expect(count(ops, 'Conv')).toBe(1 + 8 * 2 + 3);
      expect(count(ops, 'Add')).toBe(8);
      expect(ops.slice(-3)).toEqual(['GlobalAveragePool', 'Flatten', 'Gemm']);
    }
  });

  it('is an IR-3, opset-7 model using only opset-7 operators', () => {
    const v2 = buildResNet({ depth: 50, version: 2, classes: 10 });
    const model = fieldsOf(v2);
    expect(model.get(1)).toEqual([3]);
    const opset = fieldsOf(model.get(8)?.[0] as Uint8Array);
    expect(opset.get(2)).toEqual([7]);
    const opTypes = opTypesOf(v2);
    const allowed = ['Conv', 'BatchNormalization', 'Relu', 'Add', 'MaxPool', 'GlobalAveragePool', 'Flatten', 'Gemm'];
    expect([...new Set(opTypes)].sort()).toEqual([...allowed].sort());
    // ResNet-50 v2: 53 convolutions (1 stem + 16 units x 3 + 4 projections), 16 residual additions.
    expect(count(opTypes, 'Conv')).toBe(53);
    expect(count(opTypes, 'Add')).toBe(16);
  });
});

describe('writeResNet', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'resnet-builder-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('streams the same bytes buildResNet returns, atomically', async () => {
    const opts: ResNetBuildOptions = { depth: 18, version: 2, seed: 7, batch: 1 };
    const out = path.join(dir, 'nested', 'r18.onnx');
    const result = await writeResNet(opts, out);
    expect(result).toEqual({ path: out, bytes: readFileSync(out).length, parameters: countParameters(opts) });
    expect(Buffer.compare(readFileSync(out), buildResNet(opts))).toBe(0);
    expect(readdirSync(path.dirname(out))).toEqual(['r18.onnx']);
    // The zoo's resnet18-v2-7.onnx is 46,806,737 bytes; same tensors, so within 1 %.
    expect(Math.abs(result.bytes / 46_806_737 - 1)).toBeLessThan(0.01);
  });

  it('leaves no file behind when the options are invalid', async () => {
    const out = path.join(dir, 'bad.onnx');
    await expect(writeResNet({ depth: 18, version: 1, classes: -1 }, out)).rejects.toThrow(InvalidArgumentError);
    expect(existsSync(out)).toBe(false);
  });
});

describe('batch dimension', () => {
  it.each([
    [1, 1],
    ['dynamic', null],
  ] as const)('batch %s reports maxBatch %s', async (batch, maxBatch) => {
    const session = await ModelSession.create(await testModelPath({ depth: 18, version: 1, classes: 10, batch }), { threads: 1 });
    try {
      expect(session.maxBatch).toBe(maxBatch);
      expect(session.inputName).toBe('data');
      expect(session.numClasses).toBe(10);
    } finally {
      await session.dispose();
    }
  });
});
