/**
 * The Lambda functions' model thread (functions/common/session-thread.ts, started by preload.ts
 * during init): the same logits as a main-thread ModelSession with the same options, the same
 * contract (batching, input checks, disposal), the cold-start measures recorded on the main thread,
 * and the functions' fall-back to a main-thread session when the thread cannot open the model.
 */
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

import { InvalidArgumentError, InvalidModelError } from '../../core/errors.js';
import { ModelSession, SESSION_MEASURES } from '../../core/session.js';
import { getClassifier, resetClassifier } from '../../functions/common/model.js';
import { preloadModelSession, takePreloadedSession } from '../../functions/common/preload.js';
import { SessionThread } from '../../functions/common/session-thread.js';
import { testModelPath } from '../helpers/models.js';

const SLOW = 120_000;

/** Deterministic CHW inputs, different per seed. */
function inputs(n: number, size: number, seed: number): Float32Array[] {
  return Array.from({ length: n }, (_, k) => new Float32Array(3 * size * size).map((_, i) => Math.sin(i * 0.01 + k + seed)));
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'session-thread-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe.each([{ batch: 'dynamic' as const }, { batch: 1 as const }])('a model thread on a generated ResNet-18 (batch $batch)', ({ batch }) => {
  let thread: SessionThread;
  let main: ModelSession;
  beforeAll(async () => {
    const model = await testModelPath({ depth: 18, version: 1, classes: 10, batch });
    performance.clearMeasures();
    [thread, main] = await Promise.all([SessionThread.start(model, { threads: 1, maxDynamicBatch: 2 }), ModelSession.create(model, { threads: 1, maxDynamicBatch: 2 })]);
  }, SLOW);
  afterAll(async () => {
    await Promise.all([thread?.dispose(), main?.dispose()]);
  });

  it('reads the same contract as a main-thread session', () => {
    expect({ inputSize: thread.inputSize, numClasses: thread.numClasses, maxBatch: thread.maxBatch }).toEqual({ inputSize: main.inputSize, numClasses: 10, maxBatch: batch === 1 ? 1 : null });
  });

  it('gives the same logits, one image and three (chunked), in input order', async () => {
    for (const n of [1, 3]) {
      const x = inputs(n, thread.inputSize, n);
      const [a, b] = await Promise.all([thread.run(x), main.run(x)]);
      expect(a).toHaveLength(n);
      a.forEach((logits, i) => expect(Array.from(logits)).toEqual(Array.from(b[i]!)));
      // Different images, different logits: the inputs reached the model in order.
      if (n === 3) expect(Array.from(a[0]!)).not.toEqual(Array.from(a[1]!));
    }
  }, SLOW);

  it('records session creation and its warm-up inference as main-thread measures', async () => {
    // The warm-up's measure arrives with the first answer at the latest (the thread runs in order).
    await thread.run(inputs(1, thread.inputSize, 9));
    const names = performance.getEntriesByType('measure').map((e) => e.name);
    expect(names).toEqual(expect.arrayContaining([SESSION_MEASURES.create, SESSION_MEASURES.firstRun]));
    for (const e of performance.getEntriesByType('measure')) expect(e.duration).toBeGreaterThan(0);
  }, SLOW);

  it('checks the input length as ModelSession does', async () => {
    await expect(thread.run([new Float32Array(5)])).rejects.toThrow(InvalidArgumentError);
  });
});

test('a disposed thread rejects runs and may be disposed again', async () => {
  const thread = await SessionThread.start(await testModelPath({ depth: 18, version: 1, classes: 10 }), { threads: 1 });
  await thread.dispose();
  await thread.dispose();
  await expect(thread.run(inputs(1, thread.inputSize, 0))).rejects.toThrow(/disposed/);
}, SLOW);

test('a file that is not a model: the thread rejects with InvalidModelError', async () => {
  const bad = path.join(tmp, 'not-a-model.onnx');
  await writeFile(bad, 'not an onnx file');
  await expect(SessionThread.start(bad, { threads: 1 })).rejects.toThrow(InvalidModelError);
}, SLOW);

describe('preload and the functions model resolution', () => {
  afterEach(() => resetClassifier());

  it('hands the preloaded session out once, for its own model and options only', async () => {
    const dir = path.join(tmp, 'layer-a');
    await rm(dir, { recursive: true, force: true });
    await import('node:fs/promises').then((fs) => fs.mkdir(dir, { recursive: true }));
    await copyFile(await testModelPath({ depth: 18, version: 1, classes: 10 }), path.join(dir, 'model.onnx'));
    expect(preloadModelSession({ MODEL_DIR: dir, ORT_THREADS: '1' })).toBe(true);
    expect(preloadModelSession({ MODEL_DIR: dir, ORT_THREADS: '1' })).toBe(false);
    const model = path.join(dir, 'model.onnx');
    expect(takePreloadedSession(model, { threads: 2 })).toBeUndefined();
    expect(takePreloadedSession(path.join(tmp, 'other.onnx'), { threads: 1 })).toBeUndefined();
    const taken = takePreloadedSession(model, { threads: 1 });
    expect(taken).toBeDefined();
    expect(takePreloadedSession(model, { threads: 1 })).toBeUndefined();
    await (await taken!).dispose();
  }, SLOW);

  it('falls back to a main-thread session, with its typed error, when the thread cannot open the model', async () => {
    const dir = path.join(tmp, 'layer-bad');
    await import('node:fs/promises').then((fs) => fs.mkdir(dir, { recursive: true }));
    await writeFile(path.join(dir, 'model.onnx'), 'not an onnx file');
    await writeFile(path.join(dir, 'labels.txt'), 'n0 zero\n');
    const env = { MODEL_DIR: dir, ORT_THREADS: '1', MODEL_ID: 'bad' };
    expect(preloadModelSession(env)).toBe(true);
    await expect(getClassifier(env)).rejects.toThrow(/onnxruntime could not load .*model\.onnx \(/);
    // The preloaded session was taken (and failed): nothing is left for a later load.
    expect(takePreloadedSession(path.join(dir, 'model.onnx'), { threads: 1 })).toBeUndefined();
  }, SLOW);
});
