/**
 * Typed, coded errors of the classification core. Every error says what went wrong and
 * what the caller can do about it; adapters (CLI, Lambda, batch) map `code` to their own
 * surface (exit code, HTTP status, tag value) without parsing messages.
 */

/** Stable machine-readable error codes. Adapters key on these; never rename one. */
export type ErrorCode =
  | 'EMPTY_INPUT'
  | 'UNSUPPORTED_FORMAT'
  | 'CORRUPT_IMAGE'
  | 'IMAGE_TOO_LARGE'
  | 'IMAGE_TOO_SMALL'
  | 'FILE_NOT_FOUND'
  | 'UNKNOWN_MODEL'
  | 'MODEL_NOT_CACHED'
  | 'INVALID_MODEL'
  | 'LABELS_MISMATCH'
  | 'INVALID_LABELS'
  | 'DOWNLOAD_FAILED'
  | 'CHECKSUM_MISMATCH'
  | 'INVALID_ARGUMENT'
  | 'CANNOT_QUANTIZE';

/** Base class: `code` is stable, `message` is for people, `cause` keeps the original error. */
export class ResnetError extends Error {
  /** Whether retrying the same operation could succeed (network, throttling). Bad input is never retryable. */
  readonly retryable: boolean;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: { cause?: unknown; retryable?: boolean } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.retryable = options.retryable ?? false;
  }

  /** A plain object safe to serialise to clients and logs (no stack, no cause chain). */
  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** The input had zero bytes. */
export class EmptyInputError extends ResnetError {
  constructor(what = 'image') {
    super('EMPTY_INPUT', `The ${what} is empty (0 bytes); upload the file again.`);
  }
}

/** The bytes are not an image format the decoder supports. */
export class UnsupportedFormatError extends ResnetError {
  constructor(detail: string) {
    super(
      'UNSUPPORTED_FORMAT',
      `Not a supported image (${detail}); send JPEG, PNG, BMP, GIF or TIFF.`,
    );
  }
}

/** The bytes look like a supported format but cannot be decoded (truncated, corrupt). */
export class CorruptImageError extends ResnetError {
  constructor(format: string, cause?: unknown) {
    const reason = cause instanceof Error ? `: ${cause.message}` : '';
    super('CORRUPT_IMAGE', `The ${format} image could not be decoded${reason}. Check that the whole file was sent, or re-save it from an image editor and send it again.`, { cause });
  }
}

/** The image's header declares more pixels than allowed; rejected before any pixel buffer is allocated. */
export class ImageTooLargeError extends ResnetError {
  constructor(
    readonly width: number,
    readonly height: number,
    readonly maxPixels: number,
  ) {
    super(
      'IMAGE_TOO_LARGE',
      `Image is ${width}x${height} (${(width * height / 1e6).toFixed(1)} MP), over the limit of ${(maxPixels / 1e6).toFixed(1)} MP; downscale it or raise maxPixels (RESNET_MAX_PIXELS).`,
    );
  }
}

/** The image is too small to classify meaningfully. */
export class ImageTooSmallError extends ResnetError {
  constructor(width: number, height: number) {
    super('IMAGE_TOO_SMALL', `Image is ${width}x${height}; it needs at least 1 pixel on each side.`);
  }
}

/** A local path does not exist or cannot be read. */
export class FileNotFoundError extends ResnetError {
  constructor(path: string, cause?: unknown) {
    super('FILE_NOT_FOUND', `Cannot read ${path}; check the path and its permissions.`, { cause });
  }
}

/** A model id that is not in the registry and not a path to an .onnx file. */
export class UnknownModelError extends ResnetError {
  constructor(id: string, known: readonly string[]) {
    super('UNKNOWN_MODEL', `Unknown model "${id}"; use one of ${known.join(', ')} or a path to an .onnx file (see \`resnet models\`).`);
  }
}

/** A zoo model that is not in the local cache and may not be downloaded. */
export class ModelNotCachedError extends ResnetError {
  constructor(id: string, hint: string) {
    super('MODEL_NOT_CACHED', `Model ${id} is not in the cache. ${hint}`);
  }
}

/** The ONNX file cannot be used as an image classifier. */
export class InvalidModelError extends ResnetError {
  constructor(detail: string, cause?: unknown) {
    super('INVALID_MODEL', `The model cannot be used as a classifier: ${detail}.`, { cause });
  }
}

/** The labels file does not have one line per model output class. */
export class LabelsMismatchError extends ResnetError {
  constructor(labels: number, classes: number) {
    super('LABELS_MISMATCH', `The labels file has ${labels} labels but the model outputs ${classes} classes; pass the labels file that belongs to this model.`);
  }
}

/** The labels file cannot be parsed. */
export class InvalidLabelsError extends ResnetError {
  constructor(detail: string) {
    super('INVALID_LABELS', `Invalid labels file: ${detail}. Expected one class per line: "<id> <name>".`);
  }
}

/** A download failed (network, HTTP status). Retryable. */
export class DownloadFailedError extends ResnetError {
  constructor(url: string, detail: string, placeHint: string, cause?: unknown) {
    super('DOWNLOAD_FAILED', `Download of ${url} failed (${detail}). ${placeHint}`, { cause, retryable: true });
  }
}

/** A downloaded or cached file does not match its published checksum; the file was deleted. */
export class ChecksumMismatchError extends ResnetError {
  constructor(file: string, algorithm: string, expected: string, actual: string) {
    super('CHECKSUM_MISMATCH', `${file}: ${algorithm} is ${actual}, expected ${expected}; the file was deleted, run the fetch again.`);
  }
}

/** A caller passed an invalid option value. */
export class InvalidArgumentError extends ResnetError {
  constructor(detail: string) {
    super('INVALID_ARGUMENT', detail);
  }
}

/** Normalises anything thrown into a ResnetError-like `{code, message}` for reporting. */
export function describeError(err: unknown): { code: string; message: string } {
  if (err instanceof ResnetError) return err.toJSON();
  if (err instanceof Error) return { code: 'INTERNAL', message: err.message };
  return { code: 'INTERNAL', message: String(err) };
}
