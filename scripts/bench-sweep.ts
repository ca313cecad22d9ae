/**
 * `npm run bench:sweep` — the sweep and the Batch hand-off at size, against a small S3 over HTTP
 * (scripts/s3-stub.ts) in this process; each measured run is a child process, so its peak RSS is
 * its own.
 *
 * 1. Sweep time, S3 requests, peak live heap and peak RSS for 10k, 100k and 1M objects (a listing
 *    stub: keys and results computed, one object in ten unlabelled), one pass each, beside the floor
 *    measured in the same child: listing the source prefix alone, page by page, keeping nothing.
 *    Each child runs with a small heap limit, so what it holds is what it needs.
 * 2. A Batch job of 8 shards over 20k objects: the sweep writes the missing keys in 8 manifest
 *    parts, 8 children run `runBatch` on their part in turn (a stand-in classifier: the figures
 *    are S3 requests, not inference), S3 requests per child, and each object's result PUT counted
 *    at the server.
 *
 * Usage: node dist/scripts/bench-sweep.js [--sizes 10000,100000,1000000] [--batch 20000] [--children 8]
 */
import { fork } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';

import { runBatch } from '../batch/run-batch.js';
import type { BatchClassifier } from '../batch/types.js';
import { IMAGENET_PREPROCESS } from '../core/types.js';
import { createS3Client } from '../labelling/aws-clients.js';
import { sweep, sweepBacklog } from '../labelling/sweep.js';
import { arg } from './script-args.js';
import { startS3Stub, STUB_MISSING_EVERY, STUB_MODEL, STUB_RESULTS_PREFIX } from './s3-stub.js';

const credentials = { accessKeyId: 'stub', secretAccessKey: 'stub' };
const load = (): string => os.loadavg().map((l) => l.toFixed(2)).join(' ');

/** A client whose requests are counted by command name. */
function countingClient(endpoint: string): { client: S3Client; calls: Record<string, number> } {
  const client = createS3Client({ endpoint, credentials, region: 'us-east-1' });
  const calls: Record<string, number> = {};
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = String(context.commandName).replace(/Command$/, '');
      calls[name] = (calls[name] ?? 0) + 1;
      return next(args);
    },
    { step: 'initialize', name: 'countCalls' },
  );
  return { client, calls };
}

const rssMb = (): number => process.resourceUsage().maxRSS / 1024;

/** Heap limit of the measured children, in MB: V8 must collect within it, so a key set that grows with the bucket would fail. */
const CHILD_HEAP_MB = 96;

/** Samples the live heap every 20 ms; returns a function that stops and reports its peak in MB. */
function heapPeak(): () => number {
  let peak = process.memoryUsage().heapUsed;
  const t = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  }, 20);
  return () => {
    clearInterval(t);
    return Math.max(peak, process.memoryUsage().heapUsed) / 2 ** 20;
  };
}

/** Child: the list-only floor, then one whole sweep pass; prints one JSON line. */
async function childSweep(endpoint: string, n: number): Promise<void> {
  const bucket = `synth-${n}`;
  const base = rssMb();
  const floor = countingClient(endpoint);
  let heap = heapPeak();
  let t = performance.now();
  let token: string | undefined;
  let listed = 0;
  do {
    const page = await floor.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'uploads/', ...(token ? { ContinuationToken: token } : {}) }));
    listed += page.Contents?.length ?? 0;
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  const floorMs = performance.now() - t;
  const floorRss = rssMb();
  const floorHeap = heap();

  const { client, calls } = countingClient(endpoint);
  let missing = 0;
  heap = heapPeak();
  const cpu0 = process.cpuUsage();
  t = performance.now();
  const report = await sweep(client, { bucket, prefix: 'uploads/', model: STUB_MODEL, resultsPrefix: STUB_RESULTS_PREFIX, maxList: n + 1 }, () => {
    missing++;
  });
  const ms = performance.now() - t;
  const sweepHeap = heap();
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  process.stdout.write(`${JSON.stringify({ n, listed, floorMs, floorRss, floorHeap, sweepHeap, cpuMs, base, ms, rss: rssMb(), missing, report: { listed: report.listed, labelled: report.labelled, passComplete: report.passComplete }, calls })}\n`);
}

const standIn: BatchClassifier = {
  modelId: STUB_MODEL,
  maxBatch: null,
  preprocessConfig: IMAGENET_PREPROCESS,
  prepare: async () => ({ tensors: [new Float32Array(2)], decodeMs: 0, preprocessMs: 0 }),
  infer: async (tensors) => tensors.map(() => new Float32Array([0.25, 0.75])),
  answerFor: () => ({ labels: [{ rank: 1, index: 1, id: 'n00000001', name: 'stand-in', score: 0.75 }], parents: [] }),
  dispose: async () => undefined,
};

/** Child: sweep a fresh bucket of `n` objects into `children` parts, then run each child on its part. */
async function childBatch(endpoint: string, n: number, children: number): Promise<void> {
  const bucket = 'batch';
  const { client } = countingClient(endpoint);
  const submitted: string[] = [];
  const t0 = performance.now();
  const report = await sweepBacklog(
    client,
    { bucket, prefix: 'in/', model: STUB_MODEL, resultsPrefix: STUB_RESULTS_PREFIX, planner: { lambdaMaxObjects: Math.min(5000, n - 1) }, partObjects: Math.ceil(n / children) },
    { batch: { submit: async (req) => (submitted.push(req.input), { jobId: 'bench' }) } },
  );
  const sweepMs = performance.now() - t0;
  const rows = [];
  for (let i = 0; i < children; i++) {
    const c = countingClient(endpoint);
    const t = performance.now();
    const sum = await runBatch({
      input: submitted[0]!, classifier: standIn, ep: 'cpu', workers: 0, s3: c.client, progress: { tty: 'off' }, log: () => undefined,
      resultsPrefix: STUB_RESULTS_PREFIX, shard: { index: i, count: children },
    });
    rows.push({ child: i, listed: sum.listed, done: sum.done, failed: sum.failed, ms: performance.now() - t, calls: c.calls });
  }
  process.stdout.write(`${JSON.stringify({ n, sweepMs, backlog: report.backlog, parts: report.manifest?.parts, rows, rss: rssMb() })}\n`);
}

function runChild(args: string[]): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), args, { stdio: ['ignore', 'pipe', 'inherit', 'ipc'], execArgv: [`--max-old-space-size=${CHILD_HEAP_MB}`] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += String(d)));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>) : reject(new Error(`child exited ${code}`))));
  });
}

async function main(): Promise<void> {
  if (process.argv[2] === 'child-sweep') return childSweep(process.argv[3]!, Number(process.argv[4]));
  if (process.argv[2] === 'child-batch') return childBatch(process.argv[3]!, Number(process.argv[4]), Number(process.argv[5]));

  const sizes = arg('sizes', '10000,100000,1000000').split(',').map(Number);
  const batchN = Number(arg('batch', '20000'));
  const children = Number(arg('children', '8'));
  const stub = await startS3Stub();
  console.log(`bench:sweep on ${os.cpus().length} cores, Node ${process.version}; load average ${load()}`);
  console.log(`\n1. One sweep pass (listing stub over HTTP; 1 in 10 objects unlabelled), a child process per size with a ${CHILD_HEAP_MB} MB heap limit`);
  console.log('objects   | list-only floor s | sweep s | sweep/floor | sweep CPU ms per 1k objects | LIST calls | HEAD | LIST per 1k objects | peak heap MB (floor) | peak RSS MB (floor) | found unlabelled');
  for (const n of sizes) {
    const r = (await runChild(['child-sweep', stub.endpoint, String(n)])) as {
      n: number; floorMs: number; ms: number; cpuMs: number; rss: number; floorRss: number; floorHeap: number; sweepHeap: number; missing: number; calls: Record<string, number>;
    };
    const list = (r.calls.ListObjectsV2 ?? 0);
    const ok = r.missing === Math.ceil(n / STUB_MISSING_EVERY) ? '' : ' WRONG';
    console.log(
      `${String(n).padEnd(9)} | ${(r.floorMs / 1000).toFixed(2).padStart(17)} | ${(r.ms / 1000).toFixed(2).padStart(7)} | ${(r.ms / r.floorMs).toFixed(2).padStart(11)} | ${((r.cpuMs / n) * 1000).toFixed(0).padStart(27)} | ` +
        `${String(list).padStart(10)} | ${String(r.calls.HeadObject ?? 0).padStart(4)} | ${((list / n) * 1000).toFixed(2).padStart(19)} | ` +
        `${r.sweepHeap.toFixed(0).padStart(12)} (${r.floorHeap.toFixed(0)}) | ${r.rss.toFixed(0).padStart(11)} (${r.floorRss.toFixed(0)}) | ${r.missing}${ok}`,
    );
  }
  console.log(`load average ${load()}`);

  if (batchN === 0) {
    await stub.close();
    return;
  }
  const bucket = stub.bucket('batch');
  for (let i = 0; i < batchN; i++) {
    const body = Buffer.from(`image ${i}`);
    bucket.set(`in/${String(i).padStart(6, '0')}.jpg`, { body, etag: `"e${i}"`, tags: '' });
  }
  const before = { ...stub.requests };
  const b = (await runChild(['child-batch', stub.endpoint, String(batchN), String(children)])) as {
    sweepMs: number; backlog: number; parts: number; rows: Array<{ child: number; listed: number; done: number; failed: number; ms: number; calls: Record<string, number> }>;
  };
  console.log(`\n2. Batch job: ${batchN} objects, sweep ${(b.sweepMs / 1000).toFixed(2)} s found ${b.backlog} in ${b.parts} manifest parts; ${children} children (stand-in classifier)`);
  console.log('child | objects | done | failed | s     | ListObjectsV2 | GetObject | GetObjectTagging | PutObjectTagging | PutObject | S3 calls per object');
  for (const r of b.rows) {
    const total = Object.values(r.calls).reduce((a, c) => a + c, 0);
    console.log(
      `${String(r.child).padEnd(5)} | ${String(r.listed).padStart(7)} | ${String(r.done).padStart(4)} | ${String(r.failed).padStart(6)} | ${(r.ms / 1000).toFixed(2).padStart(5)} | ` +
        `${String(r.calls.ListObjectsV2 ?? 0).padStart(13)} | ${String(r.calls.GetObject ?? 0).padStart(9)} | ${String(r.calls.GetObjectTagging ?? 0).padStart(16)} | ` +
        `${String(r.calls.PutObjectTagging ?? 0).padStart(16)} | ${String(r.calls.PutObject ?? 0).padStart(9)} | ${(total / Math.max(1, r.listed)).toFixed(2)}`,
    );
  }
  const resultPuts = [...stub.puts.entries()].filter(([k]) => k.startsWith(`batch/${STUB_RESULTS_PREFIX}${STUB_MODEL}/batch/`));
  const once = resultPuts.filter(([, c]) => c === 1).length;
  console.log(`results written: ${resultPuts.length} keys for ${batchN} objects; written exactly once: ${once}; more than once: ${resultPuts.length - once}`);
  console.log(`server saw ${(stub.requests.ListObjectsV2 ?? 0) - (before.ListObjectsV2 ?? 0)} LIST calls in part 2 (the sweep's only)`);
  console.log(`load average ${load()}`);
  await stub.close();
}

await main();
