/**
 * `npm run bench:quantize-agreement`: int8 agreement in a trained-like case. A generated ResNet's
 * random weights give logits with no meaning, so here the convolutional trunk stays generated but
 * the final Gemm is fitted (softmax regression on the pooled features) to tell apart classes of
 * images, each class made of augmented crops of one source photo. The fitted float32 model is then
 * quantized with `quantizeModel` on training images only and compared on held-out crops: accuracy
 * of both against the labels, top-1 agreement, softmax change and logit cosine.
 *
 * What it shows: how far int8 rounding of a deep ResNet trunk moves decisions that a fitted
 * classifier makes on its features. What it cannot: the accuracy of a model trained end to end on
 * ImageNet (its activation statistics differ from a random trunk's), nor class margins as small
 * as 1000 ImageNet classes have.
 *
 * Options: --depth 50, --version 1, --sources dir,dir (default the shared photos and, when
 * installed, scikit-image's data photos), --train 24 and --held 8 images per class,
 * --configs minmax:pc,percentile:pc,entropy:pc,minmax:pt,percentile:pc:fc32 (method:pc per-channel | pt
 * per-tensor[:fc32 the final Gemm left in float32]),
 * --samples 100 calibration images, --threads 2. Writes images and models under .cache/quantize-agreement/.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { encodeModel } from '../core/model-builder/onnx-model.js';
import { toOnnxModel } from '../core/model-builder/onnx-reader.js';
import { compareModels } from '../core/quantize/agreement.js';
import { quantizeModel, type CalibrationMethod } from '../core/quantize/index.js';
import { ModelSession } from '../core/session.js';
import { argmax, cropSets, fitSoftmax, sourcePhotos, trunkFeatures } from './fitted-classifier.js';
import { arg, repoRoot } from './script-args.js';

async function main(): Promise<void> {
  const root = repoRoot();
  const work = path.join(root, '.cache/quantize-agreement');
  const depth = Number(arg('depth', '50')) as 50;
  const version = Number(arg('version', '1')) as 1 | 2;
  const perTrain = Number(arg('train', '24'));
  const perHeld = Number(arg('held', '8'));
  const threads = Number(arg('threads', '2'));
  const samples = Number(arg('samples', '100'));
  const configs = arg('configs', 'minmax:pc,percentile:pc,entropy:pc,minmax:pt,minmax:pc:fc32,percentile:pc:fc32').split(',');
  const load0 = os.loadavg().map((l) => l.toFixed(2)).join(' ');

  const photos = await sourcePhotos(root, arg('sources', '') ? arg('sources', '').split(',') : []);
  if (photos.length < 2) throw new Error('need at least two source photos (--sources)');
  const { sets, labels } = await cropSets(photos, work, perTrain, perHeld);
  fs.writeFileSync(path.join(work, 'labels.txt'), labels.join('\n') + '\n');
  process.stderr.write(`${photos.length} classes, ${sets.train.length} training and ${sets.held.length} held-out images\n`);

  const k = photos.length;
  const base = path.join(work, `resnet${depth}-v${version}-${k}.onnx`);
  const { decoded, gemm, featuresOf, release } = await trunkFeatures({ depth, version, classes: k }, base, work, threads);
  const train = await featuresOf(sets.train, 'train');
  const held = await featuresOf(sets.held, 'held');
  await release();
  process.stderr.write('features done\n');

  const fit = fitSoftmax(train.feats, sets.train.map((s) => s.label), k);
  const fittedModel = toOnnxModel(decoded);
  const fitted = path.join(work, `resnet${depth}-v${version}-fitted.onnx`);
  fs.writeFileSync(fitted, encodeModel({
    ...fittedModel,
    initializers: fittedModel.initializers.map((t) => {
      const values = t.name === gemm.inputs[1] ? fit.w : t.name === gemm.inputs[2] ? fit.b : null;
      return values ? { ...t, data: { length: values.byteLength, fill: (target: Uint8Array) => target.set(new Uint8Array(values.buffer)) } } : t;
    }),
  }).toBytes());
  fs.copyFileSync(path.join(work, 'labels.txt'), path.join(work, 'labels-fitted.txt'));

  const fp32 = await ModelSession.create(fitted, { threads });
  const rows: string[] = [];
  const accuracy = async (s: ModelSession, tensors: Float32Array[], items: ReadonlyArray<{ label: number }>): Promise<number> => {
    let ok = 0;
    for (const [i, t] of tensors.entries()) if (argmax((await s.run([t]))[0]) === items[i].label) ok++;
    return ok / tensors.length;
  };
  const fp32Held = await accuracy(fp32, held.tensors, sets.held);
  const fp32Train = await accuracy(fp32, train.tensors, sets.train);
  for (const config of configs) {
    const [method, mode, head] = config.split(':') as [CalibrationMethod, string, string | undefined];
    const step = train.tensors.length / Math.min(samples, train.tensors.length);
    const calibration = Array.from({ length: Math.min(samples, train.tensors.length) }, (_, i) => train.tensors[Math.floor(i * step)]);
    const t0 = Date.now();
    const q = await quantizeModel(fs.readFileSync(fitted), calibration, { method, perChannel: mode === 'pc', threads, ...(head === 'fc32' ? { exclude: ['classifier'] } : {}) });
    const quantizeS = (Date.now() - t0) / 1000;
    const out = path.join(work, `resnet${depth}-v${version}-fitted-int8-${config.replaceAll(':', '-')}.onnx`);
    fs.writeFileSync(out, q.bytes);
    const int8 = await ModelSession.create(out, { threads });
    const report = await compareModels(fp32, int8, held.tensors);
    const int8Held = await accuracy(int8, held.tensors, sets.held);
    await int8.dispose();
    const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;
    rows.push(`| ${method} | ${mode === 'pc' ? 'per-channel' : 'per-tensor'}${head === 'fc32' ? ', float32 classifier' : ''} | ${calibration.length} | ${pct(fp32Held)} | ${pct(int8Held)} | ${pct(report.top1Agreement)} | ${report.meanSoftmaxDelta.toFixed(4)} | ${report.meanLogitCosine.toFixed(4)} (min ${report.minLogitCosine.toFixed(4)}) | ${(report.candidateMs / report.referenceMs).toFixed(2)} | ${quantizeS.toFixed(0)} s |`);
    process.stderr.write(`${config} done\n`);
  }
  await fp32.dispose();
  console.log(`ResNet-${depth} v${version} (generated trunk, fitted Gemm), ${k} classes from ${photos.length} photos, ${sets.train.length} training / ${sets.held.length} held-out crops; fp32 training accuracy ${(fp32Train * 100).toFixed(1)} %.`);
  console.log(`Node ${process.version}, ${os.cpus().length}× ${os.cpus()[0]?.model ?? 'cpu'}, ${threads} intra-op threads, load avg ${load0} at start, ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at end.`);
  console.log('');
  console.log('| method | weights | calibration images | fp32 held-out accuracy | int8 held-out accuracy | top-1 agreement | mean \\|Δ softmax\\| (TV) | logit cosine | int8/fp32 time | quantize time |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const row of rows) console.log(row);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
