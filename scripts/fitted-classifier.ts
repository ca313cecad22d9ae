/**
 * A fitted classifier on a generated ResNet trunk, for measurements that need a model whose
 * decisions mean something without ImageNet weights: augmented crops of a few source photos, one
 * class per photo, and a softmax regression fitted on the trunk's pooled features. Used by
 * `bench:quantize-agreement` and `bench:hierarchy`.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';

import { decodeImage } from '../core/decode.js';
import { writeResNet, type ResNetBuildOptions } from '../core/model-builder/index.js';
import { encodeModel } from '../core/model-builder/onnx-model.js';
import { decodeModel, toOnnxModel } from '../core/model-builder/onnx-reader.js';
import { preprocess } from '../core/preprocess.js';
import { IMAGENET_PREPROCESS } from '../core/types.js';
import { photosDir } from './fixtures.js';

/** mulberry32: a small seeded generator, so the images are the same on every run. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Where Debian's python3-skimage keeps its sample photos. */
export const SKIMAGE_DATA = ['/usr/lib/python3/dist-packages/skimage/data', '/usr/local/lib/python3/dist-packages/skimage/data'];

/**
 * The source photos, one class each: the repository's photos and, when installed, scikit-image's.
 * @param sources folders to read instead (comma-separated on the command line as --sources)
 */
export async function sourcePhotos(root: string, sources: readonly string[] = []): Promise<string[]> {
  const dirs = sources.length > 0 ? sources : [photosDir(root), ...SKIMAGE_DATA];
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
export async function augment(src: string, out: string, r: () => number): Promise<void> {
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

/** The preprocessed tensor of an image file (ImageNet recipe). */
export async function tensorOf(file: string): Promise<Float32Array> {
  const cfg = IMAGENET_PREPROCESS;
  return preprocess(await decodeImage(fs.readFileSync(file), { minShortSide: cfg.resizeShortSide }), cfg);
}

/**
 * Softmax regression (full batch, Adam, small L2) on centred features divided by one common scale
 * (their RMS), and W [K,D], b [K] returned for the raw features. One common scale, not one per
 * feature: dividing each by its own spread would give near-constant features huge weights, a
 * logit made of large cancelling terms that no trained classifier has and 8-bit inputs cannot carry.
 */
export function fitSoftmax(x: Float32Array[], y: number[], k: number, steps = 150): { w: Float32Array; b: Float32Array } {
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

/** Index of the largest value. */
export function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

/** One augmented crop and the class (source photo index) it belongs to. */
export interface Crop {
  file: string;
  label: number;
}

/**
 * Training and held-out crops of each source photo under `work/{train,held}/c000/…`, made once and
 * reused (the same seed stream whether or not a file exists, so a rerun writes the same images).
 * @returns the crops and a labels file's lines (`c000 <photo name>`)
 */
export async function cropSets(photos: readonly string[], work: string, perTrain: number, perHeld: number): Promise<{ sets: { train: Crop[]; held: Crop[] }; labels: string[] }> {
  const sets = { train: [] as Crop[], held: [] as Crop[] };
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
        const rr = rng(Math.floor(r() * 2 ** 32));
        if (!fs.existsSync(file)) await augment(src, file, rr);
        sets[set].push({ file, label: c });
      }
    }
  }
  return { sets, labels };
}

/**
 * A generated ResNet (written to `base` once) cut before its final Gemm: `featuresOf` gives each
 * image's tensor and pooled features, cached per model and image set under `work` (extracting
 * them is most of a run).
 */
export async function trunkFeatures(spec: Pick<ResNetBuildOptions, 'depth' | 'version' | 'classes'>, base: string, work: string, threads: number) {
  if (!fs.existsSync(base)) await writeResNet({ ...spec, batch: 'dynamic' }, base);
  const decoded = decodeModel(fs.readFileSync(base));
  const gemm = decoded.nodes.find((n) => n.opType === 'Gemm');
  if (!gemm) throw new Error('no Gemm in the model');
  const featureModel = toOnnxModel(decoded);
  const features = await ort.InferenceSession.create(encodeModel({ ...featureModel, outputs: [{ name: gemm.inputs[0], dims: null }] }).toBytes(), { intraOpNumThreads: threads });
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
  return { decoded, gemm, featuresOf, release: () => features.release() };
}
