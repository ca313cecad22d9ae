/**
 * The onnxruntime layer's native files against the Lambda Node.js 24 runtime (Amazon Linux 2023:
 * glibc 2.34, libstdc++ of GCC 11, i.e. GLIBCXX 3.4.29 and CXXABI 1.3.13), for both
 * architectures: every symbol version they need must exist there, or the require fails at
 * cold start with "version `GLIBC_2.xx' not found".
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { buildOnnxruntimeLayer } from '../../layers/build-onnxruntime-layer.js';
import { compareVersions, elfVersionNeeds, maxVersion } from '../../layers/elf-version-needs.js';
import type { LayerArch } from '../../layers/paths.js';

const AL2023 = { GLIBC: '2.34', GLIBCXX: '3.4.29', CXXABI: '1.3.13' } as const;
const MACHINE: Record<LayerArch, string> = { x86_64: 'x86_64', arm64: 'aarch64' };

const tmp = mkdtempSync(path.join(os.tmpdir(), 'ort-layer-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function nativeFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && /\.node$|\.so(\.\d+)*$/.test(e.name))
    .map((e) => path.join(e.parentPath, e.name));
}

describe.each(['x86_64', 'arm64'] as const)('onnxruntime layer for %s', (arch) => {
  const layer = buildOnnxruntimeLayer({ arch, outDir: path.join(tmp, arch) });
  const files = nativeFiles(layer.dir);

  test('ships the binding and the runtime library, for this architecture only', () => {
    expect(files.map((f) => path.basename(f)).sort()).toEqual(['libonnxruntime.so.1', 'onnxruntime_binding.node']);
    for (const f of files) expect(elfVersionNeeds(f).machine).toBe(MACHINE[arch]);
  });

  test.each(Object.entries(AL2023))('needs at most %s %s (Amazon Linux 2023)', (family, limit) => {
    for (const f of files) {
      const max = maxVersion(elfVersionNeeds(f), family);
      // libonnxruntime links against glibc and libstdc++: a family missing everywhere means the parser broke.
      if (family === 'GLIBC') expect(max).toBeDefined();
      if (max !== undefined) expect(`${path.basename(f)} ${family}_${compareVersions(max, limit) <= 0 ? 'ok' : max}`).toBe(`${path.basename(f)} ${family}_ok`);
    }
  });
});

test('versions compare numerically', () => {
  expect(['2.9', '2.28', '2.3.4', '2.34'].sort(compareVersions)).toEqual(['2.3.4', '2.9', '2.28', '2.34']);
});
