/**
 * Rekognition DetectLabels' response shape, so a client that parses Rekognition's answer needs
 * only a new endpoint: `Labels[]` with `Name`, `Confidence` (0–100), `Instances` (always empty:
 * a classifier finds no boxes), `Parents[].Name` (all ancestors, nearest first), `Aliases[].Name`,
 * `Categories[].Name`, and `LabelModelVersion`. Each label and parent also carries `Id`, its WordNet
 * id, which Rekognition does not have and its clients ignore.
 */
import type { Label, ParentLabel } from '../types.js';
import type { ClassTree, HierarchyEntry } from './hierarchy.js';

/** MinConfidence when the request gives none, as Rekognition's. */
export const REKOGNITION_DEFAULT_MIN_CONFIDENCE = 55;

/** A `{Name}` member of Parents, Aliases or Categories. */
export interface RekognitionName {
  readonly Name: string;
  /** WordNet id (parents only); not part of Rekognition's shape. */
  readonly Id?: string;
}

/** One label of DetectLabels' answer. */
export interface RekognitionLabel {
  readonly Name: string;
  /** 0–100. */
  readonly Confidence: number;
  readonly Instances: readonly never[];
  readonly Parents: readonly RekognitionName[];
  readonly Aliases: readonly RekognitionName[];
  readonly Categories: readonly RekognitionName[];
  /** WordNet id (or the labels file's id); not part of Rekognition's shape. */
  readonly Id: string;
}

/** DetectLabels' answer. */
export interface DetectLabelsAnswer {
  readonly Labels: readonly RekognitionLabel[];
  /** The model id and the hierarchy, e.g. `resnet50-v2+WordNet 3.0`. */
  readonly LabelModelVersion: string;
}

/**
 * Turns a ranked answer (classes and parents, from `ClassTree.rank`) into DetectLabels' shape:
 * every label best first, cut to `maxLabels`. A class that is also another class's ancestor is
 * listed once, with its aggregated score.
 * @param withParents fill each label's `Parents` @default true
 */
export function toRekognition(
  answer: { labels: readonly Label[]; parents: readonly ParentLabel[] },
  tree: ClassTree,
  opts: { modelId: string; maxLabels?: number; withParents?: boolean },
): DetectLabelsAnswer {
  const names = (list: readonly string[]): RekognitionName[] => list.map((Name) => ({ Name }));
  const parentsOf = (id: string): RekognitionName[] =>
    opts.withParents === false ? [] : tree.hierarchy.ancestors(id).map((e) => ({ Name: e.name, Id: e.id }));
  const label = (id: string, name: string, aliases: readonly string[], e: HierarchyEntry | undefined, score: number): RekognitionLabel => ({
    Name: name,
    Confidence: score * 100,
    Instances: [],
    Parents: parentsOf(id),
    Aliases: names(aliases),
    Categories: names(e?.categories ?? []),
    Id: id,
  });
  const parentIds = new Set(answer.parents.map((p) => p.id));
  const scored: Array<{ score: number; label: RekognitionLabel }> = [];
  for (const l of answer.labels) {
    if (parentIds.has(l.id)) continue;
    const e = tree.entryOfClass(l.index);
    const [first, ...rest] = l.name.split(/\s*,\s*/);
    scored.push({ score: l.score, label: label(l.id, e?.name ?? first ?? l.name, e?.aliases ?? rest, e, l.score) });
  }
  for (const p of answer.parents) {
    const e = tree.hierarchy.get(p.id);
    scored.push({ score: p.score, label: label(p.id, p.name, e?.aliases ?? [], e, p.score) });
  }
  // Stable: a parent equal to its only child comes after it, as in the classes-first input order.
  scored.sort((a, b) => b.score - a.score);
  return {
    Labels: scored.slice(0, opts.maxLabels ?? scored.length).map((s) => s.label),
    LabelModelVersion: `${opts.modelId}+${tree.hierarchy.source}`,
  };
}
