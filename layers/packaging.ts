/**
 * Decides how a model ships to Lambda: inside a layer (mounted at /opt/model), or as an S3
 * object the function downloads to /tmp at cold start. Pure: sizes in, decision out.
 */

/** Lambda's limit on a function's unzipped code plus all its layers, bytes: 250 MiB = 262,144,000 bytes (AWS's "250 MB"). */
export const LAMBDA_UNZIPPED_LIMIT_BYTES = 262_144_000;
/** Lambda's limit on layers per function. */
export const LAMBDA_MAX_LAYERS = 5;
/** Lambda's largest /tmp (ephemeral storage), MB. */
export const LAMBDA_MAX_EPHEMERAL_MB = 10_240;

/** Sizes that go into the decision. */
export interface PackagingInput {
  /** Requested source; 'auto' picks the layer when it fits. */
  readonly requested: 'auto' | 'layer' | 's3';
  /** Unzipped bytes of the model layer's content (model.onnx + labels.txt). */
  readonly modelLayerBytes: number;
  /** Unzipped bytes of the onnxruntime layer for the target architecture. */
  readonly runtimeLayerBytes: number;
  /** Bytes reserved for the function's own bundled code (a budget, not the bundle's measured size). */
  readonly functionBytes: number;
  /** Layers the function has besides the model layer (the onnxruntime layer counts). @default 1 */
  readonly otherLayers?: number;
  /** Label for messages, e.g. "resnet50-v2 on x86_64". */
  readonly label?: string;
}

/** The outcome, with the arithmetic that led to it. */
export interface PackagingDecision {
  readonly mode: 'layer' | 's3';
  /** One sentence a person can read in the synth output. */
  readonly reason: string;
  /** Unzipped bytes of function + layers for the chosen mode. */
  readonly totalBytes: number;
  /** Unzipped bytes function + layers would take with the model in a layer. */
  readonly layerTotalBytes: number;
  /** LAMBDA_UNZIPPED_LIMIT_BYTES minus layerTotalBytes; negative when the layer does not fit. */
  readonly headroomBytes: number;
  /** Layers the function gets for the chosen mode. */
  readonly layers: number;
  /** /tmp size the function needs, MB (512 = Lambda's default). */
  readonly ephemeralStorageMb: number;
}

// One unit for every size in the decision: MiB, the unit Lambda's limit is a round number in.
const MIB = 1024 * 1024;
const fmt = (bytes: number): string => `${(bytes / MIB).toFixed(1)} MiB`;

/**
 * Picks layer or S3 packaging.
 * @throws Error when 'layer' is requested but does not fit, or when even the S3 path cannot
 *   work (the runtime layer alone exceeds the limit, or the model exceeds Lambda's /tmp).
 */
export function decidePackaging(input: PackagingInput): PackagingDecision {
  const other = input.otherLayers ?? 1;
  const label = input.label ? `${input.label}: ` : '';
  const base = input.functionBytes + input.runtimeLayerBytes;
  const layerTotal = base + input.modelLayerBytes;
  const headroom = LAMBDA_UNZIPPED_LIMIT_BYTES - layerTotal;
  const layersWithModel = other + 1;
  const limit = fmt(LAMBDA_UNZIPPED_LIMIT_BYTES);
  // The function's share is a reserve (the real bundles are a few MiB), so it is labelled as one.
  const sum = `function budget ${fmt(input.functionBytes)} + onnxruntime ${fmt(input.runtimeLayerBytes)} + model ${fmt(input.modelLayerBytes)} = ${fmt(layerTotal)}`;
  const fitsSize = headroom >= 0;
  const fitsCount = layersWithModel <= LAMBDA_MAX_LAYERS;

  if (base > LAMBDA_UNZIPPED_LIMIT_BYTES) {
    throw new Error(`${label}function + onnxruntime layer alone take ${fmt(base)}, over Lambda's ${limit}; use a container-image function.`);
  }
  // Model in /tmp next to a download buffer-free stream: room for the file plus Lambda's default 512 MB.
  const tmpMb = Math.min(LAMBDA_MAX_EPHEMERAL_MB, Math.max(512, Math.ceil(input.modelLayerBytes / (1024 * 1024)) + 512));
  if (Math.ceil(input.modelLayerBytes / (1024 * 1024)) > LAMBDA_MAX_EPHEMERAL_MB) {
    throw new Error(`${label}the model (${fmt(input.modelLayerBytes)}) exceeds Lambda's largest /tmp (10,240 MiB); use a container-image function.`);
  }
  const s3 = (reason: string): PackagingDecision => ({
    mode: 's3', reason, totalBytes: base, layerTotalBytes: layerTotal, headroomBytes: headroom, layers: other, ephemeralStorageMb: tmpMb,
  });

  if (input.requested === 's3') {
    return s3(`${label}model as S3 artefact loaded to /tmp at cold start, as requested (modelSource=s3); in a layer it would take ${sum}.`);
  }
  if (fitsSize && fitsCount) {
    return {
      mode: 'layer',
      reason: `${label}model in a layer: ${sum}, within Lambda's ${limit} unzipped limit (${fmt(headroom)} to spare), ${layersWithModel} of ${LAMBDA_MAX_LAYERS} layers.`,
      totalBytes: layerTotal, layerTotalBytes: layerTotal, headroomBytes: headroom, layers: layersWithModel, ephemeralStorageMb: 512,
    };
  }
  const why = !fitsSize
    ? `${sum} exceeds Lambda's ${limit} unzipped limit by ${fmt(-headroom)}`
    : `the model layer would make ${layersWithModel} layers, over Lambda's ${LAMBDA_MAX_LAYERS}`;
  if (input.requested === 'layer') {
    throw new Error(`${label}modelSource=layer cannot work: ${why}. Use -c modelSource=auto (or s3) to load the model from S3 at cold start.`);
  }
  return s3(`${label}model as S3 artefact loaded to /tmp at cold start: ${why} (a container-image function, up to 10 GB, is the other way out).`);
}
