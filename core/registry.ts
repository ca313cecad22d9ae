/**
 * The ONNX Model Zoo ResNets this project knows by id: where to download each file, how to
 * verify it, and what the zoo published about it. Data only; downloading lives in fetch.ts.
 *
 * Sources (collected 2026-11-28):
 * - Top-1/top-5, opset and card sizes of the ten `-7` models: the model card of onnx/models,
 *   `validated/vision/classification/resnet/README.md`.
 * - The `-12` models' figures (74.97/92.33 fp32, 74.77/92.32 int8, opset 12, "performance
 *   improvement is 1.82x"): that same README in onnx/models (commit dcad528d).
 * - Byte sizes and sha256: the Git LFS pointers of onnx/models (`oid sha256:… size …`), read
 *   with the search tool, cross-checked against an independently collected list of the first 8
 *   hex digits of each file's sha256. Where no pointer of the current file version was
 *   readable, `sha256` holds only that 8-digit prefix (verified as a prefix);
 *   for resnet50-v1-12 neither was available and the file is verified by size only.
 */
import { UnknownModelError } from './errors.js';
import { IMAGENET_PREPROCESS, type PreprocessConfig } from './types.js';

/** One downloadable zoo model. Plain data: safe to JSON-serialise (`resnet models --json`). */
export interface ZooModel {
  /** Registry id, e.g. `resnet50-v2`. */
  readonly id: string;
  /** Human-readable name, e.g. `ResNet-50 v2`. */
  readonly name: string;
  /** Number of weighted layers: 18, 34, 50, 101 or 152. */
  readonly depth: number;
  /** 1 = post-activation residual blocks, 2 = pre-activation. */
  readonly version: 1 | 2;
  /** File name in the zoo, e.g. `resnet50-v2-7.onnx`. */
  readonly file: string;
  /** Current download URL (GitHub raw, which redirects to the Git LFS media host). */
  readonly url: string;
  /**
   * Older copy on the zoo's S3 bucket (the seed card's link). Its bytes differ from `url`'s
   * (fixed batch 1, older exporter), so it is verified with the MD5 at `md5Url`, never with
   * `bytes`/`sha256`.
   */
  readonly mirrorUrl?: string;
  /** The seed card's checksum file for `mirrorUrl`: a bare 32-hex MD5, possibly followed by a file name. */
  readonly md5Url?: string;
  /** Exact size of the file at `url`, in bytes (from its Git LFS pointer). */
  readonly bytes: number;
  /**
   * Lower-case hex sha256 of the file at `url`: all 64 digits where the LFS pointer was read,
   * the 8-digit prefix from zoo-facts where it was not, or `''` when unknown (size-only check).
   * Verification compares it as a prefix of the computed digest.
   */
  readonly sha256: string;
  /** ONNX opset the file was exported with. */
  readonly opset: number;
  /** Published ImageNet top-1 accuracy, percent (centre crop). */
  readonly top1: number;
  /** Published ImageNet top-5 accuracy, percent (centre crop). */
  readonly top5: number;
  /**
   * Batch dimension of the file at `url`. onnx/models PR #537 (2022-06) made it the symbolic
   * `N` in all ResNet files (the current sizes are 2 bytes larger than the pre-#537 pointers
   * for the same files, one byte per rewritten dim); the seed's S3 copies stay fixed at 1.
   * Informational only: ModelSession reads the real shape from the file it loads.
   */
  readonly batch: 'fixed' | 'dynamic';
  /** Input tensor name per zoo-facts (float32 [N,3,224,224]); informational, read from the session. */
  readonly inputName?: string;
  /** Output tensor name per zoo-facts (raw scores [N,1000]); absent where not published. */
  readonly outputName?: string;
  /** Preprocessing recipe the published accuracy was measured with. */
  readonly preprocess: PreprocessConfig;
  /** True for the int8-quantised file. */
  readonly quantized?: boolean;
}

const GITHUB_BASE = 'https://github.com/onnx/models/raw/main/validated/vision/classification/resnet/model/';
const S3_BASE = 'https://s3.amazonaws.com/onnx-model-zoo/resnet/';

/**
 * ImageNet labels (`synset.txt`, 1000 lines `<wnid> <names>`) as the zoo links them from the
 * ResNet README (`../synset.txt` beside `validated/vision/classification/resnet/`).
 */
export const LABELS_URL = 'https://github.com/onnx/models/raw/main/validated/vision/classification/synset.txt';

/** How the labels file is checked: no pointer/digest was readable, so by content (count and id shape). */
export const LABELS_SPEC = {
  /** File name in the cache and under a `baseUrl` mirror. */
  file: 'synset.txt',
  url: LABELS_URL,
  /** Exact number of classes (non-blank lines). */
  classes: 1000,
  /** Every line's id is a WordNet noun id. */
  idPattern: /^n\d{8}$/,
} as const;

interface SevenSpec {
  depth: 18 | 34 | 50 | 101 | 152;
  version: 1 | 2;
  bytes: number;
  sha256: string;
  top1: number;
  top5: number;
  outputName: string;
}

// Full digests: LFS pointers at onnx/models `validated/...` (18-v2, 152-v1) or `vision/...`
// (18-v1 @5372b0b4, 101-v1 @e8feddcd, 101-v2 @c40d4ef0, 152-v2 @652f4e4a), each with the size
// zoo-facts lists. Prefix-only: 34-v1, 50-v1, 34-v2, 50-v2 (their readable pointers were the
// pre-#537 versions, 2 bytes smaller, so not the files served today).
const SEVEN: readonly SevenSpec[] = [
  { depth: 18, version: 1, bytes: 46_820_737, sha256: '4e8f8653e7a2222b3904cc3fe8e304cd8b339ce1d05fd24688162f86fb6df52c', top1: 69.93, top5: 89.29, outputName: 'resnetv15_dense0_fwd' },
  { depth: 34, version: 1, bytes: 87_302_588, sha256: '883a41b2', top1: 73.73, top5: 91.4, outputName: 'resnetv16_dense0_fwd' },
  { depth: 50, version: 1, bytes: 102_583_340, sha256: 'af16a04a', top1: 74.93, top5: 92.38, outputName: 'resnetv17_dense0_fwd' },
  { depth: 101, version: 1, bytes: 178_914_043, sha256: '760702f6ec0138f71ebac66f4e95d1c72dc9267a8544f4d4667a53075fd0497c', top1: 76.48, top5: 93.2, outputName: 'resnetv18_dense0_fwd' },
  { depth: 152, version: 1, bytes: 241_816_206, sha256: 'b0ec92437bf8c9d0739bf9bafdea9638e13f9e3c1e2fb766ad546cc182fd3f6d', top1: 77.11, top5: 93.61, outputName: 'resnetv19_dense0_fwd' },
  { depth: 18, version: 2, bytes: 46_806_737, sha256: '3b4d048057854022232aa20bf68262e31718ab7119a17f920b8a2dc1433f824b', top1: 69.7, top5: 89.49, outputName: 'resnetv22_dense0_fwd' },
  { depth: 34, version: 2, bytes: 87_288_587, sha256: '3d3815e2', top1: 73.36, top5: 91.43, outputName: 'resnetv23_dense0_fwd' },
  { depth: 50, version: 2, bytes: 102_442_452, sha256: '79102261', top1: 75.81, top5: 92.82, outputName: 'resnetv24_dense0_fwd' },
  { depth: 101, version: 2, bytes: 178_682_301, sha256: '3a0a819ea0953fb4700b0d98e43540aeee253e5b4c503c552b0c7979fc67767d', top1: 77.42, top5: 93.61, outputName: 'resnetv25_dense0_fwd' },
  { depth: 152, version: 2, bytes: 241_503_848, sha256: '40fb3f6dd313ba786a2c8077a0ef7d7b4afeda5d037365400d3a7fbc2b1bee64', top1: 78.2, top5: 94.21, outputName: 'resnetv27_dense0_fwd' },
];

function sevenModel(s: SevenSpec): ZooModel {
  const file = `resnet${s.depth}-v${s.version}-7.onnx`;
  const s3Name = `resnet${s.depth}v${s.version}`;
  return {
    id: `resnet${s.depth}-v${s.version}`,
    name: `ResNet-${s.depth} v${s.version}`,
    depth: s.depth,
    version: s.version,
    file,
    url: GITHUB_BASE + file,
    mirrorUrl: `${S3_BASE}${s3Name}/${s3Name}.onnx`,
    md5Url: `${S3_BASE}${s3Name}/${s3Name}-md5.txt`,
    bytes: s.bytes,
    sha256: s.sha256,
    opset: 7,
    top1: s.top1,
    top5: s.top5,
    batch: 'dynamic',
    inputName: 'data',
    outputName: s.outputName,
    preprocess: IMAGENET_PREPROCESS,
  };
}

/** All models, v1 then v2 by depth, then the opset-12 ResNet-50 v1 pair. */
export const ZOO_MODELS: readonly ZooModel[] = Object.freeze([
  ...SEVEN.map(sevenModel),
  {
    id: 'resnet50-v1-12',
    name: 'ResNet-50 v1 (opset 12)',
    depth: 50,
    version: 1,
    file: 'resnet50-v1-12.onnx',
    url: `${GITHUB_BASE}resnet50-v1-12.onnx`,
    // Size of the current file (after PR #542 re-batchified its value_info) from the xetdata
    // mirror of onnx/models; no sha256 of this version was readable, so size-only.
    bytes: 102_576_593,
    sha256: '',
    opset: 12,
    top1: 74.97,
    top5: 92.33,
    batch: 'dynamic',
    inputName: 'data',
    preprocess: IMAGENET_PREPROCESS,
  },
  {
    id: 'resnet50-v1-12-int8',
    name: 'ResNet-50 v1 int8 (opset 12)',
    depth: 50,
    version: 1,
    file: 'resnet50-v1-12-int8.onnx',
    url: `${GITHUB_BASE}resnet50-v1-12-int8.onnx`,
    // LFS pointer at validated/ (commit 4c46cd00); the README: 24.6 MB, 1.82x faster than fp32
    // on a Xeon 8280 at batch 1.
    bytes: 25_816_052,
    sha256: 'c234f30975989788b4405f25253275aae247ab6dbdd34aaa69ab0a59ff76f6d0',
    opset: 12,
    top1: 74.77,
    top5: 92.32,
    batch: 'dynamic',
    inputName: 'data',
    preprocess: IMAGENET_PREPROCESS,
    quantized: true,
  },
] satisfies ZooModel[]);

/** Lower-case alphanumerics only, so `ResNet-50 v2`, `resnet50v2` and `resnet50-v2` meet. */
function aliasKey(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]/g, '');
}

const BY_ALIAS: ReadonlyMap<string, ZooModel> = (() => {
  const map = new Map<string, ZooModel>();
  for (const m of ZOO_MODELS) {
    for (const alias of [m.id, m.name, m.file.replace(/\.onnx$/, '')]) {
      const key = aliasKey(alias);
      const prior = map.get(key);
      // A clash would silently route one name to the wrong weights; fail at import instead.
      if (prior && prior !== m) throw new Error(`registry alias ${alias} is ambiguous (${prior.id}, ${m.id})`);
      map.set(key, m);
    }
  }
  return map;
})();

/**
 * Looks a zoo model up by id (`resnet50-v2`), display name (`ResNet-50 v2`) or zoo file stem
 * (`resnet50-v2-7`), ignoring case and punctuation.
 * @throws UnknownModelError listing the known ids.
 */
export function getZooModel(id: string): ZooModel {
  const model = BY_ALIAS.get(aliasKey(id));
  if (!model) throw new UnknownModelError(id, ZOO_MODELS.map((m) => m.id));
  return model;
}

/** Like getZooModel, but `undefined` for names that are not in the registry (e.g. file paths). */
export function findZooModel(id: string): ZooModel | undefined {
  return BY_ALIAS.get(aliasKey(id));
}
