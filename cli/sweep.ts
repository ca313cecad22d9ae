/**
 * `resnet sweep <s3://bucket/prefix/>`: the scheduled sweeper's own code (labelling/sweep.ts) at
 * the command line, so an operator can see a backlog and drive it: each run continues where the
 * last one (or the sweeper) stopped, within its listing and time budget, and can write the
 * unlabelled keys as a manifest that `resnet batch` reads.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

import { Command, InvalidArgumentError as CommanderArgError } from 'commander';

import { describeError, InvalidArgumentError } from '../core/errors.js';
import { createS3Client } from '../labelling/aws-clients.js';
import { DEFAULT_RESULTS_PREFIX } from '../labelling/label-object.js';
import { LineUpload } from '../labelling/line-upload.js';
import { DEFAULT_SWEEP_MAX_LIST, sweep, type SweepReport } from '../labelling/sweep.js';

interface SweepFlags {
  endpoint?: string;
  model: string;
  maxList: number;
  maxSeconds?: number;
  out?: string;
  json?: boolean;
  resultsBucket?: string;
  resultsPrefix: string;
  restart?: boolean;
  save: boolean;
}

/** `s3://bucket[/prefix]` → its parts; null for anything else. */
function parseS3Uri(uri: string): { bucket: string; key: string } | null {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  return m ? { bucket: m[1]!, key: m[2]! } : null;
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new CommanderArgError('must be a whole number >= 1');
  return n;
}

/** Where the missing keys go: a local JSONL file or an S3 object. */
interface LineSink {
  write(line: string): Promise<void>;
  close(): Promise<void>;
}

function openOut(out: string, s3: ReturnType<typeof createS3Client>): LineSink {
  const uri = parseS3Uri(out);
  if (uri) {
    if (uri.key === '' || uri.key.endsWith('/')) throw new InvalidArgumentError(`--out must name an object, e.g. s3://bucket/backlog.jsonl, got ${out}.`);
    return new LineUpload(s3, uri.bucket, uri.key);
  }
  const file = createWriteStream(out, { flags: 'w' });
  return {
    async write(line) {
      if (!file.write(`${line}\n`)) await once(file, 'drain');
    },
    async close() {
      file.end();
      await once(file, 'finish');
    },
  };
}

/** Lines for people. */
export function formatSweepReport(r: SweepReport, out?: string): string {
  const where = `s3://${r.bucket}/${r.prefix}`;
  return [
    `swept ${where} for ${r.model}: ${r.listed} keys listed${r.from !== undefined ? ` after ${JSON.stringify(r.from)}` : ' from the start'}, ${r.labelled} labelled, ${r.backlog} unlabelled`,
    r.passComplete
      ? `reached the end of the prefix: pass ${r.passes} complete, ${r.passBacklog} unlabelled in it; the next sweep starts a new pass`
      : `stopped at the budget; the next sweep continues after ${JSON.stringify(r.cursor)} (${r.passBacklog} unlabelled so far in this pass)`,
    `S3 requests: ${r.requests.list} LIST, ${r.requests.head} HEAD, ${r.requests.state} for the cursor; ${(r.ms / 1000).toFixed(1)} s`,
    ...(out ? [`unlabelled keys: ${out} (label them with: resnet batch ${out}${parseS3Uri(out) ? '' : ` --bucket ${r.bucket}`})`] : []),
  ].join('\n');
}

/** Adds `sweep <s3uri>` to the `resnet` program. */
export function registerSweepCommand(program: Command): Command {
  return program
    .command('sweep')
    .description('find the unlabelled objects under an S3 prefix, continuing where the last sweep stopped (the scheduled sweeper\'s code)')
    .argument('<s3uri>', 's3://bucket/prefix/')
    .option('--endpoint <url>', 'S3 endpoint (local S3 server, MinIO); path-style addressing')
    .option('-m, --model <id>', 'model id whose results count as labelled', process.env.MODEL_ID ?? 'resnet50-v2')
    .option('--max-list <n>', 'source keys listed at most in this run', positiveInt, DEFAULT_SWEEP_MAX_LIST)
    .option('--max-seconds <s>', 'stop listing after this many seconds', positiveInt)
    .option('--out <file.jsonl|s3uri>', 'write the unlabelled keys as a JSONL manifest for `resnet batch`')
    .option('--results-bucket <name>', 'bucket of the results (default: $RESULTS_BUCKET, else the source bucket)', process.env.RESULTS_BUCKET)
    .option('--results-prefix <prefix>', 'results prefix', process.env.RESULTS_PREFIX ?? DEFAULT_RESULTS_PREFIX)
    .option('--restart', 'start from the beginning of the prefix instead of the saved cursor')
    .option('--no-save', 'do not save the cursor (a look that leaves the scheduled sweeper\'s progress alone)')
    .option('--json', 'print the report as JSON on stdout')
    .action(async (s3uri: string, flags: SweepFlags) => {
      try {
        const src = parseS3Uri(s3uri);
        if (!src) throw new InvalidArgumentError(`sweep takes s3://bucket/prefix/, got "${s3uri}".`);
        const s3 = createS3Client({ profile: 'event', ...(flags.endpoint ? { endpoint: flags.endpoint } : {}) });
        const out = flags.out ? openOut(flags.out, s3) : undefined;
        let report: SweepReport;
        try {
          report = await sweep(
            s3,
            {
              bucket: src.bucket,
              prefix: src.key,
              model: flags.model,
              ...(flags.resultsBucket ? { resultsBucket: flags.resultsBucket } : {}),
              resultsPrefix: flags.resultsPrefix,
              maxList: flags.maxList,
              ...(flags.maxSeconds !== undefined ? { maxSeconds: flags.maxSeconds } : {}),
              persist: flags.save,
              ...(flags.restart ? { restart: true } : {}),
            },
            (key) => out?.write(JSON.stringify({ bucket: src.bucket, key })),
            // The manifest is complete before the cursor moves past its keys.
            async () => out?.close(),
          );
        } finally {
          s3.destroy();
        }
        if (flags.json) console.log(JSON.stringify({ ...report, ...(flags.out ? { out: flags.out } : {}) }));
        else console.error(formatSweepReport(report, flags.out));
      } catch (err) {
        const e = describeError(err);
        console.error(`[sweep] ${e.code}: ${e.message}`);
        process.exitCode = e.code === 'INVALID_ARGUMENT' ? 2 : 1;
      }
    });
}
