import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

import { STATUS_BY_CODE } from '../../functions/common/middleware.js';
import { REPO_ROOT } from '../helpers/paths.js';

// js-yaml comes with the dev toolchain (eslint); the document is plain YAML 1.2.
const yaml = createRequire(import.meta.url)('js-yaml') as { load(s: string): unknown };

interface Doc {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
}

test('the OpenAPI document describes every route and every status the API returns', async () => {
  const doc = yaml.load(await readFile(path.join(REPO_ROOT, 'api/openapi.yaml'), 'utf8')) as Doc;
  expect(doc.openapi).toMatch(/^3\./);
  expect(Object.keys(doc.paths).sort()).toEqual(['/classify', '/model', '/results/{key}', '/uploads']);
  const classify = Object.keys(doc.paths['/classify']!.post!.responses);
  for (const status of new Set(Object.values(STATUS_BY_CODE))) expect(classify).toContain(String(status));
  for (const s of ['200', '400', '413', '415', '422', '429', '500']) expect(classify).toContain(s);
  expect(Object.keys(doc.paths['/uploads']!.post!.responses)).toContain('201');
  expect(Object.keys(doc.paths['/results/{key}']!.get!.responses)).toEqual(expect.arrayContaining(['200', '404']));
});
