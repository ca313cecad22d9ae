/**
 * The GPU worker image's build context holds only what batch/Dockerfile copies, so the image asset's
 * hash (and the job definition revision) changes with the code the image runs, not with docs or tests.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { FileSystem, IgnoreMode } from 'aws-cdk-lib';

import { dockerContextExclude } from '../../infra/docker.js';
import { BATCH_DOCKERFILE } from '../../infra/constructs/gpu-batch-job.js';
import { REPO_ROOT } from '../helpers/paths.js';

const DOCKERFILE = `FROM node:24 AS build
COPY package.json package-lock.json ./
COPY core ./core
COPY batch ./batch
FROM base
COPY --from=build /app/dist ./dist
`;

describe('dockerContextExclude', () => {
  let dir: string;
  const write = (rel: string, text: string): void => {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  };
  const hash = (): string => FileSystem.fingerprint(dir, { exclude: dockerContextExclude(DOCKERFILE, 'batch/Dockerfile'), ignoreMode: IgnoreMode.DOCKER });

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'docker-context-'));
    write('batch/Dockerfile', DOCKERFILE);
    write('package.json', '{}');
    write('package-lock.json', '{}');
    write('core/a.ts', 'export const a = 1;');
    write('batch/run.ts', 'export const b = 1;');
    write('README.md', '# docs');
    write('test/a.test.ts', 'test');
    write('core/node_modules/x/index.js', 'x');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps the hash when docs, tests or caches change', () => {
    const before = hash();
    write('README.md', '# other docs');
    write('test/a.test.ts', 'other test');
    write('docs/new.md', 'new');
    write('core/node_modules/x/index.js', 'y');
    write('core/model.onnx', 'weights');
    expect(hash()).toBe(before);
  });

  it('changes the hash when a copied source, the lockfile or the Dockerfile changes', () => {
    const before = hash();
    write('core/a.ts', 'export const a = 2;');
    const afterCore = hash();
    expect(afterCore).not.toBe(before);
    write('package-lock.json', '{"v":2}');
    const afterLock = hash();
    expect(afterLock).not.toBe(afterCore);
    write('batch/Dockerfile', `${DOCKERFILE}\n# changed`);
    expect(hash()).not.toBe(afterLock);
  });

  it('reads the real Dockerfile: every folder the build stage copies is in the context', () => {
    const patterns = dockerContextExclude(readFileSync(path.join(REPO_ROOT, BATCH_DOCKERFILE), 'utf8'), BATCH_DOCKERFILE);
    for (const src of ['package.json', 'package-lock.json', 'core', 'labelling', 'batch', 'functions', 'batch/Dockerfile']) expect(patterns).toContain(`!${src}`);
    expect(patterns).not.toContain('!test');
    expect(patterns[0]).toBe('**');
  });
});
