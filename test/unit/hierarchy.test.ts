/**
 * The WordNet label hierarchy (core/hierarchy/): the generated file, aggregation over a DAG,
 * DetectLabels-style options, and Rekognition's answer shape read back through the AWS SDK's own
 * response parser.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';

import { DetectLabelsCommand, RekognitionClient, type DetectLabelsCommandOutput } from '@aws-sdk/client-rekognition';

import { InvalidArgumentError } from '../../core/errors.js';
import { HIERARCHY_FORMAT, type HierarchyData } from '../../core/hierarchy/data.js';
import { ClassTree, imagenetHierarchy, LabelHierarchy } from '../../core/hierarchy/hierarchy.js';
import { IMAGENET_WORDNET } from '../../core/hierarchy/imagenet-wordnet.js';
import { toRekognition, type DetectLabelsAnswer } from '../../core/hierarchy/rekognition.js';
import { loadLabels, type ClassLabel } from '../../core/labels.js';
import { softmax } from '../../core/postprocess.js';
import { DEBIAN_DATA_NOUN, readDataNoun } from '../../scripts/wordnet/data-noun.js';
import { buildHierarchy, hierarchyModule, HIERARCHY_MODULE } from '../../scripts/wordnet/generate-hierarchy.js';
import { REPO_ROOT, SYNSET_PATH } from '../helpers/paths.js';

const DOG = 'n02084071';
const TABBY = 'n02123045';

let classes: ClassLabel[];
let tree: ClassTree;
beforeAll(async () => {
  classes = await loadLabels(SYNSET_PATH);
  tree = ClassTree.build(classes);
});

/** Seeded logits → probabilities, so every test image has a different, reproducible spread. */
function seededProbs(seed: number, n = 1000, spread = 4): Float32Array {
  let s = seed >>> 0;
  const logits = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    logits[i] = (s / 2 ** 32) * spread;
  }
  return softmax(logits);
}

describe('the ImageNet hierarchy file', () => {
  const h = imagenetHierarchy();

  it('places all 1000 classes', () => {
    expect(tree.placedClasses).toBe(1000);
    expect(h.entries.slice(0, 1000).map((e) => e.id)).toEqual(classes.map((c) => c.id));
  });

  it('knows tabby\'s ancestors, readable, and its alias', () => {
    const names = h.ancestors(TABBY).map((e) => e.name);
    for (const a of ['domestic cat', 'cat', 'feline', 'carnivore', 'mammal', 'animal']) expect(names).toContain(a);
    expect(names[0]).toBe('domestic cat');
    expect(h.get(TABBY)).toMatchObject({ name: 'tabby', aliases: ['tabby cat'], categories: ['Animals'] });
    expect(h.get('n02121808')!.aliases).toEqual(['house cat', 'Felis domesticus', 'Felis catus']);
  });

  it('has 118 dogs under dog and 398 classes under animal', () => {
    const under = (id: string): number => classes.filter((c) => h.ancestors(c.id).some((a) => a.id === id)).length;
    expect(under(DOG)).toBe(118);
    expect(under('n00015388')).toBe(398);
  });

  it('prunes the abstract top and keeps the four tops people search by', () => {
    for (const gone of ['n00001740', 'n00001930', 'n00002684', 'n00003553', 'n00021939', 'n00004475', 'n03575240']) expect(h.get(gone)).toBeUndefined();
    for (const kept of ['n00015388', 'n00007846', 'n00017222', 'n00021265']) expect(h.get(kept)).toBeDefined();
  });

  it('puts every class in at least one category, and a car among vehicles', () => {
    expect(h.entries.slice(0, 1000).filter((e) => e.categories.length === 0)).toEqual([]);
    expect(h.get('n04285008')!.categories).toContain('Vehicles'); // sports car
    expect(h.get('n07747607')!.categories).toContain('Food and drink'); // orange
  });

  it('keeps both parents of the classes with two hypernyms', () => {
    // 38 classes have two hypernyms in WordNet; for one of them the second is pruned (a noun.Tops synset).
    expect(h.entries.slice(0, 1000).filter((e) => e.parents.length === 2)).toHaveLength(37);
  });

  (existsSync(DEBIAN_DATA_NOUN) ? it : it.skip)('is what npm run data:hierarchy generates from WordNet 3.0', async () => {
    const { synsets, licence } = await readDataNoun();
    const data = buildHierarchy(classes.map((c) => c.id), synsets);
    expect(data).toEqual(IMAGENET_WORDNET);
    expect(await readFile(`${REPO_ROOT}/${HIERARCHY_MODULE}`, 'utf8')).toBe(hierarchyModule(data, licence));
  });

  it('refuses another format and broken node lines', () => {
    expect(() => LabelHierarchy.parse({ ...IMAGENET_WORDNET, format: 'hierarchy/0' })).toThrow(InvalidArgumentError);
    expect(() => LabelHierarchy.parse({ ...IMAGENET_WORDNET, nodes: ['n1;a;7;0'] })).toThrow(/does not parse/);
  });
});

/** A diamond: classes a and b both under x and y, which both lie under z; c elsewhere. */
const DIAMOND: HierarchyData = {
  format: HIERARCHY_FORMAT,
  source: 'test',
  categories: ['Things', 'Other'],
  nodes: ['a;a;3,4;0', 'b;b|bee;3,4;0', 'c;c;;1', 'x;x;5;0', 'y;y;5;0', 'z;z|zed;;0'],
};

describe('aggregated scores', () => {
  const diamond = LabelHierarchy.parse(DIAMOND);
  const small = ClassTree.build(['a', 'b', 'c'].map((id, index) => ({ index, id, name: id })), diamond);

  it('sums each class once per ancestor, however many paths lead there', () => {
    const scores = small.aggregate(Float32Array.from([0.5, 0.3, 0.2]));
    const byId = Object.fromEntries(small.parentNodes.map((n, s) => [diamond.entries[n]!.id, scores[s]]));
    expect(byId.x).toBeCloseTo(0.8, 6);
    expect(byId.y).toBeCloseTo(0.8, 6);
    expect(byId.z).toBeCloseTo(0.8, 6); // not 1.6: a and b reach z twice each
  });

  it('gives dog the sum of its 118 breeds, and every parent at least each class under it', () => {
    const probs = seededProbs(7);
    const h = imagenetHierarchy();
    const scores = tree.aggregate(probs);
    const slot = (id: string): number => tree.parentNodes.indexOf(h.indexOf(id)!);
    let dogs = 0;
    for (const c of classes) if (h.ancestors(c.id).some((a) => a.id === DOG)) dogs += probs[c.index]!;
    expect(scores[slot(DOG)]).toBeCloseTo(dogs, 9);
    for (const c of classes) for (const a of h.ancestors(c.id)) expect(scores[slot(a.id)]).toBeGreaterThanOrEqual(probs[c.index]!);
  });

  it('lets a class that is another class\'s ancestor add to its own parent slot', () => {
    const withParent = ClassTree.build(['a', 'x'].map((id, index) => ({ index, id, name: id })), diamond);
    const scores = withParent.aggregate(Float32Array.from([0.25, 0.75]));
    expect(scores[withParent.parentNodes.indexOf(diamond.indexOf('x')!)]).toBeCloseTo(1, 6);
  });
});

describe('options (ClassTree.rank)', () => {
  const diamond = LabelHierarchy.parse(DIAMOND);
  const small = ClassTree.build(['a', 'b', 'c'].map((id, index) => ({ index, id, name: id })), diamond);
  const probs = Float32Array.from([0.3, 0.45, 0.25]);
  const ids = (r: { labels: { id: string }[]; parents: { id: string }[] }): string[][] => [r.labels.map((l) => l.id), r.parents.map((p) => p.id)];

  it.each<[string, Parameters<ClassTree['rank']>[2], string[][]]>([
    ['defaults: top classes, parents over 50 %', {}, [['b', 'a', 'c'], ['x', 'y', 'z']]],
    ['minConfidence applies to both', { minConfidence: 28 }, [['b', 'a'], ['x', 'y', 'z']]],
    ['minConfidence above every parent', { minConfidence: 80 }, [[], []]],
    ['maxLabels caps the parents', { maxLabels: 1 }, [['b', 'a', 'c'], ['x']]],
    ['no parents', { parents: false }, [['b', 'a', 'c'], []]],
    ['include by alias, case-insensitive', { includeLabels: ['BEE', 'zed'] }, [['b'], ['z']]],
    ['exclude by id', { excludeLabels: ['b', 'x'] }, [['a', 'c'], ['y', 'z']]],
    ['include a category', { includeCategories: ['Other'] }, [['c'], []]],
    ['exclude a category', { excludeCategories: ['things'] }, [['c'], []]],
  ])('%s', (_what, opts, expected) => {
    expect(ids(small.rank(probs, 5, opts))).toEqual(expected);
  });

  it('ranks by score, keeps full-precision scores, numbers the ranks', () => {
    const r = small.rank(probs, 2);
    expect(r.labels).toEqual([
      { rank: 1, index: 1, id: 'b', name: 'b', score: probs[1] },
      { rank: 2, index: 0, id: 'a', name: 'a', score: probs[0] },
    ]);
    expect(r.parents[0]).toEqual({ rank: 1, id: 'x', name: 'x', score: probs[0]! + probs[1]! });
  });

  it.each([[{ minConfidence: -1 }], [{ minConfidence: 101 }], [{ minConfidence: Number.NaN }], [{ maxLabels: 0 }], [{ maxLabels: 1.5 }]])('rejects %j', (opts) => {
    expect(() => small.rank(probs, 5, opts)).toThrow(InvalidArgumentError);
  });

  it('gives labels without WordNet ids no parents', () => {
    const bare = ClassTree.build([{ index: 0, id: 'cat', name: 'cat' }, { index: 1, id: 'dog', name: 'dog' }]);
    expect(bare.placedClasses).toBe(0);
    expect(bare.rank(Float32Array.from([0.9, 0.1]), 5, { minConfidence: 0 }).parents).toEqual([]);
  });
});

/** Parses a JSON body the way the AWS SDK parses DetectLabels' HTTP response. */
async function parseWithSdk(answer: DetectLabelsAnswer): Promise<DetectLabelsCommandOutput> {
  const body = JSON.stringify(answer);
  const client = new RekognitionClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
    requestHandler: {
      handle: async () => ({
        response: { statusCode: 200, reason: 'OK', headers: { 'content-type': 'application/x-amz-json-1.1' }, body: Readable.from([Buffer.from(body)]) },
      }),
    },
  });
  return client.send(new DetectLabelsCommand({ Image: { Bytes: new Uint8Array(1) } }));
}

describe('Rekognition\'s answer shape', () => {
  it('has each label no more confident than any of its parents, and dog the sum of the dogs', () => {
    const probs = seededProbs(11, 1000, 12);
    const answer = toRekognition(tree.rank(probs, 1000, { minConfidence: 0, maxLabels: tree.parentNodes.length }), tree, { modelId: 'resnet50-v2' });
    expect(answer.Labels).toHaveLength(1000 + tree.parentNodes.length);
    const conf = new Map(answer.Labels.map((l) => [l.Id, l.Confidence]));
    for (const l of answer.Labels) for (const p of l.Parents) expect(l.Confidence).toBeLessThanOrEqual(conf.get(p.Id!)!);
    let dogs = 0;
    for (const c of classes) if (imagenetHierarchy().ancestors(c.id).some((a) => a.id === DOG)) dogs += probs[c.index]!;
    expect(Math.abs(conf.get(DOG)! - 100 * dogs)).toBeLessThan(1e-3);
  });

  it('parses with @aws-sdk/client-rekognition into Labels with Name, Confidence, Parents, Aliases, Categories', async () => {
    const probs = new Float32Array(1000);
    probs[classes.findIndex((c) => c.id === TABBY)] = 0.7;
    probs[classes.findIndex((c) => c.id === 'n02123159')] = 0.3; // tiger cat
    const answer = toRekognition(tree.rank(probs, 1000, { minConfidence: 55, maxLabels: 100 }), tree, { modelId: 'resnet50-v2', maxLabels: 3 });
    const parsed = await parseWithSdk(answer);
    expect(parsed.LabelModelVersion).toBe('resnet50-v2+WordNet 3.0');
    expect(parsed.Labels).toHaveLength(3);
    expect(parsed.Labels![0]!.Name).toBe('domestic cat'); // the most specific of the parents that hold both cats
    for (const l of parsed.Labels!) expect(l.Confidence).toBeCloseTo(100, 4);
    const cat = parsed.Labels![0]!;
    expect(cat.Aliases!.map((a) => a.Name)).toEqual(['house cat', 'Felis domesticus', 'Felis catus']);
    expect(cat.Categories).toEqual([{ Name: 'Animals' }]);
    expect(cat.Parents!.map((p) => p.Name)).toEqual(expect.arrayContaining(['cat', 'feline', 'carnivore', 'mammal', 'animal']));
    const all = toRekognition(tree.rank(probs, 1000, { minConfidence: 55 }), tree, { modelId: 'm' });
    expect(all.Labels.find((l) => l.Id === TABBY)).toMatchObject({ Name: 'tabby', Aliases: [{ Name: 'tabby cat' }] });
  });

  it('lists a class once when it is also another class\'s ancestor', () => {
    const diamond = LabelHierarchy.parse(DIAMOND);
    const t = ClassTree.build(['a', 'x'].map((id, index) => ({ index, id, name: id })), diamond);
    const answer = toRekognition(t.rank(Float32Array.from([0.25, 0.75]), 2, { minConfidence: 0 }), t, { modelId: 'm' });
    expect(answer.Labels.map((l) => [l.Id, l.Confidence])).toEqual([['x', 100], ['z', 100], ['a', 25], ['y', 25]]);
  });
});
