/**
 * The batch benchmarks' inputs, generated once into `.cache/bench-batch/`: photo-like JPEGs at a
 * given size, and a ResNet-50 v1 with dynamic batch (ImageNet's WordNet-generated labels of test/fixtures).
 */
import { existsSync } from 'node:fs';
import { link, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { imagenetLabels } from './fixtures.js';
import { fileURLToPath } from 'node:url';

import { writeResNet } from '../core/model-builder/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), fileURLToPath(import.meta.url).includes(`${path.sep}dist${path.sep}`) ? '../..' : '..');
/** Where generated inputs and scratch output go. */
export const CACHE = path.join(ROOT, '.cache/bench-batch');

/** A photo-like test image: smooth gradients plus mild noise (pure noise would make huge JPEGs). */
export async function makeJpeg(width: number, height: number, seed: number): Promise<Buffer> {
  const sharp = (await import('sharp')).default;
  const px = Buffer.alloc(width * height * 3);
  let s = seed * 2654435761 >>> 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      s = (s * 1664525 + 1013904223) >>> 0;
      const n = (s >>> 28) - 8;
      const o = (y * width + x) * 3;
      px[o] = Math.max(0, Math.min(255, ((x * 255) / width + seed * 37) % 256 + n));
      px[o + 1] = Math.max(0, Math.min(255, ((y * 255) / height + seed * 91) % 256 + n));
      px[o + 2] = Math.max(0, Math.min(255, (((x + y) * 128) / (width + height) + seed * 13) % 256 + n));
    }
  }
  return sharp(px, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

/**
 * A folder of exactly `n` generated JPEGs (`0000.jpg`…), made on first use. The images live in
 * `name/`, which keeps every image any run has made; when it holds more than `n`, the folder
 * returned is `name-n<n>/`, hard links to the first `n`, so a run reads the count it asked for.
 */
export async function imageSet(name: string, width: number, height: number, n: number): Promise<string> {
  const dir = path.join(CACHE, name);
  await mkdir(dir, { recursive: true });
  const files = await jpegFiles(dir);
  for (let i = files.length; i < n; i++) {
    const file = `${String(i).padStart(4, '0')}.jpg`;
    await writeFile(path.join(dir, file), await makeJpeg(width, height, i + 1));
    files.push(file);
  }
  if (files.length === n) return dir;
  const subset = path.join(CACHE, `${name}-n${n}`);
  await rm(subset, { recursive: true, force: true });
  await mkdir(subset);
  for (const f of files.slice(0, n)) await link(path.join(dir, f), path.join(subset, f));
  return subset;
}

/** The JPEGs of a folder, by name (sorted). */
export async function jpegFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.endsWith('.jpg')).sort();
}

/** The generated ResNet-50 and a labels file. */
export async function modelFiles(): Promise<{ model: string; labels: string }> {
  const model = path.join(CACHE, 'resnet50-v1-dynamic.onnx');
  if (!existsSync(model)) await writeResNet({ depth: 50, version: 1, batch: 'dynamic', classes: 1000 }, model);
  return { model, labels: imagenetLabels(ROOT) };
}

