/**
 * Builds the onnxruntime Lambda layer for one architecture by copying from node_modules (no
 * download): the package's JavaScript plus only that architecture's Linux binaries, laid out
 * as `nodejs/node_modules/onnxruntime-node` (+ `onnxruntime-common`) so Lambda's NODE_PATH
 * (/opt/nodejs/node_modules) resolves `require('onnxruntime-node')`.
 *
 * Usage: npx tsx layers/build-onnxruntime-layer.ts [--arch x86_64|arm64|all]
 */
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { directoryBytes } from './dir-size.js';
import { type LayerArch, REPO_ROOT, nodeArch, onnxruntimeLayerDir } from './paths.js';

/** What a build produced; also written beside the folder as `<folder>.json`. */
export interface OnnxruntimeLayerManifest {
  readonly arch: LayerArch;
  /** onnxruntime-node version copied. */
  readonly version: string;
  /** Unzipped bytes of the layer. */
  readonly bytes: number;
  readonly dir: string;
}

/** Options of {@link buildOnnxruntimeLayer}. */
export interface OnnxruntimeLayerOptions {
  readonly arch: LayerArch;
  /** @default layers/build/onnxruntime-<arch> */
  readonly outDir?: string;
  /** Where onnxruntime-node and onnxruntime-common are installed. @default <repo>/node_modules */
  readonly nodeModules?: string;
}

const JS_ONLY = (src: string): boolean => !src.endsWith('.map') && !src.endsWith('.d.ts');

/**
 * Copies the layer content (synchronous: the CDK app calls it while constructing the stack).
 * @throws Error when onnxruntime-node or the architecture's binaries are not installed.
 */
export function buildOnnxruntimeLayer(opts: OnnxruntimeLayerOptions): OnnxruntimeLayerManifest {
  const nodeModules = opts.nodeModules ?? path.join(REPO_ROOT, 'node_modules');
  const outDir = opts.outDir ?? onnxruntimeLayerDir(opts.arch);
  const ortSrc = path.join(nodeModules, 'onnxruntime-node');
  const commonSrc = path.join(nodeModules, 'onnxruntime-common');
  if (!existsSync(path.join(ortSrc, 'package.json')) || !existsSync(path.join(commonSrc, 'package.json'))) {
    throw new Error(`onnxruntime-node is not installed under ${nodeModules}; run \`npm ci\` first.`);
  }
  const version = (JSON.parse(readFileSync(path.join(ortSrc, 'package.json'), 'utf8')) as { version: string }).version;
  const napiDirs = readdirSync(path.join(ortSrc, 'bin')).filter((d) => d.startsWith('napi-v'));
  const binaries = napiDirs.map((d) => path.join('bin', d, 'linux', nodeArch(opts.arch))).filter((rel) => existsSync(path.join(ortSrc, rel)));
  if (binaries.length === 0) {
    throw new Error(`onnxruntime-node ${version} has no Linux ${nodeArch(opts.arch)} binaries under ${ortSrc}/bin; reinstall it without a platform filter.`);
  }

  rmSync(outDir, { recursive: true, force: true });
  const ortDst = path.join(outDir, 'nodejs/node_modules/onnxruntime-node');
  const commonDst = path.join(outDir, 'nodejs/node_modules/onnxruntime-common');
  mkdirSync(ortDst, { recursive: true });
  cpSync(path.join(ortSrc, 'package.json'), path.join(ortDst, 'package.json'));
  cpSync(path.join(ortSrc, 'dist'), path.join(ortDst, 'dist'), { recursive: true, filter: JS_ONLY });
  for (const rel of binaries) cpSync(path.join(ortSrc, rel), path.join(ortDst, rel), { recursive: true });
  mkdirSync(commonDst, { recursive: true });
  cpSync(path.join(commonSrc, 'package.json'), path.join(commonDst, 'package.json'));
  // Only the CommonJS build: functions are bundled as CJS and `require` it through NODE_PATH.
  cpSync(path.join(commonSrc, 'dist/cjs'), path.join(commonDst, 'dist/cjs'), { recursive: true, filter: JS_ONLY });

  const manifest: OnnxruntimeLayerManifest = { arch: opts.arch, version, bytes: directoryBytes(outDir), dir: outDir };
  writeFileSync(`${outDir}.json`, `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/**
 * Returns the built layer, building it first when missing or built from another
 * onnxruntime-node version. Cheap when up to date (reads one small JSON file).
 */
export function ensureOnnxruntimeLayer(opts: OnnxruntimeLayerOptions): OnnxruntimeLayerManifest {
  const outDir = opts.outDir ?? onnxruntimeLayerDir(opts.arch);
  const nodeModules = opts.nodeModules ?? path.join(REPO_ROOT, 'node_modules');
  try {
    const manifest = JSON.parse(readFileSync(`${outDir}.json`, 'utf8')) as OnnxruntimeLayerManifest;
    const installed = (JSON.parse(readFileSync(path.join(nodeModules, 'onnxruntime-node/package.json'), 'utf8')) as { version: string }).version;
    if (manifest.version === installed && manifest.arch === opts.arch && existsSync(path.join(outDir, 'nodejs/node_modules/onnxruntime-node/package.json'))) {
      return { ...manifest, dir: outDir };
    }
  } catch {
    // No manifest or unreadable: build.
  }
  return buildOnnxruntimeLayer(opts);
}

function main(argv: string[]): void {
  const i = argv.indexOf('--arch');
  const which = i >= 0 ? argv[i + 1] : 'all';
  if (!['x86_64', 'arm64', 'all'].includes(which)) {
    console.error(`--arch must be x86_64, arm64 or all (got ${which})`);
    process.exit(2);
  }
  const arches: LayerArch[] = which === 'all' ? ['x86_64', 'arm64'] : [which as LayerArch];
  for (const arch of arches) {
    const m = buildOnnxruntimeLayer({ arch });
    console.log(`onnxruntime-node ${m.version} layer for ${arch}: ${(m.bytes / 1e6).toFixed(1)} MB unzipped in ${path.relative(process.cwd(), m.dir)}`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) main(process.argv.slice(2));
