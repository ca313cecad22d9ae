/**
 * `npm start` (after `npm run build`) or `npx tsx local/start.ts`: the local stack.
 * Flags: --model <id|path> --labels <file> --model-id <id> --port <n> --s3-port <n> --bucket <name>
 *        --data <dir> --sweep-interval <s> --no-download --demo --verbose
 */
import path from 'node:path';

import { Command, InvalidArgumentError as CliArgError } from 'commander';

import { ResnetError } from '../core/errors.js';
import { ensureDemoModel } from '../core/model-builder/demo-model.js';
import { startLocalStack } from './stack.js';

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new CliArgError('a port number 0..65535');
  return n;
}

const program = new Command('resnet-local')
  .description('local S3 server + classify API + S3-event-driven tagger, no AWS account needed')
  .option('-m, --model <id|path>', 'zoo model id or path to an .onnx file', process.env.MODEL_ID ?? 'resnet50-v2')
  .option('-l, --labels <file>', 'labels file for a user model ("<id> <name>" per line)')
  .option('--model-id <id>', 'model id written into results (default: zoo id or file name)')
  .option('-p, --port <n>', 'API port', port, 3000)
  .option('--s3-port <n>', 'S3 port', port, 4568)
  .option('--bucket <name>', 'input bucket', 'resnet-input')
  .option('--data <dir>', 's3rver data folder', '.local-stack/s3')
  .option('--concurrency <n>', 'API requests served at once (more wait; a full queue answers 429)', port, 4)
  .option('--sweep-interval <s>', 'seconds between sweeps for unlabelled objects (one also runs at start-up); 0: start-up only', port, 300)
  .option('--no-download', 'never download a zoo model that is not cached')
  .option('--demo', 'serve an untrained, locally generated ResNet-50 v2 (offline demo: its labels are meaningless)')
  .option('--verbose', 'log every S3 request');

const flags = program.parse().opts<{
  model: string; labels?: string; modelId?: string; port: number; s3Port: number; bucket: string; data: string; concurrency: number; sweepInterval: number; download: boolean; verbose?: boolean; demo?: boolean;
}>();
const modelChosen = program.getOptionValueSource('model') !== 'default' || process.env.MODEL_ID !== undefined;

process.env.POWERTOOLS_LOG_LEVEL ??= flags.verbose ? 'INFO' : 'WARN';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

let lastPct = -1;

/** Offline with no model chosen: the demo model keeps `npm start` working, loudly marked untrained. */
async function demoFlags(reason: string): Promise<{ model: string; labels: string; modelId: string }> {
  const demo = await ensureDemoModel();
  console.error(`WARNING: ${reason}
WARNING: serving ${demo.modelId}: a real ResNet-50 v2 graph with UNTRAINED weights — its labels are meaningless.
WARNING: for real labels run \`npx resnet fetch resnet50-v2\` where there is internet (or place the files by hand), then npm start.`);
  return { model: demo.modelPath, labels: demo.labelsPath, modelId: demo.modelId };
}

async function start(model: { model: string; labels?: string; modelId?: string }) {
  return startLocalStack({
    model: model.model,
    ...(model.labels ? { labels: model.labels } : {}),
    ...(model.modelId ? { modelId: model.modelId } : {}),
    port: flags.port,
    s3Port: flags.s3Port,
    bucket: flags.bucket,
    dataDir: flags.data,
    concurrency: flags.concurrency,
    sweepIntervalSeconds: flags.sweepInterval,
    download: flags.download,
    verbose: flags.verbose ?? false,
    onProgress: (done, total) => {
      const pct = total ? Math.floor((100 * done) / total) : 0;
      if (pct !== lastPct && pct % 10 === 0) process.stderr.write(`downloading ${flags.model}: ${pct}%\n`);
      lastPct = pct;
    },
  });
}

function offline(err: unknown): err is ResnetError {
  return err instanceof ResnetError && ['DOWNLOAD_FAILED', 'MODEL_NOT_CACHED'].includes(err.code);
}

try {
  const requested = {
    model: flags.model,
    ...(flags.labels ? { labels: flags.labels } : {}),
    ...(flags.modelId ? { modelId: flags.modelId } : {}),
  };
  const stack = flags.demo
    ? await start(await demoFlags('--demo given'))
    : await start(requested).catch(async (err: unknown) => {
        if (!offline(err) || modelChosen) throw err;
        return start(await demoFlags(`cannot load ${flags.model} (${err.message.split('. ')[0]}).`));
      });
  const s3 = stack.s3Endpoint;
  console.log(`resnet-serverless local stack
  model        ${stack.modelId}
  API          ${stack.apiUrl}   (GET /model, POST /classify, POST /uploads, GET /results/{key}; web page at /)
  S3           ${s3}   (credentials S3RVER / S3RVER, path-style)
  bucket       s3://${stack.bucket}/   uploads → tags + s3://${stack.bucket}/${stack.resultsPrefix}${stack.modelId}/${stack.bucket}/<key>.json
  data         ${path.resolve(flags.data)}   (kept across restarts; stop the stack and delete it to start empty)
  sweep        at start-up${flags.sweepInterval > 0 ? ` and every ${flags.sweepInterval} s` : ''}: objects without a result are labelled${stack.stats.swept > 0 ? ` (${stack.stats.swept} found now)` : ''}

  try:
    curl -s --data-binary @photo.jpg -H 'content-type: image/jpeg' ${stack.apiUrl}/classify
    AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER aws --endpoint-url ${s3} s3 cp photo.jpg s3://${stack.bucket}/photos/photo.jpg
    AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER aws --endpoint-url ${s3} s3api get-object-tagging --bucket ${stack.bucket} --key photos/photo.jpg
    curl -s ${stack.apiUrl}/results/photos/photo.jpg
  Ctrl-C stops.`);
  let stopping = false;
  const stop = (sig: NodeJS.Signals): void => {
    if (stopping) {
      // A second signal: go now. Nothing is lost: the next start's sweep labels what is left.
      console.error(`${sig} again: exiting now; the next start labels what was left.`);
      process.exit(130);
    }
    stopping = true;
    console.error(`${sig}: refusing new uploads, labelling the ones accepted (${sig} again exits at once)...`);
    void stack.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
} catch (err) {
  if (offline(err)) {
    console.error(`Cannot load model ${flags.model}: ${err.message}
This machine may be offline. Either
  - pass a local model:  npm start -- --model path/to/model.onnx --labels path/to/labels.txt
  - or serve an untrained demo model (its labels are meaningless):  npm start -- --demo`);
    process.exit(2);
  }
  if (err instanceof ResnetError) {
    console.error(`${err.code}: ${err.message}`);
    process.exit(2);
  }
  if (err instanceof Error && (err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    console.error(`${err.message}: a port is taken; pick others with --port / --s3-port.`);
    process.exit(2);
  }
  throw err;
}
