/**
 * Shared data shapes of the classification core. No AWS import may ever appear under core/.
 */

/** A decoded, upright (EXIF orientation applied) 8-bit RGB image, pixels interleaved row-major. */
export interface RgbImage {
  /** Width in pixels. */
  readonly width: number;
  /** Height in pixels. */
  readonly height: number;
  /** `width * height * 3` bytes, R,G,B per pixel, rows top to bottom. */
  readonly data: Uint8Array;
}

/** Image container formats the decoder recognises from magic bytes. */
export type ImageFormat = 'jpeg' | 'png' | 'bmp' | 'gif' | 'tiff';

/** What the header says, read without decoding pixels. */
export interface ImageInfo {
  readonly format: ImageFormat;
  readonly width: number;
  readonly height: number;
  /** EXIF orientation 1..8 (1 when absent). */
  readonly orientation: number;
}

/** Preprocessing recipe; part of a model's description, never hard-coded in branches. */
export interface PreprocessConfig {
  /** Short side is resized to this many pixels (aspect ratio kept). @default 256 */
  readonly resizeShortSide: number;
  /** Square crop size taken from the resized image, which is the model's input size. @default 224 */
  readonly cropSize: number;
  /** Per-channel mean (R,G,B) in [0,1] units. */
  readonly mean: readonly [number, number, number];
  /** Per-channel standard deviation (R,G,B) in [0,1] units. */
  readonly std: readonly [number, number, number];
}

/** The zoo card's recipe: short side 256, centre crop 224, ImageNet mean/std. */
export const IMAGENET_PREPROCESS: PreprocessConfig = {
  resizeShortSide: 256,
  cropSize: 224,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
};

/** One entry of a model's top-k answer. */
export interface Label {
  /** 1-based rank. */
  readonly rank: number;
  /** Class index in the model output. */
  readonly index: number;
  /** Class id from the labels file (a WordNet id such as n02123045 for ImageNet). */
  readonly id: string;
  /** Human-readable class name (first synonym of the labels line's name part is NOT taken: the whole name is kept). */
  readonly name: string;
  /** Softmax probability in [0,1], full float precision. */
  readonly score: number;
}

/** An ancestor of the classes (WordNet's `dog` above 118 breeds), scored over the classes under it. */
export interface ParentLabel {
  /** 1-based rank among the parents. */
  readonly rank: number;
  /** WordNet id, e.g. `n02084071`. */
  readonly id: string;
  /** Readable name (the synset's first lemma), e.g. `dog`. */
  readonly name: string;
  /** Sum of the probabilities of the distinct classes under it, in [0,1]. */
  readonly score: number;
}

/** Wall-clock time spent per stage of one classification, in milliseconds. */
export interface StageTimings {
  decode: number;
  preprocess: number;
  inference: number;
  postprocess: number;
  total: number;
}

/** The answer for one image. */
export interface ClassificationResult {
  /** Model id (zoo id, or file name for a user's model). */
  readonly model: string;
  readonly labels: readonly Label[];
  /** Confident ancestors of the classes, best first (empty when the labels carry no WordNet ids). */
  readonly parents: readonly ParentLabel[];
  readonly timingsMs: StageTimings;
}
