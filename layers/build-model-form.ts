/**
 * The form in which a model layer ships its model (`-c modelForm`), built from a model layer
 * folder (`model/model.onnx` + `model/labels.txt`, see build-model-layer.ts):
 *
 * - `optimized` (default): the float32 graph optimised by onnxruntime at level `extended` and
 *   saved as ONNX (`model/model.optimized.onnx`) with its weights in an external data file
 *   (`model/model.optimized.data`). The functions load it with optimisation disabled, and
 *   onnxruntime maps the weights file into memory instead of parsing and copying ~100 MB: the
 *   cold start skips the graph optimisation and most of the weight handling. Level `extended` is
 *   the highest whose saved graph holds on any CPU: level `all` adds the NCHWc layout, whose block
 *   size is the CPU's vector width (16 floats with AVX-512, 8 with AVX2), and onnxruntime warns
 *   that such a file is only for the machine that wrote it (measured: a ResNet-50 saved at `all`
 *   on an AVX-512 CPU gives wrong scores on an AVX2-only one; `npm run check:model-form`).
 * - `int8`: the int8 QDQ model made by `resnet quantize` (`int8Model`), shipped as ONNX and
 *   optimised at load for the CPU it runs on (its QDQ fusions depend on the CPU's int8 support).
 * - `original`: the layer as it is.
 *
 * Every form also gets its graph inputs cleaned: the zoo's opset-7 files (and the untrained
 * stand-in) declare each initializer as a graph input too (IR version 3), which keeps
 * onnxruntime from folding them (it must assume a caller may feed them) and, once the optimiser
 * has removed some, leaves inputs that nobody can feed.
 *
 * Usage: npx tsx layers/build-model-form.ts --model-dir <layer folder> --form optimized|int8 [--int8-model file.onnx] [--out DIR]
 */
import { copyFileSync, constants, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import * as ort from 'onnxruntime-node';

import { encodeModel } from '../core/model-builder/onnx-model.js';
import { decodeModel, toOnnxModel } from '../core/model-builder/onnx-reader.js';
import { directoryBytes } from './dir-size.js';
import { type ModelForm, type ModelFormManifest, OPTIMIZED_DATA_FILE, OPTIMIZED_MODEL_FILE, modelFormDir, readModelForm, sourceIdentity } from './model-form.js';

/**
 * The graph optimisation level the `optimized` form is saved at: the highest that stays valid on
 * every CPU Lambda runs (see the module comment).
 */
export const PORTABLE_LEVEL = 'extended';

/** Options of {@link buildModelForm}. */
export interface ModelFormOptions {
  /** Model layer folder holding `model/model.onnx` and `model/labels.txt`. */
  readonly sourceDir: string;
  readonly form: Exclude<ModelForm, 'original'>;
  /** The int8 model from `resnet quantize`; required for the `int8` form. */
  readonly int8Model?: string;
  /** Folder to write (replaced). @default modelFormDir(sourceDir, form) */
  readonly outDir?: string;
}

const ORT_VERSION: string = ort.env.versions.node ?? ort.env.versions.common;

/**
 * The model's bytes with initializers no longer declared as graph inputs (IR version raised to 4,
 * the first that allows it). Returns the bytes unchanged when no input is an initializer.
 * @throws Error when the graph would need cleaning but uses operators outside the standard domain
 *   (the re-encoder writes the standard opset only).
 */
export function withoutInitializerInputs(bytes: Uint8Array): Uint8Array {
  const m = decodeModel(bytes);
  const inits = new Set(m.initializers.map((t) => t.name));
  if (!m.inputs.some((i) => inits.has(i.name))) return bytes;
  if (m.opsets.some((o) => o.domain !== '' && o.domain !== 'ai.onnx') || m.nodes.some((n) => n.domain !== '' && n.domain !== 'ai.onnx')) {
    throw new Error('the model declares its initializers as graph inputs and uses non-standard operator domains; re-export it with IR version 4 or later (initializers not listed as inputs) and build again.');
  }
  return encodeModel({ ...toOnnxModel(m), irVersion: Math.max(m.irVersion, 4) }).toBytes();
}

/**
 * Optimises an ONNX model at `level` and saves it as ONNX with every initializer of 1 KiB or more
 * in `dataFile` (a name relative to the model's folder).
 * @param onnx the model's bytes. @param outFile the `.onnx` file to write.
 * @param level @default PORTABLE_LEVEL (other levels for the portability check only)
 */
export async function saveOptimized(onnx: Uint8Array, outFile: string, dataFile: string, level: 'basic' | 'extended' | 'all' = PORTABLE_LEVEL): Promise<void> {
  const session = await ort.InferenceSession.create(onnx, {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    graphOptimizationLevel: level,
    optimizedModelFilePath: outFile,
    extra: { session: { optimized_model_external_initializers_file_name: dataFile, optimized_model_external_initializers_min_size_in_bytes: '1024' } },
  });
  await session.release();
  if (!existsSync(outFile) || !existsSync(path.join(path.dirname(outFile), dataFile))) throw new Error(`onnxruntime ${ORT_VERSION} did not write ${outFile} and ${dataFile}.`);
}

/**
 * Builds the layer folder of a model form (`model/model.optimized.onnx` + `.data`, or
 * `model/model.onnx`, with `model/labels.txt`), unless an identical build is already there. Takes seconds for a ResNet-50
 * (onnxruntime optimises the graph once) and holds about three copies of the model in memory.
 * @throws Error when the source layer or the int8 model is missing, or onnxruntime cannot load it.
 */
export async function buildModelForm(opts: ModelFormOptions): Promise<ModelFormManifest> {
  const labels = path.join(opts.sourceDir, 'model', 'labels.txt');
  const source = opts.form === 'int8' ? opts.int8Model : path.join(opts.sourceDir, 'model', 'model.onnx');
  if (!source) throw new Error('The int8 form needs the int8 model: make it with `npx resnet quantize --model <id> --calibrate <photos> --out <file.onnx>` and pass -c int8Model=<file.onnx>.');
  for (const f of [source, labels]) {
    if (!existsSync(f) || statSync(f).size === 0) throw new Error(`${f} is missing or empty; build the model layer first (layers/build-model-layer.ts).`);
  }
  const outDir = opts.outDir ?? modelFormDir(opts.sourceDir, opts.form);
  const ready = readModelForm(outDir, opts.form, source);
  if (ready && ready.onnxruntime === ORT_VERSION) return ready;

  const tmp = `${outDir}.${process.pid}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(path.join(tmp, 'model'), { recursive: true });
  try {
    const original = readFileSync(source);
    const cleaned = withoutInitializerInputs(original);
    let modelFile: string;
    if (opts.form === 'optimized') {
      modelFile = OPTIMIZED_MODEL_FILE;
      await saveOptimized(cleaned, path.join(tmp, 'model', modelFile), OPTIMIZED_DATA_FILE);
    } else {
      modelFile = 'model.onnx';
      writeFileSync(path.join(tmp, 'model', modelFile), cleaned);
    }
    copyFileSync(labels, path.join(tmp, 'model', 'labels.txt'), constants.COPYFILE_FICLONE);
    rmSync(outDir, { recursive: true, force: true });
    renameSync(tmp, outDir);
    const manifest: ModelFormManifest = {
      form: opts.form, source: sourceIdentity(source), onnxruntime: ORT_VERSION, modelFile, bytes: directoryBytes(outDir), dir: outDir,
    };
    writeFileSync(`${outDir}.json`, `${JSON.stringify(manifest, null, 2)}\n`);
    return manifest;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

async function main(argv: string[]): Promise<void> {
  const sourceDir = arg(argv, '--model-dir');
  const form = arg(argv, '--form') ?? 'optimized';
  if (!sourceDir || (form !== 'optimized' && form !== 'int8')) {
    console.error('Usage: npx tsx layers/build-model-form.ts --model-dir <layer folder> --form optimized|int8 [--int8-model file.onnx] [--out DIR]');
    process.exit(2);
  }
  const out = arg(argv, '--out');
  const int8Model = arg(argv, '--int8-model');
  const m = await buildModelForm({ sourceDir, form, ...(out ? { outDir: path.resolve(out) } : {}), ...(int8Model ? { int8Model } : {}) });
  console.log(`${form} form: ${(m.bytes / 1e6).toFixed(1)} MB in ${path.relative(process.cwd(), m.dir) || '.'} (${m.modelFile}, onnxruntime ${m.onnxruntime}, ${os.cpus()[0]?.model ?? 'unknown CPU'})`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
