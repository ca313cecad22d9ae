/**
 * `resnet quantize`: int8 QDQ model from a float32 one and a folder of calibration images, then
 * the agreement of the two on images held out of calibration.
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';

import { Command, InvalidArgumentError as CommanderArgError, Option } from 'commander';

import { decodeImage } from '../core/decode.js';
import { InvalidArgumentError, ResnetError } from '../core/errors.js';
import { cachedModelPaths, defaultCacheDir, fetchModel } from '../core/fetch/index.js';
import { decodeModel } from '../core/model-builder/onnx-reader.js';
import { isUntrainedHeader, readOnnxHeader } from '../core/model-info.js';
import { preprocess } from '../core/preprocess.js';
import { compareModels, type AgreementReport } from '../core/quantize/agreement.js';
import { quantizeModel, type CalibrationMethod, type QuantizedModel } from '../core/quantize/index.js';
import { getZooModel } from '../core/registry.js';
import { ModelSession } from '../core/session.js';
import { IMAGENET_PREPROCESS, type PreprocessConfig } from '../core/types.js';
import { table } from './format.js';
import { expandInputs } from './inputs.js';
import { demoModelFlags, warnIfUntrained } from './offline.js';
import { createProgress } from './progress.js';

interface QuantizeFlags {
  model: string;
  calibrate: string;
  out: string;
  perChannel: boolean;
  exclude?: string[];
  method: CalibrationMethod;
  percentile: number;
  samples: number;
  holdout: number;
  threads?: number;
  download?: boolean;
  demo?: boolean;
  json?: boolean;
}

/** `--exclude` values: node names, `classifier` for the final Gemm, or `none`. */
function excludeList(v: string): string[] {
  const names = v.split(',').map((n) => n.trim()).filter(Boolean);
  return names.length === 1 && names[0] === 'none' ? [] : names;
}

function count(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new CommanderArgError('must be a whole number >= 0');
  return n;
}

/** The model file and its preprocessing: a path as given, or a zoo id from the cache (downloaded unless told not to). */
async function resolveModelFile(model: string, download: boolean, demo: boolean): Promise<{ file: string; preprocess: PreprocessConfig | null }> {
  if (demo) return { file: (await demoModelFlags()).model, preprocess: null };
  if (model.endsWith('.onnx') || model.includes('/') || model.includes(path.sep)) return { file: path.resolve(model), preprocess: null };
  const spec = getZooModel(model);
  const cached = cachedModelPaths(spec.id, defaultCacheDir());
  if (cached) return { file: cached.modelPath, preprocess: spec.preprocess };
  if (!download) throw new ResnetError('MODEL_NOT_CACHED', `${spec.id} is not cached; run \`resnet fetch ${spec.id}\` or pass --model <path.onnx>.`);
  const progress = createProgress(`fetch ${spec.id}`, 'bytes');
  try {
    return { file: (await fetchModel(spec.id, { onProgress: (d, t) => progress.update(d, t) })).modelPath, preprocess: spec.preprocess };
  } finally {
    progress.stop();
  }
}

/**
 * Splits the image list: `holdout` images evenly spaced over it (so every sub-folder contributes)
 * are kept out of calibration; calibration takes up to `samples` of the rest, also evenly spaced.
 */
export function splitImages<T>(files: readonly T[], samples: number, holdout: number): { calibration: T[]; heldOut: T[] } {
  const h = Math.min(holdout, Math.floor(files.length / 2));
  const held = new Set<number>();
  for (let j = 0; j < h; j++) held.add(Math.floor(((j + 0.5) * files.length) / h));
  const rest = files.filter((_, i) => !held.has(i));
  const n = Math.min(samples, rest.length);
  const calibration = Array.from({ length: n }, (_, j) => rest[Math.floor((j * rest.length) / n)]);
  return { calibration, heldOut: files.filter((_, i) => held.has(i)) };
}

/** Decodes and preprocesses images; unreadable ones are skipped with a warning. */
async function tensorsOf(files: readonly string[], cfg: PreprocessConfig, label: string): Promise<Float32Array[]> {
  const progress = createProgress(label, 'items');
  const out: Float32Array[] = [];
  try {
    for (const [i, f] of files.entries()) {
      try {
        out.push(preprocess(await decodeImage(await readFile(f), { minShortSide: cfg.resizeShortSide }), cfg));
      } catch (err) {
        if (!(err instanceof ResnetError)) throw err;
        console.error(`skipped ${f}: ${err.code}: ${err.message}`);
      }
      progress.update(i + 1, files.length);
    }
  } finally {
    progress.stop();
  }
  return out;
}

function printReport(r: AgreementReport, method: string): void {
  const pct = (x: number): string => `${(x * 100).toFixed(2)} %`;
  console.log(table([
    ['held-out images', 'top-1 agreement', 'fp32 top-1 in int8 top-5', 'mean |Δ softmax| (TV)', 'mean max |Δp|', 'logit cosine (mean / min)', 'fp32 ms', 'int8 ms', 'int8/fp32'],
    [
      String(r.images), pct(r.top1Agreement), pct(r.top1InTop5), r.meanSoftmaxDelta.toFixed(4), r.meanMaxSoftmaxDelta.toFixed(4),
      `${r.meanLogitCosine.toFixed(4)} / ${r.minLogitCosine.toFixed(4)}`, r.referenceMs.toFixed(1), r.candidateMs.toFixed(1), (r.candidateMs / r.referenceMs).toFixed(2),
    ],
  ]));
  console.log(`calibration method: ${method}; times are medians of one-image runs, the two models alternating.`);
}

/** Adds `resnet quantize` to the program. */
export function registerQuantizeCommand(program: Command): void {
  program
    .command('quantize')
    .description('write an int8 (QDQ) model calibrated on your images, and report its agreement with float32 on held-out images')
    .option('-m, --model <id|path>', 'zoo model id (see `resnet models`) or path to a float32 .onnx file', process.env.MODEL_ID ?? 'resnet50-v2')
    .requiredOption('--calibrate <folder|glob>', 'calibration images: a folder (recursive) or a quoted glob')
    .requiredOption('--out <file>', 'output .onnx path')
    // The defaults are the settings docs/quantization.md measured as the most accurate.
    .option('--per-channel', 'one int8 scale per output channel of each weight', true)
    .option('--no-per-channel', 'one int8 scale per weight tensor (less accurate)')
    .addOption(new Option('--method <m>', 'how activation ranges are chosen').choices(['minmax', 'percentile', 'entropy']).default('percentile'))
    .option('--percentile <p>', 'for --method percentile: percentile of |x| kept', Number, 99.999)
    .option('--exclude <names>', 'comma-separated node names to keep in float32, "classifier" for the final Gemm (default, when the model has one), or "none"', excludeList)
    .option('--samples <n>', 'calibration images (taken evenly over the list)', count, 100)
    .option('--holdout <n>', 'images kept out of calibration for the agreement report (at most half the list)', count, 50)
    .option('--threads <n>', 'onnxruntime intra-op threads', count)
    .option('--no-download', 'never download a zoo model that is not cached')
    .option('--demo', 'quantize the untrained ResNet-50 v2 that `npm start` serves offline (its labels are meaningless)')
    .option('--json', 'print the summary as one JSON object')
    .action(async (flags: QuantizeFlags) => {
      if (flags.samples < 1) throw new InvalidArgumentError('--samples must be at least 1.');
      const files = await expandInputs([flags.calibrate]);
      if (files.length === 0) throw new ResnetError('FILE_NOT_FOUND', `No images matched ${flags.calibrate}.`);
      const { file, preprocess: zooCfg } = await resolveModelFile(flags.model, flags.download !== false, flags.demo === true);
      const untrained = warnIfUntrained({ id: flags.demo ? 'resnet50-v2-untrained' : path.basename(file, '.onnx'), untrained: isUntrainedHeader(await readOnnxHeader(file).catch(() => ({ producerName: '', producerVersion: '', docString: '' }))) });
      const bytes = await readFile(file).catch((cause: unknown) => {
        throw new ResnetError('FILE_NOT_FOUND', `Cannot read ${file} (${String(cause)}).`);
      });
      const side = decodeModel(bytes).inputs.find((i) => i.dims?.length === 4)?.dims?.[2];
      const cfg = zooCfg ?? (typeof side === 'number' && side > 0 && side !== IMAGENET_PREPROCESS.cropSize
        ? { ...IMAGENET_PREPROCESS, cropSize: side, resizeShortSide: Math.round((side * 256) / 224) }
        : IMAGENET_PREPROCESS);

      const split = splitImages(files, flags.samples, flags.holdout);
      const calibration = await tensorsOf(split.calibration, cfg, 'preprocess');
      const progress = createProgress(`calibrate (${flags.method})`, 'items');
      let q: QuantizedModel;
      const run = (exclude: string[]): Promise<QuantizedModel> =>
        quantizeModel(bytes, calibration, {
          perChannel: flags.perChannel,
          method: flags.method,
          percentile: flags.percentile,
          exclude,
          ...(flags.threads ? { threads: flags.threads } : {}),
          onProgress: (d, t) => progress.update(d, t),
        });
      let exclude = flags.exclude ?? ['classifier'];
      try {
        q = await run(exclude).catch((err: unknown) => {
          // The default keeps the classifier in float32 only where there is one; the check runs
          // before calibration, so trying again without it costs nothing.
          if (flags.exclude !== undefined || !(err instanceof InvalidArgumentError) || !err.message.startsWith('--exclude classifier')) throw err;
          exclude = [];
          return run(exclude);
        });
      } finally {
        progress.stop();
      }
      await mkdir(path.dirname(path.resolve(flags.out)), { recursive: true });
      await writeFile(flags.out, q.bytes);
      const summary = {
        model: file, ...(untrained ? { untrained: true } : {}), out: path.resolve(flags.out), bytes: q.bytes.length, method: flags.method, perChannel: flags.perChannel, exclude,
        calibrationImages: q.samples, calibratedTensors: q.calibratedTensors, quantizedWeights: q.quantizedWeights,
      };
      if (!flags.json) console.log(`${summary.out}: ${(q.bytes.length / 1e6).toFixed(1)} MB, ${q.quantizedWeights} int8 weight tensors (${summary.perChannel ? 'per-channel' : 'per-tensor'}), ${q.calibratedTensors} activation ranges from ${q.samples} images`);

      const heldOut = await tensorsOf(split.heldOut, cfg, 'held-out');
      if (heldOut.length === 0) {
        if (flags.json) console.log(JSON.stringify(summary));
        else console.log('no held-out images (pass more images or --holdout > 0) for the agreement report');
        return;
      }
      const sessionOpts = flags.threads ? { threads: flags.threads } : {};
      const fp32 = await ModelSession.create(file, sessionOpts);
      const int8 = await ModelSession.create(path.resolve(flags.out), sessionOpts);
      try {
        const bar = createProgress('agreement', 'items');
        const report = await compareModels(fp32, int8, heldOut, (d, t) => bar.update(d, t)).finally(() => bar.stop());
        if (flags.json) console.log(JSON.stringify({ ...summary, agreement: report }));
        else printReport(report, `${flags.method}, ${flags.perChannel ? 'per-channel' : 'per-tensor'} weights, ${exclude.length ? `${exclude.join(',')} kept in float32` : 'nothing kept in float32'}`);
      } finally {
        await fp32.dispose();
        await int8.dispose();
      }
    });
}
