/**
 * Writes the label hierarchy the core reads at run time (core/hierarchy/imagenet-wordnet.ts):
 * ImageNet's 1000 classes and their WordNet 3.0 ancestors, each with its readable name, aliases,
 * direct parents and categories, and WordNet's licence notice beside it (and inside it, as a legal
 * comment that esbuild keeps in every Lambda bundle).
 *
 * The rule, applied here once so the data file holds its result:
 * - **Pruned**: every synset of WordNet's `noun.Tops` lexicographer file (entity, physical entity,
 *   object, whole, artifact, living thing, organism, matter, substance, abstraction, …) except the
 *   four a person says of a photo (animal, person, plant, food), and `instrumentality`, WordNet's
 *   grouping of 358 artefacts that nobody searches for. A kept synset whose parent is pruned links
 *   to that parent's nearest kept ancestors instead (usually none: it becomes a root).
 * - **Categories**: a synset belongs to every category whose anchor synset is itself or one of
 *   its ancestors ({@link CATEGORIES}, or the `noun.food` file for food); a synset with none falls
 *   back to "Other objects" (an artefact) or "Nature".
 *
 *     npm run data:hierarchy -- [--ids <labels file>] [--data-noun /usr/share/wordnet/data.noun]
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseLabels } from '../../core/labels.js';
import { HIERARCHY_FORMAT, type HierarchyData, type HierarchyNode } from '../../core/hierarchy/data.js';
import { arg, repoRoot } from '../script-args.js';
import { DEBIAN_DATA_NOUN, LABELS_FIXTURE, readDataNoun, WORDNET_LICENSE, type NounSynset } from './data-noun.js';

/** Where the generated module lives, relative to the repository root. */
export const HIERARCHY_MODULE = 'core/hierarchy/imagenet-wordnet.ts';

/** WordNet's lexicographer file of its unique beginners and top abstractions. */
const NOUN_TOPS = 3;
/** WordNet's lexicographer file of foods and drinks. */
const NOUN_FOOD = 13;
/** WordNet's lexicographer file of man-made objects. */
const NOUN_ARTIFACT = 6;

/** noun.Tops synsets kept: labels people search by. */
const KEEP_TOPS = new Map([
  ['n00015388', 'animal'],
  ['n00007846', 'person'],
  ['n00017222', 'plant'],
  ['n00021265', 'food'],
]);
/** Synsets outside noun.Tops pruned all the same. */
const PRUNE_EXTRA = new Map([['n03575240', 'instrumentality']]);

/** Categories in the order answers list them, each with its anchor synsets. */
export const CATEGORIES: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['Animals', ['n00015388']],
  ['People', ['n00007846']],
  ['Plants', ['n00017222', 'n13086908' /* plant part: fruit, acorn, hip */]],
  ['Food and drink', ['n00021265', 'n07555863' /* food, solid food */, 'n07881800' /* beverage */]],
  ['Vehicles', ['n03100490' /* conveyance */]],
  ['Buildings and places', ['n04341686' /* structure */, 'n09287968' /* geological formation */, 'n00027167' /* location */]],
  ['Clothing and accessories', ['n03051540' /* clothing */, 'n03597469' /* jewelry */]],
  ['Household objects', ['n03405265' /* furnishing */, 'n03528263' /* home appliance */, 'n04381994' /* tableware */, 'n03621049' /* kitchen utensil */]],
  ['Electronics', ['n03278248' /* electronic equipment */, 'n03082979' /* computer */]],
  ['Sports and games', ['n04285146' /* sports equipment */, 'n03414162' /* game equipment */]],
  ['Musical instruments', ['n03800933']],
  ['Tools and machines', ['n04451818' /* tool */, 'n03699975' /* machine */]],
  ['Weapons', ['n04565375']],
];
const OTHER_OBJECTS = 'Other objects';
const NATURE = 'Nature';

function isPruned(s: NounSynset): boolean {
  return PRUNE_EXTRA.has(s.wnid) || (s.lexFile === NOUN_TOPS && !KEEP_TOPS.has(s.wnid));
}

/** Every ancestor of `wnid` (not itself), each once, however many paths lead to it. */
function ancestorsOf(wnid: string, synsets: ReadonlyMap<string, NounSynset>): Set<string> {
  const seen = new Set<string>();
  const stack = [...(synsets.get(wnid)?.hypernyms ?? [])];
  while (stack.length > 0) {
    const h = stack.pop()!;
    if (seen.has(h)) continue;
    seen.add(h);
    stack.push(...(synsets.get(h)?.hypernyms ?? []));
  }
  return seen;
}

/** Kept parents of a synset: its hypernyms, each pruned one replaced by its own kept parents. */
function keptParents(s: NounSynset, synsets: ReadonlyMap<string, NounSynset>): string[] {
  const out: string[] = [];
  const stack = [...s.hypernyms].reverse();
  const seen = new Set<string>();
  while (stack.length > 0) {
    const h = stack.pop()!;
    if (seen.has(h)) continue;
    seen.add(h);
    const hs = synsets.get(h);
    if (!hs) throw new Error(`${s.wnid} points to ${h}, which is not in data.noun`);
    if (isPruned(hs)) stack.push(...[...hs.hypernyms].reverse());
    else out.push(h);
  }
  return out;
}

/** Builds the hierarchy data for the given class ids. */
export function buildHierarchy(classIds: readonly string[], synsets: ReadonlyMap<string, NounSynset>): HierarchyData {
  const categoryNames = [...CATEGORIES.map(([name]) => name), OTHER_OBJECTS, NATURE];
  // Leaves first, in class order, then their ancestors in first-seen order: stable across reruns.
  const order: string[] = [];
  const placed = new Set<string>();
  const place = (w: string): void => {
    if (!placed.has(w)) {
      placed.add(w);
      order.push(w);
    }
  };
  for (const id of classIds) {
    const s = synsets.get(id);
    if (!s) throw new Error(`${id} is not a WordNet 3.0 noun synset`);
    if (isPruned(s)) throw new Error(`${id} (${s.lemmas[0]}) is a class but the pruning rule removes it`);
    place(id);
  }
  for (const id of classIds) {
    const up = [...ancestorsOf(id, synsets)].filter((a) => !isPruned(synsets.get(a)!));
    // Nearest first, so a reader sees dog before mammal.
    up.sort((a, b) => ancestorsOf(b, synsets).size - ancestorsOf(a, synsets).size);
    up.forEach(place);
  }
  const index = new Map(order.map((w, i) => [w, i]));
  const nodes = order.map((w): HierarchyNode => {
    const s = synsets.get(w)!;
    const selfAndUp = new Set([w, ...ancestorsOf(w, synsets)]);
    const cats: number[] = [];
    CATEGORIES.forEach(([name, anchors], i) => {
      const food = name === 'Food and drink' && s.lexFile === NOUN_FOOD;
      if (food || anchors.some((a) => selfAndUp.has(a))) cats.push(i);
    });
    if (cats.length === 0) cats.push(categoryNames.indexOf(s.lexFile === NOUN_ARTIFACT || selfAndUp.has('n00021939') ? OTHER_OBJECTS : NATURE));
    const parents = keptParents(s, synsets).map((p) => index.get(p)!);
    if (s.lemmas.some((l) => /[;|]/.test(l))) throw new Error(`${w}: a lemma holds ";" or "|", the node format's separators`);
    return `${w};${s.lemmas.join('|')};${parents.join(',')};${cats.join(',')}`;
  });
  return { format: HIERARCHY_FORMAT, source: 'WordNet 3.0', categories: categoryNames, nodes };
}

/** The generated module's text. */
export function hierarchyModule(data: HierarchyData, licence: string): string {
  return [
    `/*! WordNet 3.0, ${HIERARCHY_FORMAT}: ImageNet's 1000 classes and their ancestors, from WordNet 3.0's data.noun.`,
    ' *',
    ...licence.split('\n').map((l) => ` * ${l}`.trimEnd()),
    ' */',
    '// Generated by scripts/wordnet/generate-hierarchy.ts (npm run data:hierarchy); do not edit. The licence',
    `// above is also in ${WORDNET_LICENSE} beside this file. Node lines are described in ./data.ts; the`,
    `// ${data.nodes.length} nodes start with the ImageNet classes, in ImageNet order, then their kept ancestors.`,
    "import type { HierarchyData } from './data.js';",
    '',
    "/** ImageNet-1k's WordNet hierarchy, pruned and categorised (see scripts/wordnet/generate-hierarchy.ts). */",
    'export const IMAGENET_WORDNET: HierarchyData = {',
    `  format: ${JSON.stringify(data.format)},`,
    `  source: ${JSON.stringify(data.source)},`,
    `  categories: ${JSON.stringify(data.categories)},`,
    '  nodes: [',
    ...data.nodes.map((n) => `    ${JSON.stringify(n)},`),
    '  ],',
    '};',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const root = repoRoot();
  const idsFrom = path.resolve(arg('ids', path.join(root, LABELS_FIXTURE)));
  const { synsets, licence } = await readDataNoun(arg('data-noun', DEBIAN_DATA_NOUN));
  const ids = parseLabels(await readFile(idsFrom, 'utf8'), idsFrom).map((l) => l.id);
  const data = buildHierarchy(ids, synsets);
  const out = path.join(root, HIERARCHY_MODULE);
  const text = hierarchyModule(data, licence);
  await writeFile(out, text);
  await writeFile(path.join(path.dirname(out), WORDNET_LICENSE), `${licence}\n`);
  const perCategory = data.categories.map((c, i) => `${c} ${data.nodes.slice(0, ids.length).filter((n) => n.split(';')[3]!.split(',').includes(String(i))).length}`);
  console.log(`${ids.length} classes, ${data.nodes.length - ids.length} ancestors kept → ${out} (${text.length} bytes)`);
  console.log(`classes per category: ${perCategory.join(', ')}`);
}

if (process.argv[1] !== undefined && /generate-hierarchy\.[jt]s$/.test(process.argv[1])) await main();
