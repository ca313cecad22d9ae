/**
 * The WordNet 3.0 reader and the ImageNet labels file generated with it
 * (scripts/wordnet/, test/fixtures/imagenet/labels.txt).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parseLabels } from '../../core/labels.js';
import { DEBIAN_DATA_NOUN, parseNounLine, readDataNoun, readableLemma, WordNetFormatError } from '../../scripts/wordnet/data-noun.js';
import { SYNSET_PATH } from '../helpers/paths.js';

const TABBY = '02123045 05 n 02 tabby 1 tabby_cat 0 001 @ 02121808 n 0000 | a cat with a grey or tawny coat mottled with black  ';
const TENCH = '01440764 05 n 02 tench 0 Tinca_tinca 0 002 @ 01439121 n 0000 #m 01440655 n 0000 | freshwater dace-like game fish';

describe('data.noun lines (wndb(5WN))', () => {
  it('reads lemmas, lexicographer file, hypernyms and gloss', () => {
    expect(parseNounLine(TABBY)).toEqual({
      wnid: 'n02123045', lexFile: 5, lemmas: ['tabby', 'tabby cat'], hypernyms: ['n02121808'], gloss: 'a cat with a grey or tawny coat mottled with black',
    });
  });

  it('keeps only hypernym pointers (not member holonyms)', () => {
    expect(parseNounLine(TENCH).hypernyms).toEqual(['n01439121']);
  });

  it('reads an instance hypernym (@i) and a hexadecimal word count', () => {
    const line = '09999999 15 n 0b a 0 b 0 c 0 d 0 e 0 f 0 g 0 h 0 i 0 j 0 k 0 002 @i 01234567 n 0000 @ 07654321 n 0000 | eleven words';
    const s = parseNounLine(line);
    expect(s.lemmas).toHaveLength(11);
    expect(s.hypernyms).toEqual(['n01234567', 'n07654321']);
  });

  it.each([
    ['a header line', '  1 This software and database is being provided'],
    ['too few pointers', '02123045 05 n 02 tabby 1 tabby_cat 0 002 @ 02121808 n 0000 | x'],
    ['a verb line', '00001740 29 v 01 breathe 0 000 | x'],
  ])('rejects %s', (_what, line) => {
    expect(() => parseNounLine(line)).toThrow(WordNetFormatError);
  });

  it('makes lemmas readable', () => {
    expect(readableLemma('domestic_cat')).toBe('domestic cat');
    expect(readableLemma('galore(ip)')).toBe('galore');
  });
});

describe('the committed ImageNet labels file', () => {
  it('has 1000 distinct WordNet noun ids, tench first and toilet tissue last', async () => {
    const labels = parseLabels(await readFile(SYNSET_PATH, 'utf8'));
    expect(labels).toHaveLength(1000);
    expect(new Set(labels.map((l) => l.id)).size).toBe(1000);
    expect(labels.every((l) => /^n\d{8}$/.test(l.id))).toBe(true);
    expect(labels[0]).toEqual({ index: 0, id: 'n01440764', name: 'tench, Tinca tinca' });
    expect(labels[999]!.id).toBe('n15075141');
    // ImageNet repeats names under different ids: the reason results are keyed by index and id.
    expect(labels.filter((l) => l.name === 'crane')).toHaveLength(2);
  });

  const haveWordNet = existsSync(DEBIAN_DATA_NOUN);
  if (!haveWordNet) console.warn(`skipped: ${DEBIAN_DATA_NOUN} is missing (apt-get install wordnet-base; .ci/run installs it)`);
  (haveWordNet ? it : it.skip)('is exactly what WordNet 3.0 gives for its ids (npm run data:labels)', async () => {
    const { synsets } = await readDataNoun();
    const labels = parseLabels(await readFile(SYNSET_PATH, 'utf8'));
    for (const l of labels) expect(`${l.id} ${l.name}`).toBe(`${l.id} ${synsets.get(l.id)?.lemmas.join(', ')}`);
  });
});
