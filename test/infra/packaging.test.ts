import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readSync, readdirSync, realpathSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeResNet } from '../../core/model-builder/index.js';
import { buildModelLayer } from '../../layers/build-model-layer.js';
import { buildOnnxruntimeLayer } from '../../layers/build-onnxruntime-layer.js';
import { directoryBytes } from '../../layers/dir-size.js';
import { LAMBDA_UNZIPPED_LIMIT_BYTES, decidePackaging } from '../../layers/packaging.js';
import type { LayerArch } from '../../layers/paths.js';
import { INFRA_CACHE } from './fixtures.js';

const MB = 1_000_000;
const FUNCTION_BUDGET = 20 * MB; // the default functionBudgetMb

describe('decidePackaging (pure)', () => {
  // Zoo file sizes as core/registry.ts lists them (the zoo's Git LFS pointers); onnxruntime-node 1.30 layer sizes as built here.
  const X64 = 46.3 * MB;
  const ARM = 25.6 * MB;
  it.each([
    ['resnet18-v1', 46_820_737, X64, 'layer'],
    ['resnet50-v2', 102_442_452, X64, 'layer'],
    ['resnet101-v1', 178_914_043, X64, 'layer'],
    ['resnet152-v1', 241_816_206, X64, 's3'],
    ['resnet152-v2', 241_503_848, ARM, 's3'],
    ['resnet101-v2', 178_682_301, ARM, 'layer'],
  ])('%s (%d bytes) with a %d-byte runtime → %s', (_id, model, runtime, mode) => {
    const d = decidePackaging({ requested: 'auto', modelLayerBytes: model, runtimeLayerBytes: runtime, functionBytes: FUNCTION_BUDGET });
    expect(d.mode).toBe(mode);
    expect(d.layerTotalBytes).toBe(model + runtime + FUNCTION_BUDGET);
    expect(d.headroomBytes).toBe(LAMBDA_UNZIPPED_LIMIT_BYTES - d.layerTotalBytes);
    expect(d.layers).toBe(mode === 'layer' ? 2 : 1);
  });

  it('explains an S3 decision with the arithmetic and sizes /tmp for the model', () => {
    const d = decidePackaging({ requested: 'auto', modelLayerBytes: 241_816_206, runtimeLayerBytes: 46.3 * MB, functionBytes: FUNCTION_BUDGET, label: 'resnet152-v1 on x86_64' });
    expect(d.reason).toBe('resnet152-v1 on x86_64: model as S3 artefact loaded to /tmp at cold start: function budget 19.1 MiB + onnxruntime 44.2 MiB + model 230.6 MiB = 293.8 MiB '
      + "exceeds Lambda's 250.0 MiB unzipped limit by 43.8 MiB (a container-image function, up to 10 GB, is the other way out).");
    expect(d.ephemeralStorageMb).toBe(Math.ceil(241_816_206 / 1048576) + 512);
    expect(d.totalBytes).toBe(FUNCTION_BUDGET + 46.3 * MB);
  });

  it('honours an explicit s3 request even when the layer would fit', () => {
    const d = decidePackaging({ requested: 's3', modelLayerBytes: 10 * MB, runtimeLayerBytes: 46 * MB, functionBytes: FUNCTION_BUDGET });
    expect(d.mode).toBe('s3');
    expect(d.reason).toMatch(/as requested \(modelSource=s3\)/);
  });

  it('refuses an explicit layer request that cannot fit, saying what to do', () => {
    expect(() => decidePackaging({ requested: 'layer', modelLayerBytes: 241_816_206, runtimeLayerBytes: 46 * MB, functionBytes: FUNCTION_BUDGET }))
      .toThrow(/modelSource=layer cannot work: .* exceeds Lambda's 250\.0 MiB .*Use -c modelSource=auto/);
  });

  it('falls back to S3 when a model layer would be the sixth layer', () => {
    const d = decidePackaging({ requested: 'auto', modelLayerBytes: 10 * MB, runtimeLayerBytes: 46 * MB, functionBytes: FUNCTION_BUDGET, otherLayers: 5 });
    expect(d.mode).toBe('s3');
    expect(d.reason).toMatch(/6 layers, over Lambda's 5/);
  });

  it('rejects sizes that cannot work at all', () => {
    expect(() => decidePackaging({ requested: 'auto', modelLayerBytes: 1, runtimeLayerBytes: 250 * MB, functionBytes: 20 * MB })).toThrow(/container-image/);
    expect(() => decidePackaging({ requested: 'auto', modelLayerBytes: 11_000 * 1048576, runtimeLayerBytes: 46 * MB, functionBytes: MB })).toThrow(/largest \/tmp/);
  });
});

/** ELF e_machine of a file: 0x3e x86-64, 0xb7 AArch64. */
function elfMachine(file: string): number {
  const fd = openSync(file, 'r');
  const buf = Buffer.alloc(20);
  readSync(fd, buf, 0, 20, 0);
  closeSync(fd);
  expect(buf.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
  return buf.readUInt16LE(18);
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

describe.each([
  ['x86_64', 'x64', 0x3e, 40 * MB, 55 * MB],
  ['arm64', 'arm64', 0xb7, 20 * MB, 32 * MB],
] as const)('onnxruntime layer for %s', (arch, nodeArch, machine, min, max) => {
  const outDir = path.join(INFRA_CACHE, `onnxruntime-${arch}`);
  let files: string[];
  let bytes: number;
  beforeAll(() => {
    const m = buildOnnxruntimeLayer({ arch: arch as LayerArch, outDir });
    bytes = m.bytes;
    files = listFiles(outDir);
  });

  it('holds only that architecture\'s Linux binaries, under nodejs/node_modules', () => {
    const binaries = files.filter((f) => f.includes('/bin/'));
    expect(binaries.sort()).toEqual([
      `nodejs/node_modules/onnxruntime-node/bin/napi-v6/linux/${nodeArch}/libonnxruntime.so.1`,
      `nodejs/node_modules/onnxruntime-node/bin/napi-v6/linux/${nodeArch}/onnxruntime_binding.node`,
    ]);
    for (const b of binaries) expect(elfMachine(path.join(outDir, b))).toBe(machine);
    expect(files).toContain('nodejs/node_modules/onnxruntime-node/dist/index.js');
    expect(files).toContain('nodejs/node_modules/onnxruntime-common/dist/cjs/index.js');
    expect(files.some((f) => f.endsWith('.map') || f.endsWith('.d.ts'))).toBe(false);
  });

  it(`is ${min / MB}-${max / MB} MB unzipped (the npm package is ~290 MB)`, () => {
    expect(bytes).toBe(directoryBytes(outDir));
    expect(bytes).toBeGreaterThan(min);
    expect(bytes).toBeLessThan(max);
  });

  if (os.arch() === nodeArch && os.platform() === 'linux') {
    it('loads through NODE_PATH alone, as Lambda resolves it from /opt/nodejs/node_modules', () => {
      const out = execFileSync(process.execPath, ['-e', "const o=require('onnxruntime-node');process.stdout.write(require.resolve('onnxruntime-node')+' '+typeof o.InferenceSession.create)"], {
        cwd: os.tmpdir(), env: { ...process.env, NODE_PATH: path.join(outDir, 'nodejs/node_modules') }, encoding: 'utf8',
      });
      expect(out).toBe(`${realpathSync(path.join(outDir, 'nodejs/node_modules/onnxruntime-node/dist/index.js'))} function`);
    });
  }
});

describe('packaging decision for generated ResNets of the zoo\'s sizes', () => {
  const labelsPath = path.join(INFRA_CACHE, 'labels-1000.txt');
  const layers: Record<number, number> = {};
  const runtimes: Record<string, number> = {};

  beforeAll(async () => {
    writeFileSync(labelsPath, Array.from({ length: 1000 }, (_, i) => `n${String(i).padStart(8, '0')} class ${i}`).join('\n') + '\n');
    for (const depth of [50, 152] as const) {
      const modelPath = path.join(INFRA_CACHE, `resnet${depth}-v1.onnx`);
      if (!existsSync(modelPath)) await writeResNet({ depth, version: 1 }, modelPath);
      layers[depth] = buildModelLayer({ modelId: `resnet${depth}-v1`, modelPath, labelsPath, outDir: path.join(INFRA_CACHE, `layer-resnet${depth}-v1`) }).bytes;
    }
    for (const arch of ['x86_64', 'arm64'] as const) runtimes[arch] = buildOnnxruntimeLayer({ arch, outDir: path.join(INFRA_CACHE, `onnxruntime-${arch}`) }).bytes;
  }, 180_000);

  it('builds model layers of the true sizes (ResNet-50 ~102.5 MB, ResNet-152 ~241.6 MB)', () => {
    expect(layers[50]).toBeGreaterThan(101 * MB);
    expect(layers[50]).toBeLessThan(104 * MB);
    expect(layers[152]).toBeGreaterThan(240 * MB);
    expect(layers[152]).toBeLessThan(243 * MB);
    expect(listFiles(path.join(INFRA_CACHE, 'layer-resnet50-v1')).sort()).toEqual(['model/labels.txt', 'model/model.onnx']);
  });

  it.each([
    [50, 'x86_64', 'layer'],
    [50, 'arm64', 'layer'],
    [152, 'x86_64', 's3'],
    [152, 'arm64', 's3'],
  ] as const)('ResNet-%d on %s → %s', (depth, arch, mode) => {
    const d = decidePackaging({ requested: 'auto', modelLayerBytes: layers[depth], runtimeLayerBytes: runtimes[arch], functionBytes: FUNCTION_BUDGET, label: `resnet${depth}-v1 on ${arch}` });
    console.log(d.reason);
    expect(d.mode).toBe(mode);
    expect(d.reason).toContain(mode === 'layer' ? 'model in a layer' : 'exceeds Lambda\'s 250.0 MiB unzipped limit');
  });
});
