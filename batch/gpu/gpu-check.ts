/**
 * GPU check of the batch worker (bundled by batch/gpu-check.sh and run on the device machine):
 * generates a ResNet-50 (v1, dynamic batch), measures the GPU-only ceiling (inference on ready
 * tensors at several batch sizes), then the worker end to end over a folder of JPEGs, and says
 * which stage bounds it.
 *
 * Usage: node gpu-check.js --images <dir> [--ep webgpu] [--batch 16,32,64] [--work /tmp/gpu-check] [--workers n]
 *        [--ceiling-images 1024] [--main-thread]
 *
 * onnxruntime runs in its own thread, as in `resnet batch` (`--main-thread` for the comparison).
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

import { Classifier } from '../../core/classifier.js';
import { writeResNet } from '../../core/model-builder/index.js';
import type { SessionOptions } from '../../core/session.js';
import { InferenceThread } from '../threads/infer-thread.js';
import { runBatch } from '../run-batch.js';

const { values: args } = parseArgs({
  options: {
    images: { type: 'string' },
    ep: { type: 'string', default: 'webgpu' },
    batch: { type: 'string', default: '16,32,64' },
    work: { type: 'string', default: '/tmp/gpu-check' },
    workers: { type: 'string' },
    'ceiling-images': { type: 'string', default: '1024' },
    'main-thread': { type: 'boolean', default: false },
  },
});
if (!args.images) throw new Error('--images <dir> is required');
const work = String(args.work);
const model = path.join(work, 'resnet50-v1.onnx');
const labels = path.join(work, 'labels.txt');
if (!existsSync(model)) {
  const t = performance.now();
  await writeResNet({ depth: 50, version: 1, batch: 'dynamic', classes: 1000 }, model);
  console.log(`generated ResNet-50 in ${((performance.now() - t) / 1000).toFixed(1)} s`);
}
await writeFile(labels, Array.from({ length: 1000 }, (_, i) => `c${i} class ${i}`).join('\n'));

const ep = String(args.ep);
const t0 = performance.now();
const base = { model, labels, modelId: 'resnet50-v1-generated', executionProviders: [ep] };
let where = args['main-thread'] ? 'main thread' : 'inference thread';
let classifier: Classifier;
try {
  classifier = await Classifier.load(args['main-thread'] ? base : { ...base, openSession: (p: string, o: SessionOptions) => InferenceThread.create(p, o) });
} catch (err) {
  if (args['main-thread']) throw err;
  // One device run is all a session gets: measure on the main thread rather than not at all.
  console.log(`inference thread could not open ${ep}: ${err instanceof Error ? err.message : String(err)}; using the main thread`);
  classifier = await Classifier.load(base);
  where = 'main thread (fallback)';
}
console.log(`session on ${ep} (${where}) opened in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${os.availableParallelism()} cores`);

const files = (await readdir(String(args.images))).filter((f) => /\.jpe?g$/i.test(f)).sort();
const sample = await classifier.prepare(await readFile(path.join(String(args.images), files[0]!)));
const ceilings: Record<number, number> = {};
for (const b of String(args.batch).split(',').map(Number)) {
  const batch = Array.from({ length: b }, () => sample.tensors[0]!);
  for (let i = 0; i < 3; i++) await classifier.infer(batch);
  const rounds = Math.max(5, Math.ceil(Number(args['ceiling-images']) / b));
  const t = performance.now();
  for (let i = 0; i < rounds; i++) await classifier.infer(batch);
  ceilings[b] = (rounds * b * 1000) / (performance.now() - t);
  console.log(`GPU-only ceiling, batch ${b}: ${ceilings[b]!.toFixed(1)} img/s`);
}
const best = Number(Object.entries(ceilings).sort((a, b) => b[1] - a[1])[0]![0]);

const summary = await runBatch({
  input: String(args.images),
  classifier,
  ep: ep as 'webgpu' | 'cuda' | 'cpu',
  outDir: path.join(work, 'out'),
  force: true,
  batchSize: best,
  inferConcurrency: 2,
  progress: { tty: false, intervalSeconds: 10 },
  ...(args.workers ? { workers: Number(args.workers) } : {}),
});
await classifier.dispose();
const st = summary.stages;
const ratio = summary.imagesPerSecond / ceilings[best]!;
console.log(
  JSON.stringify({ ep, images: files.length, batch: best, gpuCeiling: Number(ceilings[best]!.toFixed(1)), endToEnd: summary.imagesPerSecond, ratio: Number(ratio.toFixed(3)), stages: st, meanBatch: summary.meanBatch, mainThreadMsPerImage: summary.mainThreadMsPerImage, cpuMsPerImage: summary.cpuMsPerImage }),
);
const bound = [
  ['read', st.download.perSecond],
  ['decode', (st.decode.perSecond * st.preprocess.perSecond) / (st.decode.perSecond + st.preprocess.perSecond || 1)],
  ['inference', st.inference.perSecond],
  ['write', st.write.perSecond],
  // The main thread is one core whatever the machine: past this rate it is the bottleneck.
  ['main thread', summary.mainThreadMsPerImage > 0 ? 1000 / summary.mainThreadMsPerImage : Infinity],
].sort((a, b) => (a[1] as number) - (b[1] as number))[0]!;
console.log(
  `end to end ${summary.imagesPerSecond} img/s = ${(ratio * 100).toFixed(0)} % of the GPU-only ceiling ${ceilings[best]!.toFixed(1)} img/s (target >= 70 %); ` +
    `slowest stage by capacity: ${bound[0]} (${(bound[1] as number).toFixed(1)} img/s)`,
);
