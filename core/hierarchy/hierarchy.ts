/**
 * Labels people search by: each class's WordNet ancestors ("dog" above 118 breeds), with scores
 * aggregated over the classes under them, as Rekognition's DetectLabels reports parents.
 *
 * The hierarchy is a DAG (38 ImageNet classes have two hypernyms), so an ancestor's score is the
 * sum of the probabilities of the distinct classes below it — a set, never a sum along paths,
 * which would count a class twice. A parent is therefore never less confident than any class
 * under it. Everything is keyed by WordNet id: ImageNet repeats names (two "crane", two "maillot").
 */
import { InvalidArgumentError } from '../errors.js';
import { topK } from '../postprocess.js';
import type { Label, ParentLabel } from '../types.js';
import { HIERARCHY_FORMAT, type HierarchyData } from './data.js';
import { IMAGENET_WORDNET } from './imagenet-wordnet.js';

/** One synset of the hierarchy, as answers show it. */
export interface HierarchyEntry {
  /** WordNet id, e.g. `n02084071`. */
  readonly id: string;
  /** First lemma, readable (`domestic cat`). */
  readonly name: string;
  /** The synset's other lemmas (`house cat`, `Felis domesticus`, …). */
  readonly aliases: readonly string[];
  /** Categories a person would file it under (`Animals`, `Vehicles`, …). */
  readonly categories: readonly string[];
  /** Direct parents' node indices. */
  readonly parents: readonly number[];
}

/** A parsed label hierarchy (ImageNet's, from WordNet 3.0, unless a test passes its own). */
export class LabelHierarchy {
  private readonly byId: Map<string, number>;

  private constructor(
    /** Every synset, by node index. */
    readonly entries: readonly HierarchyEntry[],
    /** Category names, in answer order. */
    readonly categories: readonly string[],
    /** Where the synsets come from (`WordNet 3.0`). */
    readonly source: string,
  ) {
    this.byId = new Map(entries.map((e, i) => [e.id, i]));
  }

  /**
   * Parses hierarchy data (see ./data.ts).
   * @throws InvalidArgumentError on another format or a node line that does not parse
   */
  static parse(data: HierarchyData): LabelHierarchy {
    if (data.format !== HIERARCHY_FORMAT) throw new InvalidArgumentError(`Hierarchy format ${data.format} is not ${HIERARCHY_FORMAT}; regenerate it with npm run data:hierarchy.`);
    const n = data.nodes.length;
    const ints = (s: string): number[] => (s === '' ? [] : s.split(',').map(Number));
    const entries = data.nodes.map((line, i): HierarchyEntry => {
      const [id, lemmas, parents, cats] = line.split(';');
      const p = ints(parents ?? '');
      const c = ints(cats ?? '');
      if (!id || !lemmas || p.some((x) => !Number.isInteger(x) || x < 0 || x >= n || x === i) || c.some((x) => data.categories[x] === undefined)) {
        throw new InvalidArgumentError(`Hierarchy node ${i} ("${line.slice(0, 40)}") does not parse; regenerate it with npm run data:hierarchy.`);
      }
      const [name, ...aliases] = lemmas.split('|');
      return { id, name: name!, aliases, categories: c.map((x) => data.categories[x]!), parents: p };
    });
    return new LabelHierarchy(entries, data.categories, data.source);
  }

  /** The entry of a WordNet id, or undefined when the hierarchy does not hold it. */
  get(id: string): HierarchyEntry | undefined {
    const i = this.byId.get(id);
    return i === undefined ? undefined : this.entries[i];
  }

  /** Node index of a WordNet id, or undefined. */
  indexOf(id: string): number | undefined {
    return this.byId.get(id);
  }

  /** Every ancestor of node `i` (not itself), each once, nearest first (breadth-first). */
  ancestorIndices(i: number): number[] {
    const out: number[] = [];
    const seen = new Set<number>([i]);
    const queue = [...this.entries[i]!.parents];
    for (let q = 0; q < queue.length; q++) {
      const a = queue[q]!;
      if (seen.has(a)) continue;
      seen.add(a);
      out.push(a);
      queue.push(...this.entries[a]!.parents);
    }
    return out;
  }

  /** The ancestors of a WordNet id, nearest first; empty when the id is unknown. */
  ancestors(id: string): HierarchyEntry[] {
    const i = this.byId.get(id);
    return i === undefined ? [] : this.ancestorIndices(i).map((a) => this.entries[a]!);
  }
}

let imagenet: LabelHierarchy | undefined;
/** ImageNet-1k's hierarchy from WordNet 3.0 (parsed once per process, ~1 ms). */
export function imagenetHierarchy(): LabelHierarchy {
  imagenet ??= LabelHierarchy.parse(IMAGENET_WORDNET);
  return imagenet;
}

/** One class of a model's output, as the hierarchy needs it. */
export interface ClassRef {
  readonly index: number;
  readonly id: string;
  readonly name: string;
}

/** Filters as DetectLabels has them; each list matches a label's id, name or alias (case-insensitive). */
export interface LabelFilters {
  /** Only these labels. @default all */
  readonly includeLabels?: readonly string[];
  /** Never these labels. @default none */
  readonly excludeLabels?: readonly string[];
  /** Only labels in one of these categories (`Animals`, `Vehicles`, …). @default all */
  readonly includeCategories?: readonly string[];
  /** Never labels in these categories. @default none */
  readonly excludeCategories?: readonly string[];
}

/** What to report, as DetectLabels' parameters. */
export interface LabelOptions extends LabelFilters {
  /**
   * Lowest confidence reported, 0–100 (as Rekognition's MinConfidence). @default none for the
   * classes (the top-k are always reported), {@link DEFAULT_PARENT_CONFIDENCE} for parents
   */
  readonly minConfidence?: number;
  /**
   * Lowest confidence of a parent, 0–100, when it should differ from `minConfidence` (the
   * labellers store every top class but only confident parents). @default minConfidence
   */
  readonly minParentConfidence?: number;
  /**
   * Most parents reported. @default all over the threshold (at 50 % they form one line of ancestry,
   * at most ~15 deep, since two disjoint sets of classes cannot both hold more than half)
   */
  readonly maxLabels?: number;
  /** Whether parents are reported at all. @default true */
  readonly parents?: boolean;
}

/** Confidence (0–100) a parent needs to be reported when no `minConfidence` is given. */
export const DEFAULT_PARENT_CONFIDENCE = 50;

/**
 * The classes of one model placed in a hierarchy: for each class, the ancestor slots whose scores
 * it adds to. Built once per model (`Classifier.load`), used per image.
 */
export class ClassTree {
  private constructor(
    readonly hierarchy: LabelHierarchy,
    /** The model's classes, by output index. */
    readonly classes: readonly ClassRef[],
    /** Hierarchy node index of each class, or -1 when its id is not in the hierarchy. */
    private readonly classNode: Int32Array,
    /** Node indices of every ancestor of some class: the parent slots. */
    readonly parentNodes: readonly number[],
    /** For each class, the slots (indices into parentNodes) of its distinct ancestors. */
    private readonly slotsOf: readonly Int32Array[],
    /** For each slot, how many classes lie under it (ties rank the more specific parent first). */
    private readonly classesUnder: Int32Array,
  ) {}

  /** Places `classes` in `hierarchy`; classes whose ids it lacks get no parents. */
  static build(classes: readonly ClassRef[], hierarchy: LabelHierarchy = imagenetHierarchy()): ClassTree {
    const classNode = new Int32Array(classes.length).fill(-1);
    const slotOfNode = new Map<number, number>();
    const parentNodes: number[] = [];
    const slotsOf = classes.map((c, i) => {
      const node = hierarchy.indexOf(c.id);
      if (node === undefined) return new Int32Array(0);
      classNode[i] = node;
      // ancestorIndices lists each ancestor once: a class reached by two paths still adds once.
      return Int32Array.from(hierarchy.ancestorIndices(node), (a) => {
        let s = slotOfNode.get(a);
        if (s === undefined) {
          s = parentNodes.length;
          slotOfNode.set(a, s);
          parentNodes.push(a);
        }
        return s;
      });
    });
    const classesUnder = new Int32Array(parentNodes.length);
    for (const slots of slotsOf) for (const s of slots) classesUnder[s]!++;
    return new ClassTree(hierarchy, classes, classNode, parentNodes, slotsOf, classesUnder);
  }

  /** How many classes have a place in the hierarchy (0: the labels carry no WordNet ids). */
  get placedClasses(): number {
    let n = 0;
    for (const x of this.classNode) if (x >= 0) n++;
    return n;
  }

  /** The hierarchy entry of class `index`, or undefined. */
  entryOfClass(index: number): HierarchyEntry | undefined {
    const node = this.classNode[index];
    return node === undefined || node < 0 ? undefined : this.hierarchy.entries[node];
  }

  /**
   * Each parent slot's score: the sum, in float64, of the probabilities of the distinct classes
   * under it. A class that is itself an ancestor of another class (a user's model with both
   * `dog` and `beagle`) adds to its own slot too.
   */
  aggregate(probs: Float32Array): Float64Array {
    if (probs.length !== this.classes.length) throw new InvalidArgumentError(`Got ${probs.length} scores for ${this.classes.length} classes.`);
    const out = new Float64Array(this.parentNodes.length);
    const selfSlot = this.selfSlots();
    for (let i = 0; i < probs.length; i++) {
      const p = probs[i]!;
      for (const s of this.slotsOf[i]!) out[s]! += p;
      const own = selfSlot[i]!;
      if (own >= 0) out[own]! += p;
    }
    return out;
  }

  private selfSlotCache: Int32Array | undefined;
  /** For each class, the parent slot of its own node when it is some other class's ancestor; else -1. */
  private selfSlots(): Int32Array {
    if (this.selfSlotCache) return this.selfSlotCache;
    const slotOfNode = new Map(this.parentNodes.map((n, s) => [n, s]));
    this.selfSlotCache = Int32Array.from(this.classNode, (n) => (n >= 0 ? (slotOfNode.get(n) ?? -1) : -1));
    return this.selfSlotCache;
  }

  /** Whether a label (id, name and aliases, categories) passes the filters. */
  passes(id: string, names: readonly string[], categories: readonly string[], f: LabelFilters): boolean {
    const has = (list: readonly string[] | undefined, values: readonly string[]): boolean =>
      list !== undefined && list.some((x) => values.some((v) => v.toLowerCase() === x.trim().toLowerCase()));
    const own = [id, ...names];
    if (f.includeLabels?.length && !has(f.includeLabels, own)) return false;
    if (f.excludeLabels?.length && has(f.excludeLabels, own)) return false;
    if (f.includeCategories?.length && !has(f.includeCategories, categories)) return false;
    if (f.excludeCategories?.length && has(f.excludeCategories, categories)) return false;
    return true;
  }

  /** A class's names for filtering: the labels-file name, its comma-separated synonyms and the hierarchy's lemmas. */
  private classNames(c: ClassRef): string[] {
    const e = this.entryOfClass(c.index);
    return [c.name, ...c.name.split(/\s*,\s*/), ...(e ? [e.name, ...e.aliases] : [])];
  }

  /**
   * The answer for one image: the top classes and the confident parents, best first. This is the
   * one function behind the CLI, the API (both formats), the tags and the stored results.
   * @param probs softmax probabilities, by class index.
   * @param top most classes reported (>= 1).
   * @throws InvalidArgumentError for an out-of-range minConfidence or maxLabels
   */
  rank(probs: Float32Array, top: number, opts: LabelOptions = {}): { labels: Label[]; parents: ParentLabel[] } {
    checkLabelOptions(opts);
    if (!Number.isInteger(top) || top < 1) throw new InvalidArgumentError(`top must be a whole number >= 1, got ${top}.`);
    const minClass = (opts.minConfidence ?? 0) / 100;
    const filtered = hasFilters(opts);
    // Classes the options rule out score -1, below any probability, so topK passes over them.
    const eligible = probs.map((p, i) => {
      if (p < minClass) return -1;
      if (!filtered) return p;
      const c = this.classes[i]!;
      return this.passes(c.id, this.classNames(c), this.entryOfClass(i)?.categories ?? [], opts) ? p : -1;
    });
    const labels = topK(eligible, top, this.classes)
      .filter((l) => l.score >= 0)
      .map((l): Label => ({ ...l, score: probs[l.index]! }));
    if (opts.parents === false || this.parentNodes.length === 0) return { labels, parents: [] };
    const scores = this.aggregate(probs);
    const minParent = (opts.minParentConfidence ?? opts.minConfidence ?? DEFAULT_PARENT_CONFIDENCE) / 100;
    const slots = [...scores.keys()].filter((s) => {
      const e = this.hierarchy.entries[this.parentNodes[s]!]!;
      return scores[s]! >= minParent && (!filtered || this.passes(e.id, [e.name, ...e.aliases], e.categories, opts));
    });
    slots.sort((a, b) => scores[b]! - scores[a]! || this.classesUnder[a]! - this.classesUnder[b]!);
    const parents = slots.slice(0, opts.maxLabels ?? slots.length).map((s, r): ParentLabel => {
      const e = this.hierarchy.entries[this.parentNodes[s]!]!;
      return { rank: r + 1, id: e.id, name: e.name, score: scores[s]! };
    });
    return { labels, parents };
  }
}

/** Whether any include or exclude list is set. */
function hasFilters(f: LabelFilters): boolean {
  return Boolean(f.includeLabels?.length || f.excludeLabels?.length || f.includeCategories?.length || f.excludeCategories?.length);
}

/**
 * Checks DetectLabels-style options.
 * @throws InvalidArgumentError naming the bad option and its range
 */
export function checkLabelOptions(opts: LabelOptions): void {
  for (const [name, m] of [['minConfidence', opts.minConfidence], ['minParentConfidence', opts.minParentConfidence]] as const) {
    if (m !== undefined && !(Number.isFinite(m) && m >= 0 && m <= 100)) throw new InvalidArgumentError(`${name} must be a number from 0 to 100, got ${m}.`);
  }
  const k = opts.maxLabels;
  if (k !== undefined && !(Number.isInteger(k) && k >= 1)) throw new InvalidArgumentError(`maxLabels must be a whole number >= 1, got ${k}.`);
}
