/**
 * `npm run bench:sizing`: batch-1 `session.run` latency of generated ResNet-18/50/152 (v1, fixed
 * batch 1) in float32 and int8, with 1 and 2 intra-op threads and each graph optimisation level,
 * the inputs to the per-memory-size Lambda defaults (infra/session-sizing.ts) and the cost table
 * (docs/quantization.md). Within one model every configuration is timed once per round, the order
 * rotating between rounds, so load from other processes spreads over all of them; ratios are of
 * medians taken in the same rounds.
 *
 * Options: --models 18,50,152, --runs 7, --levels basic,extended,all, --threads 1,2.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';

import { writeResNet } from '../core/model-builder/index.js';
import { calibrationTensors, int8Model } from './int8-model.js';
import { median } from './median.js';
import { photosDir } from './fixtures.js';
import { arg, repoRoot } from './script-args.js';



type Level = 'basic' | 'extended' | 'all';

interface Config {
  precision: 'fp32' | 'int8';
  threads: number;
  level: Level;
  session: ort.InferenceSession;
  times: number[];
}

async function main(): Promise<void> {
  const root = repoRoot();
  const cacheDir = path.join(root, '.cache/bench');
  fs.mkdirSync(cacheDir, { recursive: true });
  const depths = arg('models', '18,50,152').split(',').map(Number) as Array<18 | 50 | 152>;
  const runs = Math.max(3, Number(arg('runs', '7')));
  const levels = arg('levels', 'basic,extended,all').split(',') as Level[];
  const threadCounts = arg('threads', '1,2').split(',').map(Number);
  const load0 = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  const calibration = (): Promise<Float32Array[]> => calibrationTensors(photosDir(root));
  const input = (await calibration())[0];
  const lines: string[] = [];

  for (const depth of depths) {
    const fp32Path = path.join(cacheDir, `resnet${depth}-v1-b1.onnx`);
    if (!fs.existsSync(fp32Path)) await writeResNet({ depth, version: 1, batch: 1, seed: 0 }, fp32Path);
    const int8Path = await int8Model(fp32Path, calibration);
    const configs: Config[] = [];
    for (const precision of ['fp32', 'int8'] as const) {
      for (const threads of threadCounts) {
        for (const level of levels) {
          const session = await ort.InferenceSession.create(precision === 'fp32' ? fp32Path : int8Path, {
            intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: level,
          });
          configs.push({ precision, threads, level, session, times: [] });
        }
      }
    }
    const feed = { [configs[0].session.inputNames[0]]: new ort.Tensor('float32', input, [1, 3, 224, 224]) };
    for (const c of configs) await c.session.run(feed); // first-run allocations
    for (let r = 0; r < runs; r++) {
      for (let k = 0; k < configs.length; k++) {
        const c = configs[(k + r) % configs.length];
        const t0 = performance.now();
        await c.session.run(feed);
        c.times.push(performance.now() - t0);
      }
    }
    const p50 = (precision: string, threads: number, level: Level): number => median(configs.find((c) => c.precision === precision && c.threads === threads && c.level === level)?.times ?? [NaN]);
    for (const threads of threadCounts) {
      for (const level of levels) {
        const f = p50('fp32', threads, level);
        const i = p50('int8', threads, level);
        lines.push(`| ResNet-${depth} | ${threads} | ${level} | ${f.toFixed(1)} | ${i.toFixed(1)} | ${(i / f).toFixed(2)} |`);
      }
    }
    for (const c of configs) await c.session.release();
    process.stderr.write(`done: ResNet-${depth}\n`);
  }
  console.log(`Node ${process.version}, onnxruntime-node ${ort.env.versions.common}, ${os.cpus().length}× ${os.cpus()[0]?.model ?? 'cpu'}; load avg ${load0} at start, ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at end; p50 of ${runs} rounds, batch 1.`);
  console.log('');
  console.log('| model | intra-op threads | graph optimisation | fp32 ms | int8 ms | int8/fp32 |');
  console.log('|---|---:|---|---:|---:|---:|');
  for (const l of lines) console.log(l);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
