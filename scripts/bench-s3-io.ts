/**
 * `npm run bench:s3-io` — the batch worker's main-thread cost per image with an S3 input (a
 * local S3 server, s3rver, in a separate process so its CPU is not counted), with the per-object
 * S3 requests on the main thread and in I/O threads, beside a local folder of the same images.
 *
 * The main thread does not scale with cores or a GPU: 1000 / (main-thread ms per image) is the
 * most the worker can do on any hardware. On this 2-core machine end-to-end img/s is bound by
 * the CPU both ways; the figure that matters for a GPU machine is the main thread's.
 *
 * Usage: node dist/scripts/bench-s3-io.js [--n 256] [--repeat 2] [--io-threads n]
 *   --n: how many images (the first n of bench:batch's generated 0.3 MP set, made if missing)
 */
import { fork } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';

import { InferenceThread } from '../batch/threads/infer-thread.js';
import { runBatch } from '../batch/run-batch.js';
import { defaultS3Client } from '../batch/s3/s3-client.js';
import { defaultIoThreads } from '../batch/s3/s3-io.js';
import { Classifier } from '../core/classifier.js';
import type { SessionOptions } from '../core/session.js';
import { CACHE, imageSet, jpegFiles, modelFiles } from './bench-data.js';

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '256' },
    repeat: { type: 'string', default: '2' },
    'io-threads': { type: 'string' },
  },
});
const n = Number(args.n);
const ioThreads = args['io-threads'] !== undefined ? Number(args['io-threads']) : defaultIoThreads();

/** s3rver in a child process on a free port; resolves with its endpoint. */
async function startServer(dir: string): Promise<{ endpoint: string; stop: () => void }> {
  const script = path.join(dir, 'server.mjs');
  const s3rverUrl = import.meta.resolve('s3rver');
  await writeFile(
    script,
    `import S3rver from ${JSON.stringify(s3rverUrl)};
const s = new S3rver({ address: '127.0.0.1', port: 0, directory: ${JSON.stringify(path.join(dir, 'data'))}, silent: true });
const addr = await s.run();
process.send(addr.port);`,
  );
  const child = fork(script, { stdio: 'ignore' });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve(Number(m)));
    child.once('exit', (code) => reject(new Error(`s3rver exited (code ${code})`)));
  });
  return { endpoint: `http://127.0.0.1:${port}`, stop: () => child.kill() };
}

const dir = await imageSet('0.3mp', 640, 480, n);
const files = await jpegFiles(dir);
const { model, labels } = await modelFiles();
const scratch = await mkdtemp(path.join(os.tmpdir(), 'bench-s3-io-'));
const server = await startServer(scratch);
try {
  // The worker's own clients (main thread and I/O threads) are built from these, as with --endpoint.
  Object.assign(process.env, { AWS_ENDPOINT_URL_S3: server.endpoint, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' });
  const s3 = defaultS3Client();
  await s3.send(new CreateBucketCommand({ Bucket: 'bench' }));
  for (let i = 0; i < files.length; i += 16) {
    await Promise.all(files.slice(i, i + 16).map(async (f) => s3.send(new PutObjectCommand({ Bucket: 'bench', Key: `in/${f}`, Body: await readFile(path.join(dir, f)), ContentType: 'image/jpeg' }))));
  }
  s3.destroy();

  const classifier = await Classifier.load({
    model,
    labels,
    modelId: 'resnet50-v1-generated',
    executionProviders: ['cpu'],
    allowSpinning: false,
    openSession: (p: string, o: SessionOptions) => InferenceThread.create(p, o),
  });
  const runs = [
    { name: 'local folder', input: dir, extra: { outDir: path.join(CACHE, 'out-s3-io') } },
    { name: 'S3, requests on the main thread', input: 's3://bench/in/', extra: { ioThreads: 0 } },
    { name: `S3, requests in ${ioThreads} I/O threads`, input: 's3://bench/in/', extra: { ioThreads } },
  ];
  console.log(`bench:s3-io — ${files.length} 0.3 MP JPEGs, generated ResNet-50 on the CPU, ${os.availableParallelism()} cores, s3rver in its own process, node ${process.version}`);
  console.log('input                                  main-thread ms/img  cap img/s  end-to-end img/s  CPU-ms/img');
  try {
    for (let r = 0; r < Number(args.repeat); r++) {
      for (const run of runs) {
        const s = await runBatch({ input: run.input, classifier, force: true, batchSize: 16, progress: { tty: 'off' }, log: () => undefined, ...run.extra });
        if (s.failed > 0 || s.done !== files.length) throw new Error(`${run.name}: ${s.done} done, ${s.failed} failed of ${files.length}`);
        const m = s.mainThreadMsPerImage;
        console.log(
          `${run.name.padEnd(38)} ${m.toFixed(2).padStart(18)}  ${(m > 0 ? Math.round(1000 / m) : 0).toString().padStart(9)}  ${s.imagesPerSecond.toFixed(1).padStart(16)}  ${s.cpuMsPerImage.toFixed(0).padStart(10)}`,
        );
      }
    }
  } finally {
    await classifier.dispose();
  }
} finally {
  server.stop();
  await rm(scratch, { recursive: true, force: true });
}
