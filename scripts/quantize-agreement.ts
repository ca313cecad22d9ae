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
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';

import { decodeImage } from '../core/decode.js';
import { writeResNet } from '../core/model-builder/index.js';
import { encodeModel } from '../core/model-builder/onnx-model.js';
import { decodeModel, toOnnxModel } from '../core/model-builder/onnx-reader.js';
import { preprocess } from '../core/preprocess.js';
import { compareModels } from '../core/quantize/agreement.js';
import { quantizeModel, type CalibrationMethod } from '../core/quantize/index.js';
import { ModelSession } from '../core/session.js';
import { IMAGENET_PREPROCESS } from '../core/types.js';
import { photosDir } from './fixtures.js';
import { arg, repoRoot } from './script-args.js';



/** mulberry32: a small seeded generator, so the images are the same on every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SKIMAGE_DATA = ['/usr/lib/python3/dist-packages/skimage/data', '/usr/local/lib/python3/dist-packages/skimage/data'];

async function sourcePhotos(root: string): Promise<string[]> {
  const dirs = arg('sources', '') ? arg('sources', '').split(',') : [photosDir(root), ...SKIMAGE_DATA];
  const byName = new Map<string, string>();
  for (const dir of dirs.filter((d) => fs.existsSync(d))) {
    for (const f of fs.readdirSync(dir).sort()) {
      if (!/\.(png|jpe?g)$/i.test(f) || byName.has(path.parse(f).name)) continue;
      const meta = await sharp(path.join(dir, f)).metadata().catch(() => null);
      // Photos only: big enough to crop, not palette test patterns.
      if (!meta?.width || !meta.height || Math.min(meta.width, meta.height) < 200) continue;
      byName.set(path.parse(f).name, path.join(dir, f));
    }
  }
  return [...byName.values()];
}

/** A random crop (35-100 % of the area, aspect 3:4-4:3), mirrored half the time, brightness ±20 %. */
async function augment(src: string, out: string, r: () => number): Promise<void> {
  const meta = await sharp(src).metadata();
  const w = meta.width ?? 0;
  const h = meta.height ?? 0;
  const area = w * h * (0.35 + 0.65 * r());
  const aspect = Math.exp(Math.log(3 / 4) + r() * Math.log(16 / 9));
  const cw = Math.max(32, Math.min(w, Math.round(Math.sqrt(area * aspect))));
  const ch = Math.max(32, Math.min(h, Math.round(Math.sqrt(area / aspect))));
  let img = sharp(src).extract({ left: Math.floor(r() * (w - cw + 1)), top: Math.floor(r() * (h - ch + 1)), width: cw, height: ch });
  if (r() < 0.5) img = img.flop();
  await img.toColourspace('srgb').modulate({ brightness: 0.8 + 0.4 * r() }).resize({ width: 320, height: 320, fit: 'outside' }).jpeg({ quality: 85 }).toFile(out);
}

async function tensorOf(file: string): Promise<Float32Array> {
  const cfg = IMAGENET_PREPROCESS;
  return preprocess(await decodeImage(fs.readFileSync(file), { minShortSide: cfg.resizeShortSide }), cfg);
}

/**
 * Softmax regression (full batch, Adam, small L2) on centred features divided by one common scale
 * (their RMS), and W [K,D], b [K] returned for the raw features. One common scale, not one per
 * feature: dividing each by its own spread would give near-constant features huge weights, a
 * logit made of large cancelling terms that no trained classifier has and 8-bit inputs cannot carry.
 */
function fitSoftmax(x: Float32Array[], y: number[], k: number, steps = 150): { w: Float32Array; b: Float32Array } {
  const n = x.length;
  const d = x[0].length;
  const mean = new Float64Array(d);
  const std = new Float64Array(d);
  for (const v of x) for (let j = 0; j < d; j++) mean[j] += v[j] / n;
  let ms = 0;
  for (const v of x) for (let j = 0; j < d; j++) ms += (v[j] - mean[j]) ** 2 / (n * d);
  std.fill(Math.sqrt(ms) + 1e-12);
  const z = x.map((v) => Float64Array.from(v, (e, j) => (e - mean[j]) / std[j]));
  const w = new Float64Array(k * d);
  const b = new Float64Array(k);
  const m = new Float64Array(k * d + k);
  const s = new Float64Array(k * d + k);
  const lr = 0.01;
  const l2 = 1e-3;
  for (let t = 1; t <= steps; t++) {
    const g = new Float64Array(k * d + k);
    for (let i = 0; i < n; i++) {
      const logits = new Float64Array(k);
      for (let c = 0; c < k; c++) {
        let acc = b[c];
        for (let j = 0, o = c * d; j < d; j++) acc += w[o + j] * z[i][j];
        logits[c] = acc;
      }
      const top = Math.max(...logits);
      let sum = 0;
      for (let c = 0; c < k; c++) sum += (logits[c] = Math.exp(logits[c] - top));
      for (let c = 0; c < k; c++) {
        const err = logits[c] / sum - (c === y[i] ? 1 : 0);
        for (let j = 0, o = c * d; j < d; j++) g[o + j] += (err * z[i][j]) / n;
        g[k * d + c] += err / n;
      }
    }
    for (let p = 0; p < k * d + k; p++) {
      const grad = g[p] + (p < k * d ? l2 * w[p] : 0);
      m[p] = 0.9 * m[p] + 0.1 * grad;
      s[p] = 0.999 * s[p] + 0.001 * grad * grad;
      const step = (lr * (m[p] / (1 - 0.9 ** t))) / (Math.sqrt(s[p] / (1 - 0.999 ** t)) + 1e-8);
      if (p < k * d) w[p] -= step;
      else b[p - k * d] -= step;
    }
  }
  // Fold the standardisation into the raw-feature classifier: w·(x−μ)/σ + b.
  const wRaw = new Float32Array(k * d);
  const bRaw = new Float32Array(k);
  for (let c = 0; c < k; c++) {
    let shift = b[c];
    for (let j = 0; j < d; j++) {
      wRaw[c * d + j] = w[c * d + j] / std[j];
      shift -= (w[c * d + j] * mean[j]) / std[j];
    }
    bRaw[c] = shift;
  }
  return { w: wRaw, b: bRaw };
}

function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

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

  const photos = await sourcePhotos(root);
  if (photos.length < 2) throw new Error('need at least two source photos (--sources)');
  const sets = { train: [] as Array<{ file: string; label: number }>, held: [] as Array<{ file: string; label: number }> };
  const r = rng(15);
  const labels: string[] = [];
  for (const [c, src] of photos.entries()) {
    const id = `c${String(c).padStart(3, '0')}`;
    labels.push(`${id} ${path.parse(src).name}`);
    for (const [set, count] of [['train', perTrain], ['held', perHeld]] as const) {
      const dir = path.join(work, set, id);
      fs.mkdirSync(dir, { recursive: true });
      for (let i = 0; i < count; i++) {
        const file = path.join(dir, `${i}.jpg`);
        // Same seed stream whether or not the file exists, so a rerun writes the same images.
        const rr = rng(Math.floor(r() * 2 ** 32));
        if (!fs.existsSync(file)) await augment(src, file, rr);
        sets[set].push({ file, label: c });
      }
    }
  }
  fs.writeFileSync(path.join(work, 'labels.txt'), labels.join('\n') + '\n');
  process.stderr.write(`${photos.length} classes, ${sets.train.length} training and ${sets.held.length} held-out images\n`);

  const k = photos.length;
  const base = path.join(work, `resnet${depth}-v${version}-${k}.onnx`);
  if (!fs.existsSync(base)) await writeResNet({ depth, version, classes: k, batch: 'dynamic' }, base);
  const decoded = decodeModel(fs.readFileSync(base));
  const gemm = decoded.nodes.find((n) => n.opType === 'Gemm');
  if (!gemm) throw new Error('no Gemm in the model');
  const featureModel = toOnnxModel(decoded);
  const features = await ort.InferenceSession.create(encodeModel({ ...featureModel, outputs: [{ name: gemm.inputs[0], dims: null }] }).toBytes(), { intraOpNumThreads: threads });
  // Pooled features are cached per model and image set: extracting them is most of a run.
  const featuresOf = async (items: ReadonlyArray<{ file: string }>, set: string): Promise<{ tensors: Float32Array[]; feats: Float32Array[] }> => {
    const cache = path.join(work, `features-${path.basename(base, '.onnx')}-${set}-${items.length}.bin`);
    const cached = fs.existsSync(cache) ? new Float32Array(fs.readFileSync(cache).buffer.slice(0)) : null;
    const tensors: Float32Array[] = [];
    const feats: Float32Array[] = [];
    for (const [i, it] of items.entries()) {
      const t = await tensorOf(it.file);
      tensors.push(t);
      if (cached) {
        const d = cached.length / items.length;
        feats.push(cached.slice(i * d, (i + 1) * d));
        continue;
      }
      const out = await features.run({ data: new ort.Tensor('float32', t, [1, 3, 224, 224]) });
      feats.push((out[gemm.inputs[0]].data as Float32Array).slice());
    }
    if (!cached) fs.writeFileSync(cache, Buffer.concat(feats.map((f) => Buffer.from(f.buffer, f.byteOffset, f.byteLength))));
    return { tensors, feats };
  };
  const train = await featuresOf(sets.train, 'train');
  const held = await featuresOf(sets.held, 'held');
  await features.release();
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
