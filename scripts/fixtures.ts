/**
 * The repository's committed test data, for the scripts (benchmarks, fuzzer, load test): the
 * photographs and ImageNet's WordNet-generated labels of test/fixtures (sources and licences in
 * test/fixtures/NOTICE.md).
 */
import path from 'node:path';
import { repoRoot } from './script-args.js';

/** Public-domain and CC0 photographs from scikit-image's sample data. */
export function photosDir(root = repoRoot()): string {
  return path.join(root, 'test/fixtures/photos');
}

/** ImageNet's 1000 class labels, generated from WordNet 3.0 (`npm run data:labels`). */
export function imagenetLabels(root = repoRoot()): string {
  return path.join(root, 'test/fixtures/imagenet/labels.txt');
}
