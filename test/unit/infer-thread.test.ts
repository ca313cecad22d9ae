/**
 * The batch worker's inference thread: the same contract and results as ModelSession, errors
 * with the same codes, and — the reason it exists — the caller's event loop keeps running while a
 * batch is inside onnxruntime (whose `run` is synchronous in its own thread).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { InferenceThread } from '../../batch/threads/infer-thread.js';
import { ResnetError } from '../../core/errors.js';
import { ModelSession, type ClassifierSession } from '../../core/session.js';
import { testModelPath } from '../helpers/models.js';

const IMAGE = 3 * 224 * 224;

function images(n: number): Float32Array[] {
  let s = 4242;
  const noise = (): number => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s / 2 ** 32) * 4 - 2;
  };
  return Array.from({ length: n }, () => Float32Array.from({ length: IMAGE }, noise));
}

/** Longest gap between 2 ms timer ticks while `work` runs: how long the event loop was held. */
async function longestStall(work: () => Promise<unknown>): Promise<{ stallMs: number; workMs: number }> {
  let last = performance.now();
  let stallMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    stallMs = Math.max(stallMs, now - last);
    last = now;
  }, 2);
  const t0 = performance.now();
  await work();
  const workMs = performance.now() - t0;
  clearInterval(timer);
  stallMs = Math.max(stallMs, performance.now() - last);
  return { stallMs, workMs };
}

describe('InferenceThread', () => {
  let model: string;
  let thread: InferenceThread;
  let local: ModelSession;

  beforeAll(async () => {
    model = await testModelPath({ depth: 18, version: 1, batch: 'dynamic', classes: 10 });
    thread = await InferenceThread.create(model, { threads: 2, allowSpinning: false });
    local = await ModelSession.create(model, { threads: 2, allowSpinning: false });
  });

  afterAll(async () => {
    await thread.dispose();
    await local.dispose();
  });

  it('reports the model contract and returns the same logits as a session in this thread', async () => {
    expect([thread.inputSize, thread.numClasses, thread.maxBatch]).toEqual([local.inputSize, local.numClasses, local.maxBatch]);
    const input = images(3);
    const [a, b] = [await local.run(input), await thread.run(input)];
    expect(b).toHaveLength(3);
    b.forEach((logits, i) => {
      expect(logits).toHaveLength(10);
      logits.forEach((v, j) => expect(v).toBeCloseTo(a[i]![j]!, 5));
    });
    // The inputs are copied, not transferred: the caller can still read them.
    expect(input[0]!.length).toBe(IMAGE);
    expect(await thread.run([])).toEqual([]);
  });

  it('keeps batches in flight at the same time apart, and reuses its batch buffers correctly', async () => {
    // Batches share buffers only once answered: two in flight each need their own, and a later,
    // smaller batch in a reused (larger) buffer must see only its own images.
    const [x, y, z] = [images(5), images(2).map((t) => t.map((v) => -v)), images(1).map((t) => t.map((v) => v * 0.5))];
    const want = await Promise.all([local.run(x), local.run(y), local.run(z)]);
    for (let round = 0; round < 2; round++) {
      const got = await Promise.all([thread.run(x), thread.run(y)]);
      got.push(await thread.run(z));
      got.forEach((batch, b) => {
        expect(batch).toHaveLength(want[b]!.length);
        batch.forEach((logits, i) => logits.forEach((v, j) => expect(v).toBeCloseTo(want[b]![i]![j]!, 5)));
      });
    }
  });

  it('keeps the event loop running during a batch, which a session in this thread cannot', async () => {
    const batch = images(8);
    await thread.run(batch);
    await local.run(batch);
    const here = await longestStall(() => local.run(batch));
    const there = await longestStall(() => thread.run(batch));
    // In this thread the whole run is one stall; with the thread the loop only pays for packing the batch.
    expect(here.stallMs).toBeGreaterThan(here.workMs * 0.8);
    expect(there.stallMs).toBeLessThan(Math.max(40, there.workMs * 0.25));
  });

  it('rejects a wrong-sized tensor with INVALID_ARGUMENT', async () => {
    await expect(thread.run([new Float32Array(10)])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('passes open errors through with their codes', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'infer-thread-'));
    try {
      const junk = path.join(dir, 'junk.onnx');
      await writeFile(junk, 'not a model');
      const err: unknown = await InferenceThread.create(junk).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ResnetError);
      expect(err).toMatchObject({ code: 'INVALID_MODEL' });
      await expect(InferenceThread.create(path.join(dir, 'missing.onnx'))).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects runs after dispose, and disposing twice is fine', async () => {
    const t: ClassifierSession = await InferenceThread.create(model, { threads: 1 });
    await t.dispose();
    await t.dispose();
    await expect(t.run(images(1))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
