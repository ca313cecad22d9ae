import { readdir } from 'node:fs/promises';
import path from 'node:path';

import type { Classifier } from '../core/classifier.js';
import { InvalidArgumentError, ResnetError } from '../core/errors.js';
import { IMAGE_EXTENSIONS, readImages } from './inputs.js';
import type { Progress } from './progress.js';

/** Accuracy over a labelled folder. */
export interface ValidationReport {
  images: number;
  top1: number;
  top5: number;
  /** Images that could not be classified, by error code. */
  failures: Record<string, number>;
  /** Sub-folders whose name is not a class id of the model's labels (skipped). */
  unknownClasses: string[];
  seconds: number;
}

/**
 * Lists `(path, classIndex)` pairs of an ImageNet-style validation folder: one sub-folder per
 * class id (WordNet id for ImageNet), images inside.
 */
export async function listLabelledImages(
  dir: string,
  classIndexById: ReadonlyMap<string, number>,
): Promise<{ items: Array<{ file: string; index: number }>; unknownClasses: string[] }> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((cause: unknown) => {
    throw new InvalidArgumentError(`Cannot read the validation folder ${dir} (${String(cause)}); pass a folder with one sub-folder per class id.`);
  });
  const items: Array<{ file: string; index: number }> = [];
  const unknownClasses: string[] = [];
  for (const e of entries.filter((x) => x.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) {
    const index = classIndexById.get(e.name);
    if (index === undefined) {
      unknownClasses.push(e.name);
      continue;
    }
    const files = (await readdir(path.join(dir, e.name))).filter((f) => IMAGE_EXTENSIONS.has(path.extname(f).toLowerCase())).sort();
    for (const f of files) items.push({ file: path.join(dir, e.name, f), index });
  }
  if (items.length === 0) {
    throw new InvalidArgumentError(`No labelled images under ${dir}: expected sub-folders named by class id (e.g. n01440764/) holding images.`);
  }
  return { items, unknownClasses };
}

/**
 * Top-1/top-5 accuracy of a classifier over a labelled folder, in batches.
 * @param batchSize images per inference call.
 */
export async function validateFolder(
  classifier: Classifier,
  dir: string,
  opts: { tenCrop?: boolean; batchSize?: number; limit?: number; progress?: Progress } = {},
): Promise<ValidationReport> {
  const started = Date.now();
  const byId = new Map(classifier.labels.map((l) => [l.id, l.index]));
  const listed = await listLabelledImages(dir, byId);
  const items = opts.limit ? listed.items.slice(0, opts.limit) : listed.items;
  const batchSize = opts.batchSize ?? 8;
  let top1 = 0;
  let top5 = 0;
  let done = 0;
  const failures: Record<string, number> = {};
  for (let i = 0; i < items.length; i += batchSize) {
    const chunk = items.slice(i, i + batchSize);
    const read = await readImages(chunk.map((c) => c.file));
    const readable = read.filter((r): r is Uint8Array => r instanceof Uint8Array);
    const classified = await classifier.classifyMany(readable, { top: 5, ...(opts.tenCrop ? { tenCrop: true } : {}) });
    let k = 0;
    const results = read.map((r) => (r instanceof Uint8Array ? classified[k++]! : r));
    results.forEach((r, j) => {
      if (r instanceof ResnetError) {
        failures[r.code] = (failures[r.code] ?? 0) + 1;
        return;
      }
      const want = chunk[j]!.index;
      if (r.labels[0]?.index === want) top1++;
      if (r.labels.some((l) => l.index === want)) top5++;
    });
    done += chunk.length;
    opts.progress?.update(done, items.length);
  }
  opts.progress?.stop();
  return {
    images: items.length,
    top1: top1 / items.length,
    top5: top5 / items.length,
    failures,
    unknownClasses: listed.unknownClasses,
    seconds: (Date.now() - started) / 1000,
  };
}
