import { open } from 'node:fs/promises';
import path from 'node:path';

import { BUILDER_REVISION, type ResNetBuildOptions, writeResNet } from '../../core/model-builder/index.js';
import { TEST_CACHE } from './paths.js';

const building = new Map<string, Promise<string>>();

/** True when `file` exists and was written by the current builder revision (stamped in the file's first bytes). */
async function isCurrent(file: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch {
    return false;
  }
  try {
    const head = Buffer.alloc(256);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return head.subarray(0, bytesRead).includes(BUILDER_REVISION);
  } finally {
    await handle.close();
  }
}

/**
 * Path of a generated ResNet in `.cache/test/models/`, built on first use and reused afterwards, also
 * across processes: a file from an older builder revision is rebuilt, and writes are atomic (temp file
 * + rename), so parallel jest workers may race harmlessly to identical bytes.
 */
export function testModelPath(opts: ResNetBuildOptions): Promise<string> {
  const { depth, version, seed = 0, batch = 'dynamic', classes = 1000 } = opts;
  const file = path.join(TEST_CACHE, 'models', `resnet${depth}-v${version}-b${batch}-c${classes}-s${seed}.onnx`);
  let pending = building.get(file);
  if (pending === undefined) {
    pending = (async () => {
      if (!(await isCurrent(file))) await writeResNet({ depth, version, seed, batch, classes }, file);
      return file;
    })();
    // A failed build is not cached, so the next caller retries.
    pending.catch(() => building.delete(file));
    building.set(file, pending);
  }
  return pending;
}
