/**
 * `npm run bench:artifacts` (after `npm run synth`): runs each synthesised function from its
 * deployed artefacts (code asset + layers laid out as /var/task and /opt, clean `node` process,
 * Lambda's NODE_PATH; see scripts/lambda-sandbox.ts) against a local S3 server and prints, per
 * function: unzipped size against Lambda's 250 MiB limit, the cold start in parts (module import =
 * Lambda's init; then, inside the first invoke, the layer read (labels: the weights are mapped by
 * onnxruntime, so their reading falls in session creation and first inference), session
 * creation and the first inference, as core/classifier.ts and core/session.ts record them), the first invoke,
 * init + first invoke against the floor, the median warm invoke, and the process's peak RSS.
 *
 * The floor, measured three times in the same run (before, between and after the functions; the
 * median is used): a fresh process creating a bare onnxruntime session with graph optimisation
 * `all` and --floor-threads intra-op threads on the unoptimised zoo-shaped ResNet-50 v2 (the
 * generated one `npm start` serves offline), plus one inference (scripts/session-floor.ts).
 *
 * Flags: --assembly <dir> (default cdk.out) --stack <name> (default ResnetServerless)
 *        --warm <n> warm invokes per function (default 5) --width/--height of the test JPEG (default 1024x768)
 *        --floor-threads <n> (default 2)
 *        --env KEY=VALUE, repeatable: set in every function's environment (e.g. RESNET_MODEL_THREAD=1
 *        to create the session in a worker thread during the import, functions/common/preload.ts)
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import sharp from 'sharp';

import { ensureDemoModel } from '../core/model-builder/demo-model.js';
import { SESSION_MEASURES } from '../core/session.js';
import { createS3Client } from '../labelling/aws-clients.js';
import { httpEvent, s3Event, scheduledEvent, sqsEvent } from './lambda-events.js';
import { type AssemblyFunction, type SandboxReport, invokeInSandbox, layOutFunction, readAssemblyFunctions, resolveEnvironment } from './lambda-sandbox.js';
import { startLocalSqs } from './local-sqs.js';
import { median } from './median.js';
import { type FloorSample, measureFloor } from './session-floor.js';

/** Lambda's limit on a function's unzipped code plus layers. */
const LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024;
const BUCKET = 'resnet-bench';

const { values: flags } = parseArgs({
  options: {
    assembly: { type: 'string', default: 'cdk.out' },
    stack: { type: 'string', default: 'ResnetServerless' },
    warm: { type: 'string', default: '5' },
    width: { type: 'string', default: '1024' },
    height: { type: 'string', default: '768' },
    'floor-threads': { type: 'string', default: '2' },
    env: { type: 'string', multiple: true, default: [] },
  },
});
const extraEnv = Object.fromEntries(flags.env.map((kv) => {
  const i = kv.indexOf('=');
  if (i < 1) throw new Error(`--env takes KEY=VALUE, got "${kv}".`);
  return [kv.slice(0, i), kv.slice(i + 1)];
}));
const warm = Number(flags.warm);

async function testJpeg(w: number, h: number, seed: number): Promise<Buffer> {
  const data = Buffer.alloc(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + seed * 31 + ((i / (w * 3)) | 0)) & 255;
  return sharp(data, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
}

/** Events per function kind: distinct objects for the labellers (a labelled object is skipped). */
function eventsFor(kind: string, n: number, body: Buffer): unknown[] {
  return Array.from({ length: n }, (_, i) => {
    const object = { bucket: BUCKET, key: `uploads/${kind}/img-${i}.jpg`, size: 1 };
    if (kind === 'S3Tagger') return s3Event(object);
    if (kind === 'SqsWorker') return sqsEvent([s3Event(object)], [`m-${i}`]);
    if (kind === 'ClassifyApi') return httpEvent({ method: 'POST', path: '/classify', headers: { 'content-type': 'image/jpeg' }, body });
    return scheduledEvent();
  });
}

function kindOf(fn: AssemblyFunction): string {
  return ['S3Tagger', 'SqsWorker', 'ClassifyApi', 'Sweeper'].find((k) => fn.logicalId.startsWith(`${k}Function`)) ?? fn.logicalId;
}

const mib = (b: number): string => (b / 2 ** 20).toFixed(1);
const ms = (v: number): string => v.toFixed(0);

async function main(): Promise<void> {
  const assembly = path.resolve(flags.assembly);
  if (!existsSync(path.join(assembly, `${flags.stack}.template.json`))) {
    console.error(`No ${flags.stack}.template.json under ${assembly}: run \`npm run synth\` first.`);
    process.exit(1);
  }
  const startLoad = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  const fns = readAssemblyFunctions(assembly, flags.stack);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'bench-artifacts-s3-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, directory: dataDir, silent: true });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const s3 = createS3Client({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  const sqs = await startLocalSqs();
  const body = await testJpeg(Number(flags.width), Number(flags.height), 0);
  for (const kind of ['S3Tagger', 'SqsWorker']) {
    for (let i = 0; i < warm + 1; i++) await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `uploads/${kind}/img-${i}.jpg`, Body: await testJpeg(Number(flags.width), Number(flags.height), i + 1) }));
  }

  const floorModel = (await ensureDemoModel()).modelPath;
  const floorThreads = Number(flags['floor-threads']);
  const floors: FloorSample[] = [await measureFloor(floorModel, floorThreads)];
  const results: Array<{ kind: string; cells: (ratio: (ms: number) => string) => string }> = [];
  try {
    for (const [i, fn] of fns.entries()) {
      if (i === Math.floor(fns.length / 2)) floors.push(await measureFloor(floorModel, floorThreads));
      const kind = kindOf(fn);
      const root = mkdtempSync(path.join(os.tmpdir(), 'bench-lambda-'));
      try {
        const layout = layOutFunction(fn, root);
        const environment = {
          ...resolveEnvironment(fn.environment, layout, { StorageBucket: BUCKET, BacklogWorkQueue: sqs.queueUrl }),
          S3_ENDPOINT: endpoint, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER',
          POWERTOOLS_METRICS_DISABLED: 'true', POWERTOOLS_LOG_LEVEL: 'WARN',
          ...extraEnv,
        };
        const report: SandboxReport = await invokeInSandbox(fn, layout, { events: eventsFor(kind, warm + 1, body), environment, functionName: kind, timeoutMs: 600_000 });
        const failed = report.invokes.find((i) => i.error);
        if (failed) throw new Error(`${kind}: ${JSON.stringify(failed.error)}`);
        const [first = NaN, ...rest] = report.invokes.map((i) => i.ms);
        const part = (name: string): string => {
          const m = report.measures.find((e) => e.name === name);
          return m ? ms(m.ms) : '-';
        };
        const cold = report.importMs + first;
        const size = `${mib(layout.bytes)} | ${(100 * layout.bytes / LAMBDA_UNZIPPED_LIMIT).toFixed(0)} %`;
        const parts = `${ms(report.importMs)} | ${part(SESSION_MEASURES.layerRead)} | ${part(SESSION_MEASURES.create)} | ${part(SESSION_MEASURES.firstRun)} | ${ms(first)}`;
        const tail = `${rest.length ? ms(median(rest)) : '-'} | ${(report.maxRssKb / 1024).toFixed(0)}`;
        // The sweeper loads no model: a ratio to a model floor would say nothing.
        const classifies = report.measures.some((e) => e.name === SESSION_MEASURES.create);
        results.push({ kind, cells: (ratio) => `| ${kind} | ${size} | ${parts} | ${ms(cold)} | ${classifies ? ratio(cold) : '-'} | ${tail} |` });
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    }
    floors.push(await measureFloor(floorModel, floorThreads));
  } finally {
    await sqs.stop();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  const model = fns.map((f) => f.environment.MODEL_ID).find((m) => typeof m === 'string') ?? '?';
  const floor = median(floors.map((f) => f.totalMs));
  console.log(`Artefacts of ${flags.stack} (${assembly}), model ${String(model)}, ${flags.width}x${flags.height} JPEG, ${warm} warm invokes, node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (at the start: ${startLoad})${flags.env.length ? `, environment ${flags.env.join(' ')}` : ''}`);
  console.log(`Floor (bare session, optimisation all, ${floorThreads} threads, ${path.basename(floorModel)}, + one inference): ${floors.map((f) => `${ms(f.createMs)} + ${ms(f.firstRunMs)}`).join(', ')} ms; median ${ms(floor)} ms`);
  console.log('');
  console.log('| function | code + layers MiB | of 250 MiB limit | init (module import) ms | layer read (labels) ms | session creation ms | first inference ms | first invoke ms | init + first invoke ms | × floor | warm invoke ms (median) | peak RSS MB |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) console.log(r.cells((cold) => (cold / floor).toFixed(2)));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
