/**
 * The deploy-time model forms (`-c modelForm`) and where their layer folders are; built by
 * layers/build-model-form.ts (`npm run synth` builds the configured one before the stack).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * How the model layer ships the model:
 * - `optimized`: float32, graph optimised at a level that holds on every CPU (`model.optimized.onnx`,
 *   weights in `model.optimized.data`);
 * - `int8`: the int8 QDQ model made by `resnet quantize`, optimised at load (`model.onnx`);
 * - `original`: the model layer as built (`model.onnx`), optimised at load.
 */
export type ModelForm = 'optimized' | 'int8' | 'original';

/**
 * The `optimized` form's model file in the layer's `model/` folder (the functions load it without
 * optimising when they find it), and its weights file beside it, which onnxruntime maps into
 * memory instead of reading.
 */
export const OPTIMIZED_MODEL_FILE = 'model.optimized.onnx';
export const OPTIMIZED_DATA_FILE = 'model.optimized.data';

/** The forms, in the order the docs list them. */
export const MODEL_FORMS: readonly ModelForm[] = ['optimized', 'int8', 'original'];

/** What a form build produced; written beside its folder as `<folder>.json`. */
export interface ModelFormManifest {
  readonly form: ModelForm;
  /** The model file the form was made from, with the size and mtime that identify it. */
  readonly source: { readonly path: string; readonly bytes: number; readonly mtimeMs: number };
  /** onnxruntime-node that built it (an ORT-format file is read by the runtime of that version or later). */
  readonly onnxruntime: string;
  /** The model file in the layer's `model/` folder: {@link OPTIMIZED_MODEL_FILE} or `model.onnx`. */
  readonly modelFile: string;
  /** Unzipped bytes of the layer folder. */
  readonly bytes: number;
  readonly dir: string;
}

/** The layer folder of a form, beside the model layer it is made from (`<modelDir>-<form>`); the model layer itself for `original`. */
export function modelFormDir(modelDir: string, form: ModelForm): string {
  return form === 'original' ? path.resolve(modelDir) : `${path.resolve(modelDir)}-${form}`;
}

/** Identity of a source model file. */
export function sourceIdentity(file: string): ModelFormManifest['source'] {
  const s = statSync(file);
  return { path: path.resolve(file), bytes: s.size, mtimeMs: Math.round(s.mtimeMs) };
}

/**
 * The manifest of the form built in `dir` from `sourceFile`, or null when there is none, it is of
 * another form or source, or its files are gone.
 */
export function readModelForm(dir: string, form: ModelForm, sourceFile: string): ModelFormManifest | null {
  const file = `${dir}.json`;
  if (!existsSync(file) || !existsSync(sourceFile)) return null;
  try {
    const m = JSON.parse(readFileSync(file, 'utf8')) as ModelFormManifest;
    const src = sourceIdentity(sourceFile);
    const same = m.form === form && m.source.path === src.path && m.source.bytes === src.bytes && m.source.mtimeMs === src.mtimeMs;
    const complete = existsSync(path.join(dir, 'model', m.modelFile)) && existsSync(path.join(dir, 'model', 'labels.txt'));
    return same && complete ? m : null;
  } catch {
    return null;
  }
}
