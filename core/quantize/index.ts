/**
 * Static int8 quantization of a float32 ONNX classifier into the QDQ format: the graph is prepared
 * (opset 13, BatchNormalization folded into its Conv), the tensors to quantize are chosen, their
 * ranges are calibrated by running the float32 model through onnxruntime with those tensors exposed
 * as extra graph outputs, and QuantizeLinear/DequantizeLinear pairs are written around them.
 * onnxruntime's CPU provider fuses the pairs into integer kernels (QLinearConv, QLinearAdd, QGemm,
 * QLinearGlobalAveragePool) when the session's graph optimisation level is `basic` or higher.
 */
import * as ort from 'onnxruntime-node';

import { InvalidArgumentError } from '../errors.js';
import { encodeModel, type OnnxModel } from '../model-builder/onnx-model.js';
import { decodeModel } from '../model-builder/onnx-reader.js';
import { type CalibrationMethod, TensorStats } from './calibrate.js';
import { CannotQuantizeError } from './errors.js';
import { prepareGraph, type QuantGraph } from './graph.js';
import { emitQdq, planQdq, type QdqPlan } from './qdq.js';

export type { CalibrationMethod } from './calibrate.js';
export { CannotQuantizeError } from './errors.js';

/** How to quantize. */
export interface QuantizeOptions {
  /** One int8 scale per output channel of each weight (instead of one per tensor). @default false */
  perChannel?: boolean;
  /** How activation ranges are chosen from the calibration statistics. @default 'minmax' */
  method?: CalibrationMethod;
  /** For `percentile`: the percentile of |x| kept, in percent. @default 99.999 */
  percentile?: number;
  /**
   * Names of nodes to leave in float32, or `classifier` for the last Gemm/MatMul (the one writing a
   * graph output): the final layer decides between close classes and costs little in float32.
   * @default none
   */
  exclude?: readonly string[];
  /** onnxruntime intra-op threads for calibration. @default onnxruntime's default */
  threads?: number;
  /** Called after each calibration image. */
  onProgress?: (done: number, total: number) => void;
}

/** The result of {@link quantizeModel}. */
export interface QuantizedModel {
  /** The serialized QDQ model. */
  readonly bytes: Uint8Array;
  /** Activation tensors given their own calibrated range. */
  readonly calibratedTensors: number;
  /** Activation tensors reusing another's range (MaxPool, Flatten, …). */
  readonly sharedTensors: number;
  /** Conv/Gemm/MatMul nodes whose weights are int8. */
  readonly quantizedWeights: number;
  /** Calibration images run. */
  readonly samples: number;
}

/** The calibration model: the prepared float graph with every tensor to calibrate as an output. */
function calibrationModel(g: QuantGraph, tensors: readonly string[]): OnnxModel {
  const inits = [...g.initializers.values()];
  return {
    irVersion: g.irVersion,
    opsetVersion: g.opset,
    producerName: 'resnet-serverless calibration',
    producerVersion: '1',
    graphName: g.graphName,
    nodes: g.nodes.map((n) => ({ ...n, attributes: n.attributes.map((a) => ({ name: a.name, encoded: a.encoded })) })),
    initializers: inits.map((t) => ({ name: t.name, dims: t.dims, dataType: t.dataType, data: { length: t.raw.length, fill: (target: Uint8Array) => target.set(t.raw) } })),
    inputs: [{ name: g.input.name, dims: g.input.dims ?? null }],
    outputs: [...g.outputs.map((o) => ({ name: o.name, dims: o.dims, elemType: o.elemType })), ...tensors.filter((t) => !g.outputs.some((o) => o.name === t)).map((name) => ({ name, dims: null }))],
  };
}

/** The shape one calibration image is fed with: the model's fixed batch (the image repeated) or 1. */
function feedShape(g: QuantGraph, imageLength: number): { batch: number; dims: number[] } {
  const dims = g.input.dims;
  if (!dims || dims.length !== 4) throw new CannotQuantizeError(`its input "${g.input.name}" is not [N,C,H,W]`);
  const fixed = (d: number | string | undefined): number | null => (typeof d === 'number' && d > 0 ? d : null);
  const [n, c, h, w] = dims.map(fixed);
  if (c === null || h === null || w === null) throw new CannotQuantizeError(`its input "${g.input.name}" has symbolic channel or spatial dimensions`);
  if (c * h * w !== imageLength) throw new InvalidArgumentError(`A calibration tensor has ${imageLength} floats; the model's input takes ${c}x${h}x${w} = ${c * h * w}.`);
  const batch = n ?? 1;
  return { batch, dims: [batch, c, h, w] };
}

/** The node names `exclude` stands for; `classifier` is the Gemm/MatMul that writes a graph output. */
function excludedNodes(g: QuantGraph, exclude: readonly string[]): Set<string> {
  const names = new Set(g.nodes.map((n) => n.name));
  const outputs = new Set(g.outputs.map((o) => o.name));
  const out = new Set<string>();
  for (const name of exclude) {
    if (name === 'classifier') {
      const head = g.nodes.filter((n) => (n.opType === 'Gemm' || n.opType === 'MatMul') && n.outputs.some((o) => outputs.has(o)));
      if (head.length === 0) throw new InvalidArgumentError('--exclude classifier: no Gemm or MatMul writes a graph output in this model.');
      head.forEach((n) => out.add(n.name));
    } else if (names.has(name)) out.add(name);
    else throw new InvalidArgumentError(`--exclude ${name}: the model has no node of that name.`);
  }
  return out;
}

/**
 * Quantizes an ONNX model's bytes with calibration tensors (each one preprocessed image, CHW float32,
 * as the classifier feeds the model).
 * @throws CannotQuantizeError for a model the quantizer cannot rewrite; InvalidModelError when the
 *   bytes are not ONNX; InvalidArgumentError without calibration tensors or with ones of the wrong size.
 */
export async function quantizeModel(modelBytes: Uint8Array, calibration: readonly Float32Array[], opts: QuantizeOptions = {}): Promise<QuantizedModel> {
  if (calibration.length === 0) throw new InvalidArgumentError('Quantization needs at least one calibration image.');
  const method = opts.method ?? 'minmax';
  const g = prepareGraph(decodeModel(modelBytes));
  const { batch, dims } = feedShape(g, calibration[0].length);
  const exclude = excludedNodes(g, opts.exclude ?? []);

  // Calibrate on the graph with its Relus still in place: the planned names are the Relu outputs.
  const plan: QdqPlan = planQdq({ ...g, nodes: g.nodes.map((n) => ({ ...n, outputs: [...n.outputs] })) }, exclude);
  const exposed = [...plan.calibrated].filter((t) => t !== g.input.name);
  const stats = new Map([...plan.calibrated].map((t) => [t, new TensorStats(method !== 'minmax')]));

  const sessionOpts: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'basic', ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}) };
  const session = await ort.InferenceSession.create(encodeModel(calibrationModel(g, exposed)).toBytes(), sessionOpts).catch((err: unknown) => {
    throw new CannotQuantizeError(`onnxruntime could not run its float32 graph prepared for calibration (${err instanceof Error ? err.message : String(err)})`);
  });
  try {
    for (let i = 0; i < calibration.length; i++) {
      const image = calibration[i];
      const data = new Float32Array(batch * image.length);
      for (let b = 0; b < batch; b++) data.set(image, b * image.length);
      stats.get(g.input.name)?.add(image);
      const out = await session.run({ [g.input.name]: new ort.Tensor('float32', data, dims) }, exposed);
      for (const t of exposed) {
        const v = out[t];
        if (v.data instanceof Float32Array) stats.get(t)?.add(v.data);
        v.dispose();
      }
      opts.onProgress?.(i + 1, calibration.length);
    }
  } finally {
    await session.release();
  }

  const ranges = new Map([...stats].map(([t, s]) => {
    // Relu outputs are non-negative; uint8 covers [0, t] with 255 steps rather than 128.
    const levels = s.min >= 0 ? 255 : 128;
    return [t, s.range(method, opts.percentile, levels)] as const;
  }));
  const finalPlan = planQdq(g, exclude);
  const model = emitQdq(g, finalPlan, ranges, { perChannel: opts.perChannel ?? false, exclude });
  return {
    bytes: encodeModel(model).toBytes(),
    calibratedTensors: finalPlan.calibrated.size,
    sharedTensors: finalPlan.shared.size,
    quantizedWeights: model.nodes.filter((n) => ['Conv', 'Gemm', 'MatMul'].includes(n.opType) && (n.inputs[1] ?? '').endsWith('_DequantizeLinear_Output')).length,
    samples: calibration.length,
  };
}
