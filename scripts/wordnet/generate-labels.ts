/**
 * Writes the 1000-class ImageNet labels file the tests use, from WordNet 3.0.
 *
 * ImageNet's class ids are WordNet noun offsets and its class names are the synset's lemmas joined
 * by ", " (`n01440764 tench, Tinca tinca`), so the file is generated: the class order comes from
 * the ids of an existing labels file (by default the output itself, so a rerun rewrites only the
 * names), every name from WordNet. The product does not read this file; it fetches its labels with
 * the model. WordNet's licence notice is written beside it.
 *
 *     npm run data:labels -- [--ids <labels file>] [--data-noun /usr/share/wordnet/data.noun] [--out <file>]
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseLabels } from '../../core/labels.js';
import { arg, repoRoot } from '../script-args.js';
import { DEBIAN_DATA_NOUN, LABELS_FIXTURE, readDataNoun, WORDNET_LICENSE } from './data-noun.js';

async function main(): Promise<void> {
  const root = repoRoot();
  const out = path.resolve(arg('out', path.join(root, LABELS_FIXTURE)));
  const idsFrom = path.resolve(arg('ids', out));
  const { synsets, licence } = await readDataNoun(arg('data-noun', DEBIAN_DATA_NOUN));
  const ids = parseLabels(await readFile(idsFrom, 'utf8'), idsFrom).map((l) => l.id);
  const lines = ids.map((id) => {
    const synset = synsets.get(id);
    if (!synset) throw new Error(`${id} (from ${idsFrom}) is not a WordNet 3.0 noun synset`);
    return `${id} ${synset.lemmas.join(', ')}`;
  });
  await writeFile(out, `${lines.join('\n')}\n`);
  await writeFile(path.join(path.dirname(out), WORDNET_LICENSE), `${licence}\n`);
  console.log(`${lines.length} classes from ${idsFrom} named from WordNet 3.0 → ${out}`);
}

await main();
