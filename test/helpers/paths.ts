import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The workplace's shared folder beside the checkout (CI has it at the same place). */
export const SHARED_DIR = path.resolve(REPO_ROOT, '../shared');
/** ImageNet labels for tests only; never committed. */
export const SYNSET_PATH = path.join(SHARED_DIR, 'data/synset.txt');
/** Real photographs for tests; never committed. */
export const SHARED_IMAGES = path.join(SHARED_DIR, 'images');
/** Scratch cache for generated test artefacts (git-ignored). */
export const TEST_CACHE = path.join(REPO_ROOT, '.cache/test');
