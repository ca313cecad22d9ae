/**
 * `npm run bench:hierarchy`: what aggregated parent scores change. For each image: does the best
 * class pass 50 %, does some parent pass 50 %, and how often a parent passes when the best class
 * does not (the photo of a dog whose probability is spread over several breeds).
 *
 * Two models, because no ImageNet weights can be fetched here:
 * - **untrained**: the offline stand-in ResNet-50 v2 (seeded weights) with ImageNet's 1000 WordNet
 *   labels, on the repository's photos and augmented crops of the source photos;
 * - **fitted**: bench:quantize-agreement's fitted classifier (generated ResNet trunk, softmax
 *   regression on its pooled features, one class per source photo; scripts/fitted-classifier.ts),
 *   on held-out crops. Its classes are placed in the hierarchy in pairs of siblings: photos 2j and
 *   2j+1 become two ImageNet classes under one parent that has two classes right under it (the
 *   parents taken evenly spaced in ImageNet's order), so the fitted model's real confusion between
 *   two photos is what the parent sums.
 *
 * What it shows: the arithmetic of aggregation on a model's real uncertainty, and how class
 * counts alone lift the big parents of an untrained model. What it cannot: how often a parent
 * rescues an answer on real photos with ImageNet weights, where the confusion is between breeds
 * that look alike, not between photos paired at random.
 *
 * Options: --depth 18 (fitted trunk), --train 24 --held 8 crops per photo, --threads 2.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { Classifier } from '../core/classifier.js';
import { ClassTree, imagenetHierarchy } from '../core/hierarchy/hierarchy.js';
import { loadLabels } from '../core/labels.js';
import { ensureDemoModel } from '../core/model-builder/demo-model.js';
import { softmax } from '../core/postprocess.js';
import { cropSets, fitSoftmax, sourcePhotos, trunkFeatures } from './fitted-classifier.js';
import { imagenetLabels, photosDir } from './fixtures.js';
import { arg, repoRoot } from './script-args.js';

const THRESHOLD = 0.5;

/** Counts over a set of images. */
class Tally {
  images = 0;
  leaf = 0;
  parent = 0;
  rescued = 0;
  sumBest = 0;
  sumTopParent = 0;
  readonly topParents = new Map<string, number>();

  /** One image: its best class's probability and all its parents, best first. */
  add(bestClass: number, allParents: ReadonlyArray<{ name: string; score: number }>): void {
    const parents = allParents.filter((p) => p.score >= THRESHOLD);
    this.images++;
    this.sumBest += bestClass;
    this.sumTopParent += allParents[0]?.score ?? 0;
    if (bestClass >= THRESHOLD) this.leaf++;
    if (parents.length > 0) {
      this.parent++;
      // The most specific confident parent (the last: over 50 % they form one line of ancestry).
      const name = parents[parents.length - 1]!.name;
      this.topParents.set(name, (this.topParents.get(name) ?? 0) + 1);
      if (bestClass < THRESHOLD) this.rescued++;
    }
  }

  row(model: string, images: string, note = ''): string {
    const pct = (n: number): string => `${n} (${((100 * n) / Math.max(1, this.images)).toFixed(0)} %)`;
    const common = [...this.topParents].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([n, c]) => `${n} ${c}`).join(', ') || '-';
    const mean = (x: number): string => `${((100 * x) / Math.max(1, this.images)).toFixed(1)} %`;
    return `| ${model} | ${images} | ${this.images} | ${mean(this.sumBest)} | ${mean(this.sumTopParent)} | ${pct(this.leaf)} | ${pct(this.parent)} | ${pct(this.rescued)} | ${common} | ${note || '-'} |`;
  }
}

async function untrained(root: string, crops: string[], threads: number): Promise<string[]> {
  const demo = await ensureDemoModel();
  const classifier = await Classifier.load({ model: demo.modelPath, labels: imagenetLabels(root), modelId: 'resnet50-v2-untrained', threads });
  const rows: string[] = [];
  try {
    const photos = fs.readdirSync(photosDir(root)).filter((f) => /\.(png|jpe?g)$/i.test(f)).map((f) => path.join(photosDir(root), f));
    for (const [what, files] of [['repository photos', photos], ['augmented crops', crops]] as const) {
      const t = new Tally();
      for (const f of files) {
        const r = await classifier.classify(fs.readFileSync(f), { top: 1, labels: { minParentConfidence: 0 } });
        t.add(r.labels[0]!.score, r.parents);
      }
      rows.push(t.row('untrained ResNet-50 v2', what));
    }
  } finally {
    await classifier.dispose();
  }
  return rows;
}

async function fitted(root: string, work: string, photos: string[], opts: { depth: 18 | 50; perTrain: number; perHeld: number; threads: number }): Promise<string[]> {
  const { sets } = await cropSets(photos, work, opts.perTrain, opts.perHeld);
  const k = photos.length;
  const { featuresOf, release } = await trunkFeatures({ depth: opts.depth, version: 1, classes: k }, path.join(work, `resnet${opts.depth}-v1-${k}.onnx`), work, opts.threads);
  const train = await featuresOf(sets.train, 'train');
  const held = await featuresOf(sets.held, 'held');
  await release();
  const fit = fitSoftmax(train.feats, sets.train.map((s) => s.label), k);

  // Place the k photo classes in pairs under parents that each have two ImageNet classes right below them.
  const classes = await loadLabels(imagenetLabels(root));
  const h = imagenetHierarchy();
  const children = new Map<number, number[]>();
  classes.forEach((c) => {
    const node = h.indexOf(c.id);
    for (const p of node === undefined ? [] : h.entries[node]!.parents) children.set(p, [...(children.get(p) ?? []), c.index]);
  });
  const pairs = [...children.values()].filter((v) => v.length >= 2).map((v) => v.slice(0, 2));
  // Pairs spread evenly over ImageNet's order, so they fall under different parents (animals, objects, food…).
  const nPairs = Math.ceil(k / 2);
  const placed = Array.from({ length: k }, (_, c) => pairs[Math.floor((Math.floor(c / 2) * pairs.length) / nPairs)]![c % 2]!);
  const tree = ClassTree.build(classes);

  const t = new Tally();
  let leafRight = 0;
  let parentRight = 0;
  const d = held.feats[0]!.length;
  for (const [i, f] of held.feats.entries()) {
    const logits = new Float32Array(k);
    for (let c = 0; c < k; c++) {
      let acc = fit.b[c]!;
      for (let j = 0; j < d; j++) acc += fit.w[c * d + j]! * f[j]!;
      logits[c] = acc;
    }
    const p = softmax(logits);
    const probs = new Float32Array(classes.length);
    p.forEach((v, c) => (probs[placed[c]!] = v));
    const answer = tree.rank(probs, 1, { minParentConfidence: 0 });
    t.add(answer.labels[0]!.score, answer.parents);
    const truth = classes[placed[sets.held[i]!.label]!]!;
    if (answer.labels[0]!.id === truth.id) leafRight++;
    const confident = answer.parents.filter((q) => q.score >= THRESHOLD);
    const nearest = confident[confident.length - 1];
    if (nearest && h.ancestors(truth.id).some((a) => a.id === nearest.id)) parentRight++;
  }
  const note = `held-out top-1 ${((100 * leafRight) / t.images).toFixed(0)} %; the most specific confident parent is an ancestor of the true class for ${parentRight} images`;
  return [t.row(`fitted ResNet-${opts.depth} v1, ${k} classes`, 'held-out crops', note)];
}

async function main(): Promise<void> {
  const root = repoRoot();
  const work = path.join(root, '.cache/quantize-agreement');
  const threads = Number(arg('threads', '2'));
  const depth = Number(arg('depth', '18')) as 18 | 50;
  const perTrain = Number(arg('train', '24'));
  const perHeld = Number(arg('held', '8'));
  const load0 = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  const photos = await sourcePhotos(root);
  const { sets } = await cropSets(photos, work, perTrain, perHeld);
  const rows = [...(await untrained(root, sets.held.map((s) => s.file), threads)), ...(await fitted(root, work, photos, { depth, perTrain, perHeld, threads }))];
  console.log(`Node ${process.version}, ${os.cpus().length}× ${os.cpus()[0]?.model ?? 'cpu'}, load avg ${load0} at start, ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at end; threshold ${100 * THRESHOLD} %.`);
  console.log('');
  console.log('| model | images | n | mean best class | mean best parent | best class ≥ 50 % | a parent ≥ 50 % | parent ≥ 50 %, best class < 50 % | most specific confident parent (most frequent) | notes |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---|---|');
  for (const r of rows) console.log(r);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
