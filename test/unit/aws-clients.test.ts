/**
 * Every AWS SDK client the project builds sets its retry mode and attempts itself (the SDK's
 * defaults changed on 2026-11-10): each factory's client resolves to its profile even with
 * AWS_MAX_ATTEMPTS / AWS_RETRY_MODE set to other values, which a client built without them would
 * take; and no source file outside labelling/aws-clients.ts constructs an SDK client itself.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

import { S3Client } from '@aws-sdk/client-s3';

import { defaultS3Client } from '../../batch/s3/s3-client.js';
import { s3ClientFromEnv } from '../../functions/common/clients.js';
import { createBatchClient, createS3Client, createSqsClient, RETRY_PROFILES, type RetryProfile } from '../../labelling/aws-clients.js';
import { localS3Client } from '../../local/stack.js';
import { REPO_ROOT } from '../helpers/paths.js';

interface RetryConfig {
  maxAttempts: () => Promise<number>;
  retryStrategy: () => Promise<object>;
}
interface AnyClient {
  config: RetryConfig;
  destroy(): void;
}

/** What the client resolves to with the environment's retry settings set to `envMode` and 17 attempts. */
async function resolved(make: () => AnyClient, envMode: string): Promise<{ retryMode: string; maxAttempts: number }> {
  const saved = { attempts: process.env.AWS_MAX_ATTEMPTS, mode: process.env.AWS_RETRY_MODE };
  process.env.AWS_MAX_ATTEMPTS = '17';
  process.env.AWS_RETRY_MODE = envMode;
  try {
    const client = make();
    const out = { retryMode: ((await client.config.retryStrategy()) as { mode?: string }).mode ?? '(none)', maxAttempts: await client.config.maxAttempts() };
    client.destroy();
    return out;
  } finally {
    for (const [k, v] of [['AWS_MAX_ATTEMPTS', saved.attempts], ['AWS_RETRY_MODE', saved.mode]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

const other = (mode: string): string => (mode === 'adaptive' ? 'standard' : 'adaptive');
const endpoint = 'http://127.0.0.1:9';

const FACTORIES: [string, RetryProfile, () => AnyClient][] = [
  ...(Object.keys(RETRY_PROFILES) as RetryProfile[]).map((p): [string, RetryProfile, () => AnyClient] => [`createS3Client(${p})`, p, () => createS3Client({ profile: p, region: 'us-east-1' })]),
  ['createS3Client() (the default profile, e.g. the model download)', 'event', () => createS3Client({ region: 'us-east-1' })],
  ['createS3Client with a local endpoint', 'event', () => createS3Client({ endpoint })],
  ['createSqsClient (sweeper fan-out)', 'event', () => createSqsClient({ endpoint })],
  ['createBatchClient (sweeper SubmitJob)', 'event', () => createBatchClient()],
  ['s3ClientFromEnv(interactive) (classify API)', 'interactive', () => s3ClientFromEnv({ AWS_REGION: 'us-east-1' }, 'interactive')],
  ['s3ClientFromEnv() (tagger, worker, sweeper)', 'event', () => s3ClientFromEnv({ AWS_REGION: 'us-east-1', S3_ENDPOINT: endpoint })],
  ['defaultS3Client (batch worker)', 'bulk', () => defaultS3Client()],
  ['localS3Client (local stack)', 'event', () => localS3Client(endpoint)],
];

describe('SDK clients set their retry mode and attempts', () => {
  test('control: a client built without them takes the environment (which the checks below set to other values)', async () => {
    expect(await resolved(() => new S3Client({ region: 'us-east-1' }), 'adaptive')).toEqual({ retryMode: 'adaptive', maxAttempts: 17 });
  });

  test.each(FACTORIES)('%s: its profile (%s), whatever the environment says', async (_, profile, make) => {
    const want = RETRY_PROFILES[profile];
    expect(await resolved(make, other(want.retryMode))).toEqual({ retryMode: want.retryMode, maxAttempts: want.maxAttempts });
  });
});

async function* sources(dir: string): AsyncGenerator<string> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* sources(p);
    else if (/\.(ts|js|mjs|cjs)$/.test(e.name) && !e.name.endsWith('.d.ts')) yield p;
  }
}

test('only labelling/aws-clients.ts constructs AWS SDK clients (functions, batch, cli, local, labelling, core, scripts, infra)', async () => {
  const found: string[] = [];
  for (const dir of ['functions', 'batch', 'cli', 'local', 'labelling', 'core', 'scripts', 'infra']) {
    for await (const file of sources(path.join(REPO_ROOT, dir))) {
      const text = await readFile(file, 'utf8');
      // The local names of the client classes this file imports from an SDK client package (aliases too).
      const sdk = new Set(
        [...text.matchAll(/import\s*\{([^}]*)\}\s*from\s*'@aws-sdk\/client-[\w-]+'/g)]
          .flatMap((m) => m[1]!.split(',').map((n) => n.trim().replace(/^type\s+/, '').split(/\s+as\s+/)))
          .filter(([name]) => name!.endsWith('Client'))
          .map((names) => names[names.length - 1]!),
      );
      for (const m of text.matchAll(/new\s+(\w+)\s*\(/g)) if (sdk.has(m[1]!)) found.push(`${path.relative(REPO_ROOT, file)}: new ${m[1]}`);
    }
  }
  expect(found.sort()).toEqual(['labelling/aws-clients.ts: new BatchClient', 'labelling/aws-clients.ts: new S3Client', 'labelling/aws-clients.ts: new SQSClient']);
});
