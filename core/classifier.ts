import { existsSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

import { decodeImage } from './decode.js';
import {
  InvalidArgumentError,
  LabelsMismatchError,
  ModelNotCachedError,
  ResnetError,
  UnknownModelError,
} from './errors.js';
import { cachedModelPaths, defaultCacheDir, fetchModel } from './fetch/index.js';
import { loadLabels, type ClassLabel } from './labels.js';
import { describeModel, readOnnxHeader, type ModelInfo } from './model-info.js';
import { ClassTree, checkLabelOptions, type LabelOptions } from './hierarchy/hierarchy.js';
import { REKOGNITION_DEFAULT_MIN_CONFIDENCE, toRekognition, type DetectLabelsAnswer } from './hierarchy/rekognition.js';
import { averagedSoftmax } from './postprocess.js';
import { preprocess, tenCrop } from './preprocess.js';
import { getZooModel, ZOO_MODELS } from './registry.js';
import { ModelSession, SESSION_MEASURES, measureSince, type ClassifierSession, type SessionOpener } from './session.js';
import { IMAGENET_PREPROCESS, type ClassificationResult, type Label, type ParentLabel, type PreprocessConfig } from './types.js';

/** How to find and run a model. */
export interface ClassifierOptions {
  /** A zoo id (`resnet50-v2`, see `resnet models`) or a path to an `.onnx` file. */
  model: string;
  /** Labels file (`<id> <name>` per line). Required for a user's model unless `labels.txt` sits beside it. */
  labels?: string;
  /** Display id written into results. @default the zoo id, or the model file's base name */
  modelId?: string;
  /** Model cache folder. @default defaultCacheDir() (env RESNET_CACHE_DIR) */
  cacheDir?: string;
  /** Download a zoo model that is not cached yet. @default false */
  download?: boolean;
  /** Progress callback for downloads, in bytes. */
  onProgress?: (done: number, total: number) => void;
  /** onnxruntime intra-op threads. @default onnxruntime's choice (all cores) */
  threads?: number;
  /** onnxruntime execution providers, in order of preference. @default ['cpu'] */
  executionProviders?: string[];
  /** onnxruntime intra-op threads may busy-wait (see `SessionOptions.allowSpinning`). @default true */
  allowSpinning?: boolean;
  /** The graph was optimised offline; load it without optimising (see `SessionOptions.preOptimized`). @default false */
  preOptimized?: boolean;
  /** Largest image accepted, in pixels, checked from the header before decoding. @default decoder's default (env RESNET_MAX_PIXELS) */
  maxPixels?: number;
  /**
   * Opens the session. @default `ModelSession.create` (onnxruntime in the calling thread; its `run`
   * blocks that thread's event loop while the graph runs — the batch worker passes an opener that
   * runs it in a worker thread instead)
   */
  openSession?: SessionOpener;
}

/** Options of one classification. */
export interface ClassifyOptions {
  /** Number of labels to return. @default 5 */
  top?: number;
  /** Ten-crop test-time augmentation (4 corners + centre and mirrors, softmax averaged). @default false */
  tenCrop?: boolean;
  /** Confidence threshold, filters and parents, as DetectLabels has them. @default see LabelOptions */
  labels?: LabelOptions;
}

/** Tensors ready for inference, with the time it took to make them. */
export interface PreparedImage {
  /** One CHW tensor, or ten with `tenCrop`. */
  tensors: Float32Array[];
  /** Milliseconds spent decoding (including EXIF orientation). */
  decodeMs: number;
  /** Milliseconds spent resizing, cropping and normalising. */
  preprocessMs: number;
}

/**
 * Decodes and preprocesses one image elsewhere (for example on a worker-thread pool), with the
 * contract of {@link Classifier.prepare}: the same tensors, the same typed errors.
 */
export type Preparer = (bytes: Uint8Array, opts: Pick<ClassifyOptions, 'tenCrop'>) => Promise<PreparedImage>;

/** Where a model's files are and what to call it. */
interface ResolvedModel {
  modelPath: string;
  labelsPath: string;
  modelId: string;
  preprocess: PreprocessConfig;
}

async function resolveModel(opts: ClassifierOptions): Promise<ResolvedModel> {
  const looksLikePath = opts.model.endsWith('.onnx') || opts.model.includes('/') || opts.model.includes(path.sep);
  if (looksLikePath) {
    const modelPath = path.resolve(opts.model);
    const besideLabels = path.join(path.dirname(modelPath), 'labels.txt');
    const labelsPath = opts.labels ?? (existsSync(besideLabels) ? besideLabels : undefined);
    if (labelsPath === undefined) {
      throw new InvalidArgumentError(
        `No labels for ${opts.model}: pass --labels <file> (one class per line, "<id> <name>") or put labels.txt beside the model.`,
      );
    }
    return {
      modelPath,
      labelsPath: path.resolve(labelsPath),
      modelId: opts.modelId ?? path.basename(modelPath, '.onnx'),
      preprocess: IMAGENET_PREPROCESS,
    };
  }
  const spec = getZooModel(opts.model);
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  let paths = cachedModelPaths(spec.id, cacheDir);
  if (paths === null) {
    if (!opts.download) {
      throw new ModelNotCachedError(
        spec.id,
        `Run \`resnet fetch ${spec.id}\` (downloads ${(spec.bytes / 1e6).toFixed(0)} MB into ${cacheDir}), or pass --model <path.onnx> --labels <file>.`,
      );
    }
    paths = await fetchModel(spec.id, { cacheDir, ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) });
  }
  return { ...paths, modelId: opts.modelId ?? spec.id, preprocess: spec.preprocess };
}

/** Known model ids, for error messages. */
export function knownModelIds(): string[] {
  return ZOO_MODELS.map((m) => m.id);
}

/**
 * The classification engine: one ONNX session (reused), its labels and its preprocessing
 * recipe. Create it once per process (per Lambda container) and call `classify` per image.
 */
export class Classifier {
  private preparer: Preparer | undefined;

  private constructor(
    /** Model id written into results. */
    readonly modelId: string,
    private readonly session: ClassifierSession,
    /** Class labels, by output index. */
    readonly labels: readonly ClassLabel[],
    /** Preprocessing recipe, adapted to the model's input size. */
    readonly preprocessConfig: PreprocessConfig,
    private readonly maxPixels: number | undefined,
    /** What the model is, for users (`GET /model`): sizes, classes, trained or not. */
    readonly info: ModelInfo,
    /** The classes placed in the WordNet hierarchy (no parents when the labels carry no WordNet ids). */
    readonly tree: ClassTree,
  ) {}

  /**
   * Resolves the model (zoo cache, download, or a user's file), opens one onnxruntime
   * session and checks the labels against the model's output size.
   * @throws UnknownModelError, ModelNotCachedError, InvalidModelError, LabelsMismatchError, InvalidLabelsError
   */
  static async load(opts: ClassifierOptions): Promise<Classifier> {
    if (opts.model.trim() === '') throw new UnknownModelError(opts.model, knownModelIds());
    const resolved = await resolveModel(opts);
    const readStart = performance.now();
    const labels = await loadLabels(resolved.labelsPath);
    // The layer's other read, the weights, happens inside session creation and the first
    // inference: onnxruntime maps an external data file rather than reading it.
    measureSince(SESSION_MEASURES.layerRead, readStart);
    const open = opts.openSession ?? ((p, o) => ModelSession.create(p, o));
    const session = await open(resolved.modelPath, {
      ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
      ...(opts.executionProviders ? { executionProviders: opts.executionProviders } : {}),
      ...(opts.allowSpinning !== undefined ? { allowSpinning: opts.allowSpinning } : {}),
      ...(opts.preOptimized ? { preOptimized: true } : {}),
    });
    if (labels.length !== session.numClasses) {
      await session.dispose();
      throw new LabelsMismatchError(labels.length, session.numClasses);
    }
    // The recipe scales with the model's input: a 299-pixel model gets a 342-pixel short side.
    const base = resolved.preprocess;
    const cfg: PreprocessConfig =
      session.inputSize === base.cropSize
        ? base
        : { ...base, cropSize: session.inputSize, resizeShortSide: Math.round((session.inputSize * base.resizeShortSide) / base.cropSize) };
    const header = await readOnnxHeader(resolved.modelPath).catch(async (err: unknown) => {
      await session.dispose();
      throw err;
    });
    const info = describeModel({
      id: resolved.modelId,
      inputSize: session.inputSize,
      numClasses: session.numClasses,
      maxBatch: session.maxBatch,
      resizeShortSide: cfg.resizeShortSide,
      header,
    });
    return new Classifier(resolved.modelId, session, labels, cfg, opts.maxPixels, info, ClassTree.build(labels));
  }

  /** Number of classes the model outputs. */
  get numClasses(): number {
    return this.session.numClasses;
  }

  /** Largest batch the model accepts: 1 for fixed-batch files, null when dynamic. */
  get maxBatch(): number | null {
    return this.session.maxBatch;
  }

  /**
   * Routes {@link prepare} (and so `classify` and `classifyMany`) through `preparer`, e.g. a
   * worker-thread pool that keeps decoding off a server's event loop; null decodes here again.
   */
  usePreparer(preparer: Preparer | null): void {
    this.preparer = preparer ?? undefined;
  }

  /**
   * Decodes and preprocesses one image (no inference), through the preparer when one is set.
   * @throws EmptyInputError, UnsupportedFormatError, CorruptImageError, ImageTooLargeError
   */
  prepare(bytes: Uint8Array, opts: Pick<ClassifyOptions, 'tenCrop'> = {}): Promise<PreparedImage> {
    return this.preparer ? this.preparer(bytes, opts) : this.prepareHere(bytes, opts);
  }

  /**
   * Decodes and preprocesses one image in the calling thread (what a preparer's fallback calls).
   * @throws EmptyInputError, UnsupportedFormatError, CorruptImageError, ImageTooLargeError
   */
  async prepareHere(bytes: Uint8Array, opts: Pick<ClassifyOptions, 'tenCrop'> = {}): Promise<PreparedImage> {
    const t0 = performance.now();
    const img = await decodeImage(bytes, {
      minShortSide: this.preprocessConfig.resizeShortSide,
      ...(this.maxPixels !== undefined ? { maxPixels: this.maxPixels } : {}),
    });
    const t1 = performance.now();
    const tensors = opts.tenCrop ? tenCrop(img, this.preprocessConfig) : [preprocess(img, this.preprocessConfig)];
    const t2 = performance.now();
    return { tensors, decodeMs: t1 - t0, preprocessMs: t2 - t1 };
  }

  /** Runs inference over prepared tensors, batched as the model allows; logits per tensor. */
  infer(tensors: Float32Array[]): Promise<Float32Array[]> {
    return this.session.run(tensors);
  }

  /** Softmax (averaged over crops when several logits are given) and top-k labels. */
  labelsFor(logits: readonly Float32Array[], top = 5): Label[] {
    return this.answerFor(logits, top).labels;
  }

  /**
   * Softmax (averaged over crops) and the answer: the top classes and their confident parents,
   * with the options' threshold and filters (`ClassTree.rank`, the one ranking every adapter uses).
   */
  answerFor(logits: readonly Float32Array[], top = 5, opts: LabelOptions = {}): { labels: Label[]; parents: ParentLabel[] } {
    return this.tree.rank(averagedSoftmax(logits), top, opts);
  }

  /**
   * Classify options that keep every class and parent over the threshold (Rekognition's default
   * MinConfidence 55 when none is given), for {@link toRekognition}.
   */
  rekognitionOptions(opts: LabelOptions = {}): ClassifyOptions {
    // maxLabels counts every label here (toRekognition cuts), not only the parents.
    const { maxLabels: _total, ...rest } = opts;
    return { top: this.numClasses, labels: { ...rest, minConfidence: opts.minConfidence ?? REKOGNITION_DEFAULT_MIN_CONFIDENCE } };
  }

  /** A result classified with {@link rekognitionOptions}, in DetectLabels' shape, cut to `opts.maxLabels`. */
  toRekognition(result: ClassificationResult, opts: LabelOptions = {}): DetectLabelsAnswer {
    return toRekognition(result, this.tree, {
      modelId: result.model,
      ...(opts.maxLabels !== undefined ? { maxLabels: opts.maxLabels } : {}),
      ...(opts.parents === false ? { withParents: false } : {}),
    });
  }

  /**
   * Classifies one encoded image.
   * @throws the errors of `prepare`, InvalidArgumentError for a bad `top`
   */
  async classify(bytes: Uint8Array, opts: ClassifyOptions = {}): Promise<ClassificationResult> {
    const [result] = await this.classifyMany([bytes], opts);
    if (result instanceof Error) throw result;
    return result!;
  }

  /**
   * Classifies several images with one batched inference where the model allows. A bad image
   * yields its typed error in its slot; the others go on.
   */
  async classifyMany(images: readonly Uint8Array[], opts: ClassifyOptions = {}): Promise<Array<ClassificationResult | ResnetError>> {
    const top = opts.top ?? 5;
    if (!Number.isInteger(top) || top < 1) throw new InvalidArgumentError(`top must be a whole number >= 1, got ${top}.`);
    checkLabelOptions(opts.labels ?? {});
    const prepared: Array<PreparedImage | ResnetError> = [];
    for (const bytes of images) {
      try {
        prepared.push(await this.prepare(bytes, opts));
      } catch (err) {
        if (!(err instanceof ResnetError)) throw err;
        prepared.push(err);
      }
    }
    const ok = prepared.filter((p): p is PreparedImage => !(p instanceof ResnetError));
    const t0 = performance.now();
    const logits = ok.length ? await this.infer(ok.flatMap((p) => p.tensors)) : [];
    const inferenceMs = ok.length ? (performance.now() - t0) / ok.length : 0;
    let cursor = 0;
    return prepared.map((p) => {
      if (p instanceof ResnetError) return p;
      const mine = logits.slice(cursor, cursor + p.tensors.length);
      cursor += p.tensors.length;
      const t1 = performance.now();
      const { labels, parents } = this.answerFor(mine, top, opts.labels);
      const postprocessMs = performance.now() - t1;
      return {
        model: this.modelId,
        labels,
        parents,
        timingsMs: {
          decode: p.decodeMs,
          preprocess: p.preprocessMs,
          inference: inferenceMs,
          postprocess: postprocessMs,
          total: p.decodeMs + p.preprocessMs + inferenceMs + postprocessMs,
        },
      };
    });
  }

  /** Releases the onnxruntime session. */
  dispose(): Promise<void> {
    return this.session.dispose();
  }
}
