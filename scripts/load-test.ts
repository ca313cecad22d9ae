/**
 * Bounded load test of the local stack's classify API: N requests (default 200) at concurrency C
 * (default 20), images taken round-robin from a folder. Prints status counts, latency p50/p95/p99
 * and the peak RSS of the process (which hosts the stack unless --url points elsewhere).
 *
 *   npx tsx scripts/load-test.ts [--model id|path --labels file] [--requests 200] [--concurrency 20]
 *                               [--images dir] [--url http://127.0.0.1:3000] [--stack-concurrency 4]
 *
 * Without --model it uses the cached zoo resnet50-v2, else a generated (untrained) ResNet-50 v2
 * with the same architecture and cost, built once into .cache/load-test/.
 * The only acceptable failures are deliberate 429s (the stack's queue limit); any other non-200
 * makes the script exit 1.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { imagenetLabels, photosDir } from './fixtures.js';
import { performance } from 'node:perf_hooks';

import { Command } from 'commander';

import { cachedModelPaths } from '../core/fetch/index.js';
import { ensureDemoModel } from '../core/model-builder/demo-model.js';
import { startLocalStack, type LocalStack } from '../local/stack.js';

const flags = new Command('load-test')
  .option('--model <id|path>', 'model for the in-process stack')
  .option('--labels <file>', 'labels for a model path', imagenetLabels())
  .option('--requests <n>', 'total requests', Number, 200)
  .option('--concurrency <n>', 'requests in flight', Number, 20)
  .option('--stack-concurrency <n>', 'requests the stack serves at once (the rest queue)', Number, 4)
  .option('--images <dir>', 'folder of images sent round-robin', photosDir())
  .option('--url <url>', 'an already running stack instead of an in-process one')
  .parse()
  .opts<{ model?: string; labels: string; requests: number; concurrency: number; stackConcurrency: number; images: string; url?: string }>();

process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

async function pickModel(): Promise<{ model: string; labels?: string }> {
  if (flags.model) return { model: flags.model, ...(flags.model.endsWith('.onnx') ? { labels: flags.labels } : {}) };
  if (cachedModelPaths('resnet50-v2')) return { model: 'resnet50-v2' };
  console.log('resnet50-v2 is not cached: using the untrained ResNet-50 v2 of `npm start --demo` (same cost) ...');
  const demo = await ensureDemoModel();
  return { model: demo.modelPath, labels: demo.labelsPath };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const names = (await readdir(flags.images)).filter((n) => /\.(jpe?g|png)$/i.test(n)).sort();
if (names.length === 0) throw new Error(`no .jpg/.png images in ${flags.images}`);
const images = await Promise.all(names.map(async (n) => ({ name: n, bytes: await readFile(path.join(flags.images, n)), type: /png$/i.test(n) ? 'image/png' : 'image/jpeg' })));

let stack: LocalStack | undefined;
let url = flags.url;
if (!url) {
  const m = await pickModel();
  stack = await startLocalStack({ ...m, port: 0, s3Port: 0, dataDir: '.cache/load-test/s3', concurrency: flags.stackConcurrency, queue: 1000, download: false });
  url = stack.apiUrl;
}
console.log(`target ${url}  model ${stack?.modelId ?? '(external)'}  ${flags.requests} requests, concurrency ${flags.concurrency}, images: ${names.join(', ')}`);

const latencies: number[] = [];
const statuses = new Map<number, number>();
const errors = new Map<string, number>();
let next = 0;
const t0 = performance.now();
await Promise.all(
  Array.from({ length: flags.concurrency }, async () => {
    for (let i = next++; i < flags.requests; i = next++) {
      const img = images[i % images.length]!;
      const start = performance.now();
      let status = 0;
      try {
        const res = await fetch(`${url}/classify`, { method: 'POST', headers: { 'content-type': img.type }, body: img.bytes });
        await res.arrayBuffer();
        status = res.status;
      } catch (err) {
        status = -1;
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        errors.set(`${cause?.code ?? ''} ${cause?.message ?? String(err)}`, (errors.get(`${cause?.code ?? ''} ${cause?.message ?? String(err)}`) ?? 0) + 1);
      }
      latencies.push(performance.now() - start);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
  }),
);
const wall = (performance.now() - t0) / 1000;
latencies.sort((a, b) => a - b);
const peakRssMb = process.resourceUsage().maxRSS / 1024;
console.log(`statuses   ${[...statuses].map(([s, n]) => `${s}: ${n}`).join(', ')}`);
if (errors.size) console.log(`errors     ${[...errors].map(([e, n]) => `${n}× ${e}`).join('; ')}`);
console.log(`latency    p50 ${percentile(latencies, 50).toFixed(0)} ms, p95 ${percentile(latencies, 95).toFixed(0)} ms, p99 ${percentile(latencies, 99).toFixed(0)} ms, max ${latencies.at(-1)!.toFixed(0)} ms`);
console.log(`throughput ${(flags.requests / wall).toFixed(1)} req/s over ${wall.toFixed(1)} s`);
console.log(`peak RSS   ${peakRssMb.toFixed(0)} MB (${stack ? 'stack + load generator, one process' : 'load generator only'})`);
await stack?.close();
const bad = [...statuses].filter(([s]) => s !== 200 && s !== 429).reduce((a, [, n]) => a + n, 0);
if (bad > 0) {
  console.error(`${bad} requests failed with something other than a deliberate 429`);
  process.exit(1);
}
