import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/**
 * ImageNet's 1000 class labels (`n01440764 tench, Tinca tinca`), generated from WordNet 3.0 by
 * `npm run data:labels` (test/fixtures/NOTICE.md).
 */
export const SYNSET_PATH = path.join(REPO_ROOT, 'test/fixtures/imagenet/labels.txt');
/** Public-domain and CC0 photographs from scikit-image's sample data (test/fixtures/NOTICE.md). */
export const PHOTOS_DIR = path.join(REPO_ROOT, 'test/fixtures/photos');
/** Scratch cache for generated test artefacts (git-ignored). */
export const TEST_CACHE = path.join(REPO_ROOT, '.cache/test');
