/**
 * The benchmarks' int8 models: a generated float32 model quantized (per-channel weights, minmax
 * ranges) on the shared photos, cached beside it as `<name>-int8.onnx`.
 */
import fs from 'node:fs';
import path from 'node:path';

import { decodeImage } from '../core/decode.js';
import { preprocess } from '../core/preprocess.js';
import { quantizeModel } from '../core/quantize/index.js';
import { IMAGENET_PREPROCESS } from '../core/types.js';

/** Preprocessed tensors of the images in `dir` (and its sub-folders' first level), for calibration. */
export async function calibrationTensors(dir: string): Promise<Float32Array[]> {
  const files = fs.readdirSync(dir).filter((f) => /\.(png|jpe?g)$/i.test(f)).sort();
  const cfg = IMAGENET_PREPROCESS;
  const out: Float32Array[] = [];
  for (const f of files) out.push(preprocess(await decodeImage(fs.readFileSync(path.join(dir, f)), { minShortSide: cfg.resizeShortSide }), cfg));
  return out;
}

/** The int8 model of `fp32Path`, made on first use. */
export async function int8Model(fp32Path: string, calibration: () => Promise<Float32Array[]>): Promise<string> {
  const out = fp32Path.replace(/\.onnx$/, '-int8.onnx');
  if (fs.existsSync(out) && fs.statSync(out).mtimeMs >= fs.statSync(fp32Path).mtimeMs) return out;
  process.stderr.write(`quantizing ${fp32Path}…\n`);
  const q = await quantizeModel(fs.readFileSync(fp32Path), await calibration(), { perChannel: true, method: 'minmax' });
  fs.writeFileSync(out, q.bytes);
  return out;
}
