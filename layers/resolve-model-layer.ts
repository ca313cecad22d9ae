/**
 * Finds (or builds) the model layer `cdk synth` packages, so that synth works in one command on
 * a fresh clone. In order:
 * 1. `-c modelDir=<folder>`: used as given;
 * 2. `layers/build/model-<modelId>` already built: used;
 * 3. the zoo model in the fetch cache (`resnet fetch <id>`): a layer is built from it;
 * 4. the default model (resnet50-v2) not fetched: a layer is built from the generated,
 *    UNTRAINED ResNet-50 v2 that `npm start` also serves offline, under the model id
 *    `resnet50-v2-untrained` (written into every result, so nobody mistakes its labels).
 * Any other zoo id that is not fetched is an error saying how to fetch it.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

import { cachedModelPaths, defaultCacheDir } from '../core/fetch/index.js';
import { ensureDemoModel } from '../core/model-builder/demo-model.js';
import { MissingArtefactError } from '../infra/errors.js';
import { buildModelLayer } from './build-model-layer.js';
import { LAYERS_BUILD_DIR, UNTRAINED_MODEL_ID, modelLayerDir } from './paths.js';

export { UNTRAINED_MODEL_ID };

/** The zoo model the stand-in replaces. */
const DEFAULT_ZOO_ID = 'resnet50-v2';

/** Where the layer came from. */
export type ModelLayerOrigin = 'modelDir' | 'built' | 'cache' | 'untrained';

/** The model layer synth will package. */
export interface ResolvedModelLayer {
  /** Model id to deploy (results carry it). */
  readonly modelId: string;
  /** Folder holding `model/model.onnx` and `model/labels.txt`. */
  readonly modelDir: string;
  readonly origin: ModelLayerOrigin;
  /** One line for the synth log. */
  readonly message: string;
}

/** Options of {@link resolveModelLayer}. */
export interface ResolveModelLayerOptions {
  /** `-c modelId`. @default 'resnet50-v2' */
  readonly modelId?: string;
  /** `-c modelDir`. */
  readonly modelDir?: string;
  /** Model cache. @default env RESNET_CACHE_DIR, else ~/.cache/resnet-serverless */
  readonly cacheDir?: string;
  /** Parent folder of built layers. @default layers/build */
  readonly buildDir?: string;
}

function hasLayer(dir: string): boolean {
  return existsSync(path.join(dir, 'model/model.onnx')) && existsSync(path.join(dir, 'model/labels.txt'));
}

/**
 * Resolves the model layer, building it when needed (a copy of ~100 MB; the untrained model's
 * first generation takes seconds and is cached in `<cacheDir>/demo`).
 * @throws MissingArtefactError for a non-default zoo id that is neither built nor fetched.
 */
export async function resolveModelLayer(opts: ResolveModelLayerOptions = {}): Promise<ResolvedModelLayer> {
  const modelId = opts.modelId ?? DEFAULT_ZOO_ID;
  const buildDir = opts.buildDir ?? LAYERS_BUILD_DIR;
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const rel = (p: string): string => path.relative(process.cwd(), p) || '.';
  if (opts.modelDir) {
    const dir = path.resolve(opts.modelDir);
    return { modelId, modelDir: dir, origin: 'modelDir', message: `model ${modelId} from -c modelDir=${rel(dir)}` };
  }
  const built = modelLayerDir(modelId, buildDir);
  if (hasLayer(built)) return { modelId, modelDir: built, origin: 'built', message: `model ${modelId} from the built layer ${rel(built)}` };

  const cached = cachedModelPaths(modelId, cacheDir);
  if (cached) {
    buildModelLayer({ modelId, modelPath: cached.modelPath, labelsPath: cached.labelsPath, outDir: built });
    return { modelId, modelDir: built, origin: 'cache', message: `model ${modelId}: built the layer ${rel(built)} from the fetch cache ${cacheDir}` };
  }
  if (modelId !== DEFAULT_ZOO_ID) {
    throw new MissingArtefactError(`The model ${modelId}`, built,
      `Fetch it (\`npx resnet fetch ${modelId}\`) and synth again, or point -c modelDir=<folder> at a folder holding model/model.onnx and model/labels.txt.`);
  }
  const demoDir = modelLayerDir(UNTRAINED_MODEL_ID, buildDir);
  if (!hasLayer(demoDir)) {
    const demo = await ensureDemoModel(cacheDir);
    buildModelLayer({ modelId: UNTRAINED_MODEL_ID, modelPath: demo.modelPath, labelsPath: demo.labelsPath, outDir: demoDir });
  }
  return {
    modelId: UNTRAINED_MODEL_ID,
    modelDir: demoDir,
    origin: 'untrained',
    message: `WARNING: ${DEFAULT_ZOO_ID} is not fetched; packaging ${UNTRAINED_MODEL_ID} (generated, UNTRAINED: its labels are meaningless). ` +
      `For real labels: \`npx resnet fetch ${DEFAULT_ZOO_ID}\`, then synth again.`,
  };
}
