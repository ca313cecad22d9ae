/**
 * Builds a model layer folder: `model/model.onnx` + `model/labels.txt`, which Lambda mounts at
 * /opt/model (the functions read MODEL_DIR=/opt/model). The model comes from the fetch cache
 * (`resnet fetch <id>`), or from explicit files.
 *
 * Usage:
 *   npx tsx layers/build-model-layer.ts --model resnet50-v2 [--cache-dir DIR] [--download]
 *   npx tsx layers/build-model-layer.ts --model my-net --model-file ./net.onnx --labels ./labels.txt
 */
import { copyFileSync, constants, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { directoryBytes } from './dir-size.js';
import { modelLayerDir } from './paths.js';

/** Options of {@link buildModelLayer}. */
export interface ModelLayerOptions {
  /** Model id; names the folder `model-<id>`. */
  readonly modelId: string;
  /** The .onnx file to package. */
  readonly modelPath: string;
  /** The labels file to package (one class per line). */
  readonly labelsPath: string;
  /** @default layers/build/model-<modelId> */
  readonly outDir?: string;
}

/** What a build produced; also written beside the folder as `<folder>.json`. */
export interface ModelLayerManifest {
  readonly modelId: string;
  /** Unzipped bytes of the layer (model + labels). */
  readonly bytes: number;
  readonly dir: string;
}

/**
 * Copies model and labels into the layer layout (synchronous, like the other layer build).
 * @throws Error when an input file is missing or empty.
 */
export function buildModelLayer(opts: ModelLayerOptions): ModelLayerManifest {
  for (const [what, p] of [['model', opts.modelPath], ['labels', opts.labelsPath]] as const) {
    if (!existsSync(p) || statSync(p).size === 0) throw new Error(`The ${what} file ${p} is missing or empty.`);
  }
  const outDir = opts.outDir ?? modelLayerDir(opts.modelId);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(path.join(outDir, 'model'), { recursive: true });
  // FICLONE makes a copy-on-write clone where the file system supports it (a 240 MB model twice on disk otherwise).
  copyFileSync(opts.modelPath, path.join(outDir, 'model/model.onnx'), constants.COPYFILE_FICLONE);
  copyFileSync(opts.labelsPath, path.join(outDir, 'model/labels.txt'), constants.COPYFILE_FICLONE);
  const manifest: ModelLayerManifest = { modelId: opts.modelId, bytes: directoryBytes(outDir), dir: outDir };
  writeFileSync(`${outDir}.json`, `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

async function main(argv: string[]): Promise<void> {
  const modelId = arg(argv, '--model') ?? 'resnet50-v2';
  let modelPath = arg(argv, '--model-file');
  let labelsPath = arg(argv, '--labels');
  if (!modelPath || !labelsPath) {
    // Imported lazily so the build function above has no dependency on the fetch module.
    const fetch = await import('../core/fetch/index.js');
    const cacheDir = arg(argv, '--cache-dir');
    const cached = fetch.cachedModelPaths(modelId, cacheDir)
      ?? (argv.includes('--download') ? await fetch.fetchModel(modelId, { cacheDir }) : null);
    if (!cached) {
      console.error(`${modelId} is not in the cache (${cacheDir ?? fetch.defaultCacheDir()}). Run \`resnet fetch ${modelId}\`, add --download, or pass --model-file and --labels.`);
      process.exit(1);
    }
    modelPath ??= cached.modelPath;
    labelsPath ??= cached.labelsPath;
  }
  const m = buildModelLayer({ modelId, modelPath, labelsPath });
  console.log(`model layer ${modelId}: ${(m.bytes / 1e6).toFixed(1)} MB unzipped in ${path.relative(process.cwd(), m.dir)}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
