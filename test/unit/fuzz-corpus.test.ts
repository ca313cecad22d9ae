/**
 * The fuzz harness's short, fixed-seed run (the long run is `npm run fuzz`, see docs/fuzzing.md):
 * mutants of every format through decodeImage end in pixels or a typed error, and every saved
 * reproducer under test/fixtures/fuzz/ (a recipe over the run-time corpus, no image bytes) still
 * does. In-process, without the script's child process: a hang here fails by Jest's timeout.
 */
import { jest } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import type { ImageFormat } from '../../core/types.js';
import { decodeJpeg } from '../../core/jpeg-decoder/index.js';
import { buildCorpus, FUZZ_FORMATS, type CorpusReport } from '../../scripts/fuzz/corpus.js';
import { djpegAvailable, djpegDecode, pixelDiff } from '../../scripts/fuzz/differential.js';
import { planInput, replayInput, type FuzzInput } from '../../scripts/fuzz/input.js';
import { decodeOutcome } from '../../scripts/fuzz/outcome.js';
import { REPO_ROOT } from '../helpers/paths.js';

const SEED = 20261204;
const PER_FORMAT = 120;
const MAX_PIXELS = 16e6;
const FIXTURES = path.join(REPO_ROOT, 'test/fixtures/fuzz');

let corpus: CorpusReport;
beforeAll(async () => {
  // jimp's GIF and TIFF decoders print a warning per damaged file.
  jest.spyOn(console, 'log').mockImplementation(() => undefined);
  jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  corpus = await buildCorpus({ fullSize: false });
}, 60_000);
afterAll(() => jest.restoreAllMocks());

describe.each(FUZZ_FORMATS.map((f) => [f]))('%s mutants, fixed seed', (format: ImageFormat) => {
  test(`${PER_FORMAT} inputs: pixels or a typed error, never an untyped one`, async () => {
    const seeds = corpus.seeds[format];
    expect(seeds.length).toBeGreaterThan(3);
    const counts: Record<string, number> = {};
    const failures: string[] = [];
    for (let i = 0; i < PER_FORMAT; i++) {
      const input = planInput(seeds, format, SEED, i);
      const r = await decodeOutcome(input.bytes, MAX_PIXELS, input.minShortSide);
      counts[r.outcome] = (counts[r.outcome] ?? 0) + 1;
      if (r.failure) failures.push(`#${i} ${input.seedName} ${input.ops.join('+')}: ${r.outcome} ${r.detail ?? ''}`);
    }
    expect(failures).toEqual([]);
    // The mutants reach both sides: some still decode, some are rejected as corrupt.
    expect(counts.ok ?? 0).toBeGreaterThan(PER_FORMAT / 20);
    expect(counts.CORRUPT_IMAGE ?? 0).toBeGreaterThan(PER_FORMAT / 20);
  });
});

describe('saved reproducers (test/fixtures/fuzz)', () => {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).sort();

  test('there are some, each naming a format and seeds of the corpus', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  test.each(files.map((f) => [f]))('%s now ends in pixels or a typed error', async (file) => {
    const recipe = JSON.parse(readFileSync(path.join(FIXTURES, file), 'utf8')) as Omit<FuzzInput, 'bytes'> & { size: number; outcome: string };
    const seeds = corpus.seeds[recipe.format];
    if (!seeds.some((s) => s.name === recipe.seedName) || !seeds.some((s) => s.name === recipe.otherName)) {
      console.warn(`${file}: seed ${recipe.seedName} or ${recipe.otherName} cannot be built here (a tool or the photos of test/fixtures/photos are missing); skipped`);
      return;
    }
    const input = replayInput(seeds, recipe);
    // Same bytes as when it was found (the corpus is rebuilt from pinned tools and the shared photos).
    expect(input.bytes.length).toBe(recipe.size);
    const r = await decodeOutcome(input.bytes, MAX_PIXELS, input.minShortSide);
    expect([r.outcome, r.failure]).toEqual([expect.any(String), false]);
    if (recipe.outcome !== 'DIFFERS_FROM_LIBJPEG') return;
    if (!djpegAvailable()) {
      console.warn(`${file}: pixel comparison skipped (djpeg not found; apt-get install libjpeg-turbo-progs)`);
      return;
    }
    const ours = decodeJpeg(input.bytes, input.scale);
    const ref = djpegDecode(input.bytes, input.scale);
    if (!ours || !ref.pixels) throw new Error('both decoders took this file when it was found');
    const d = pixelDiff(ours, ref.pixels);
    expect([d.sizeMismatch, d.max <= 4]).toEqual([false, true]);
  });
});
