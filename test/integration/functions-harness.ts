/**
 * Shared set-up of the functions' integration tests: quiet Powertools, a real Classifier over a
 * generated ResNet-18 (random weights, ImageNet labels), and image fixtures including bad ones.
 * Import this module FIRST in a test file so the environment is set before handlers load.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { deflateSync, crc32 } from 'node:zlib';

import sharp from 'sharp';

import { Classifier } from '../../core/classifier.js';
import { readConfig, type FunctionConfig } from '../../functions/common/config.js';
import type { FunctionDeps, HandlerClassifier } from '../../functions/common/deps.js';
import { createObservability } from '../../functions/common/middleware.js';
import { testModelPath } from '../helpers/models.js';
import { PHOTOS_DIR, SYNSET_PATH } from '../helpers/paths.js';

process.env.POWERTOOLS_LOG_LEVEL ??= process.env.DEBUG_LOGS ? 'DEBUG' : 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.POWERTOOLS_TRACE_ENABLED ??= 'false';

/** Model id the tests' classifier writes into results. */
export const TEST_MODEL_ID = 'resnet18-v2-test';

let loading: Promise<Classifier> | undefined;
/** One Classifier per test file (generated ResNet-18 v2, 1000 classes, ImageNet synset labels). */
export function testClassifier(): Promise<Classifier> {
  loading ??= testModelPath({ depth: 18, version: 2, classes: 1000 }).then((model) =>
    Classifier.load({ model, labels: SYNSET_PATH, modelId: TEST_MODEL_ID, threads: 1 }),
  );
  return loading;
}

/** Wraps a classifier and counts `classify` calls (to prove that duplicates do no inference). */
export function counting(inner: HandlerClassifier): HandlerClassifier & { calls: number } {
  const c = {
    calls: 0,
    get modelId() {
      return inner.modelId;
    },
    get numClasses() {
      return inner.numClasses;
    },
    get info() {
      return inner.info;
    },
    classify(bytes: Uint8Array, opts?: Parameters<HandlerClassifier['classify']>[1]) {
      c.calls += 1;
      return inner.classify(bytes, opts);
    },
    rekognitionOptions: inner.rekognitionOptions.bind(inner),
    toRekognition: inner.toRekognition.bind(inner),
  };
  return c as HandlerClassifier & { calls: number };
}

/** Handler deps over a local S3 client and a classifier. */
export function testDeps(s3: FunctionDeps['s3'], classifier: HandlerClassifier, config: Partial<FunctionConfig> = {}, service = 'test'): FunctionDeps {
  return { s3, classifier: async () => classifier, config: { ...readConfig({}), inputBucket: 'input', ...config }, obs: createObservability(service) };
}

/** The shared photograph of a cat (JPEG). */
export function catJpeg(): Promise<Buffer> {
  return readFile(path.join(PHOTOS_DIR, 'chelsea.jpg'));
}

/** A different, generated JPEG (colour gradient), `w`×`h` pixels. */
export async function gradientJpeg(w = 320, h = 240, seed = 0): Promise<Buffer> {
  const data = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      data[i] = (x * 255) / w + seed * 40;
      data[i + 1] = (y * 255) / h;
      data[i + 2] = ((x + y + seed * 17) * 7) & 255;
    }
  }
  return sharp(data, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
}

/** A JPEG cut off after its first 600 bytes (headers intact, scan data missing). */
export async function truncatedJpeg(): Promise<Buffer> {
  return (await gradientJpeg()).subarray(0, 600);
}

/** Plain text, not an image. */
export const TEXT_BYTES = Buffer.from('this is not an image, just some text\n');

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td) >>> 0);
  return Buffer.concat([len, td, crc]);
}

/**
 * A "pixel bomb": a tiny valid PNG file whose header declares `w`×`h` pixels (default 60000² =
 * 3.6 GP); decoding it naively would allocate ~10 GB.
 */
export function pixelBombPng(w = 60_000, h = 60_000): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(Buffer.alloc(1024))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}
