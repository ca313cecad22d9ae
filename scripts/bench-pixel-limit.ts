/**
 * `npm run bench:pixel-limit` (after `npm run synth`): peak RSS of the classifying functions,
 * run from their synthesised artefacts (scripts/lambda-sandbox.ts), on an image at the pixel
 * limit, against the memory size each function is deployed with. The image is the cheapest way
 * to reach the limit: an all-zero PNG of about 100 MP is a few hundred KB on the wire, and
 * decoding it needs its full RGBA raster. The floor is the same function on a 1024x768 JPEG,
 * measured in the same run.
 *
 * Flags: --assembly <dir> (default cdk.out) --stack <name> (default ResnetServerless)
 *        --side <px> side of the square PNG (default 9999: 99.98 MP, under the 100 MP default limit)
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import sharp from 'sharp';

import { createS3Client } from '../labelling/aws-clients.js';
import { httpEvent, s3Event } from './lambda-events.js';
import { invokeInSandbox, layOutFunction, readAssemblyFunctions, resolveEnvironment, type AssemblyFunction } from './lambda-sandbox.js';

const BUCKET = 'resnet-pixel-limit';
const { values: flags } = parseArgs({
  options: {
    assembly: { type: 'string', default: 'cdk.out' },
    stack: { type: 'string', default: 'ResnetServerless' },
    side: { type: 'string', default: '9999' },
  },
});

/** One cold invoke of `fn` with `event`; the process's peak RSS in MiB and the invoke's time. */
async function peak(fn: AssemblyFunction, event: unknown, env: Record<string, string>): Promise<{ rssMiB: number; ms: number; error?: unknown }> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'bench-pixels-'));
  try {
    const layout = layOutFunction(fn, root);
    const environment = { ...resolveEnvironment(fn.environment, layout, { StorageBucket: BUCKET }), ...env };
    const r = await invokeInSandbox(fn, layout, { events: [event], environment, functionName: fn.logicalId, timeoutMs: 600_000 });
    return { rssMiB: r.maxRssKb / 1024, ms: r.invokes[0]?.ms ?? NaN, ...(r.invokes[0]?.error ? { error: r.invokes[0].error } : {}) };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const assembly = path.resolve(flags.assembly);
  if (!existsSync(path.join(assembly, `${flags.stack}.template.json`))) {
    console.error(`No ${flags.stack}.template.json under ${assembly}: run \`npm run synth\` first.`);
    process.exit(1);
  }
  const side = Number(flags.side);
  const fns = readAssemblyFunctions(assembly, flags.stack).filter((f) => /^(S3Tagger|ClassifyApi)Function/.test(f.logicalId));
  const png = await sharp({ create: { width: side, height: side, channels: 3, background: { r: 0, g: 0, b: 0 } } }).png({ compressionLevel: 9 }).toBuffer();
  const jpeg = await sharp({ create: { width: 1024, height: 768, channels: 3, background: { r: 90, g: 120, b: 150 } } }).jpeg({ quality: 85 }).toBuffer();

  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'bench-pixels-s3-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, directory: dataDir, silent: true });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const s3 = createS3Client({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  const env = { S3_ENDPOINT: endpoint, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', POWERTOOLS_METRICS_DISABLED: 'true', POWERTOOLS_LOG_LEVEL: 'WARN' };
  const rows: string[] = [];
  const load = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  try {
    for (const fn of fns) {
      const measured: string[] = [];
      for (const [name, body, type] of [['jpeg', jpeg, 'image/jpeg'], ['png', png, 'image/png']] as const) {
        const key = `uploads/${fn.logicalId}-${name}`;
        await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, ContentType: type }));
        const event = fn.logicalId.startsWith('ClassifyApi')
          ? httpEvent({ method: 'POST', path: '/classify', headers: { 'content-type': type }, body })
          : s3Event({ bucket: BUCKET, key, size: body.length });
        const r = await peak(fn, event, env);
        if (r.error) throw new Error(`${fn.logicalId} on the ${name}: ${JSON.stringify(r.error)}`);
        measured.push(r.rssMiB.toFixed(0), r.ms.toFixed(0));
      }
      const pngRss = Number(measured[2]);
      rows.push(`| ${fn.logicalId.replace(/Function.*/, '')} | ${fn.memoryMb} | ${measured[0]} | ${measured[2]} | ${(100 * pngRss / fn.memoryMb).toFixed(0)} % | ${measured[3]} |`);
    }
  } finally {
    await server.close();
    s3.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  }
  console.log(`Peak RSS at the pixel limit: ${side}x${side} all-zero PNG (${(side * side / 1e6).toFixed(2)} MP, ${(png.length / 1024).toFixed(0)} KiB), floor 1024x768 JPEG; ${flags.stack} (${assembly}); node ${process.version}, ${os.cpus().length} CPUs, load average ${load} at the start, ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at the end`);
  console.log('');
  console.log('| function | memory MB (deployed) | peak RSS MiB, 1024x768 JPEG | peak RSS MiB, PNG at the limit | of the memory size | PNG invoke ms |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const r of rows) console.log(r);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
