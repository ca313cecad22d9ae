/**
 * Places QuantizeLinear/DequantizeLinear pairs in a prepared float32 graph (the "QDQ" format that
 * onnxruntime's CPU provider fuses into integer kernels): which tensors are quantized, and the
 * rewritten graph once their ranges are known.
 *
 * - Conv, Gemm and MatMul with constant weights: input activation, int8 symmetric weights (per
 *   output channel or per tensor), int32 bias with scale s_input·s_weight.
 * - Add of two activations, GlobalAveragePool and AveragePool: inputs and output, so the residual
 *   sum and the pool run as QLinearAdd / QLinearGlobalAveragePool.
 * - MaxPool, Flatten, Reshape, Transpose, Squeeze, Unsqueeze, Identity of a quantized tensor: the
 *   output reuses the input's scale and zero point, so the QDQ pair around them drops and they run
 *   on uint8 directly.
 * - A Relu right after a quantized Conv or Add is removed: its output's range starts at 0, so the
 *   uint8 zero point is 0 and quantizing clamps negatives exactly as the Relu did.
 * Activations are uint8 with a zero point (asymmetric); weights int8 with zero point 0.
 */
import type { OnnxInitializer, OnnxModel, OnnxNode } from '../model-builder/onnx-model.js';
import { DATA_TYPE, type DecodedNode } from '../model-builder/onnx-reader.js';
import { consumersOf, floatsOf, numberAttr, type Initializer, type QuantGraph } from './graph.js';

/** Which tensors get ranges, and which reuse another tensor's. */
export interface QdqPlan {
  /** Tensors whose range comes from calibration. */
  readonly calibrated: ReadonlySet<string>;
  /** Output tensor → the tensor whose scale and zero point it reuses. */
  readonly shared: ReadonlyMap<string, string>;
}

const WEIGHTED = new Set(['Conv', 'Gemm', 'MatMul']);
const POOLS = new Set(['GlobalAveragePool', 'AveragePool']);
const PASS_THROUGH = new Set(['MaxPool', 'Flatten', 'Reshape', 'Transpose', 'Squeeze', 'Unsqueeze', 'Identity']);

function isWeighted(n: DecodedNode, g: QuantGraph): boolean {
  const w = g.initializers.get(n.inputs[1] ?? '');
  if (!WEIGHTED.has(n.opType) || !w || w.dataType !== DATA_TYPE.float) return false;
  return n.opType !== 'MatMul' || w.dims.length === 2;
}

/**
 * Chooses the tensors to quantize and removes the Relus that quantization replaces (mutates `g`).
 * Call before calibration only on a copy if the Relu outputs must stay observable: the calibrated
 * names are the Relu outputs, which the returned plan keeps.
 */
export function planQdq(g: QuantGraph, exclude: ReadonlySet<string> = new Set()): QdqPlan {
  const isActivation = (name: string): boolean => name !== '' && !g.initializers.has(name);
  const quantized = new Set<string>();
  for (const n of g.nodes) {
    if (exclude.has(n.name)) continue;
    if (isWeighted(n, g)) {
      quantized.add(n.inputs[0]);
      if (n.opType === 'Conv') quantized.add(n.outputs[0]);
    } else if (n.opType === 'Add' && n.inputs.length === 2 && n.inputs.every(isActivation)) {
      n.inputs.forEach((i) => quantized.add(i));
      quantized.add(n.outputs[0]);
    } else if (POOLS.has(n.opType)) {
      quantized.add(n.inputs[0]);
      quantized.add(n.outputs[0]);
    } else if (n.opType === 'MaxPool') {
      // Its output reuses this range (below), so the stem's Conv-Relu-MaxPool runs in uint8.
      quantized.add(n.inputs[0]);
    }
  }

  const graphOutputs = new Set(g.outputs.map((o) => o.name));
  const consumers = consumersOf(g.nodes);
  const producer = new Map(g.nodes.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
  const removed = new Set<DecodedNode>();
  for (const relu of g.nodes) {
    if (relu.opType !== 'Relu' || !quantized.has(relu.outputs[0])) continue;
    const x = relu.inputs[0];
    const from = producer.get(x);
    if (!from || !(from.opType === 'Conv' || from.opType === 'Add') || !quantized.has(x)) continue;
    if (graphOutputs.has(x) || (consumers.get(x)?.length ?? 0) !== 1) continue;
    from.outputs = [relu.outputs[0]];
    quantized.delete(x);
    removed.add(relu);
  }
  g.nodes = g.nodes.filter((n) => !removed.has(n));

  const shared = new Map<string, string>();
  for (const n of g.nodes) {
    if (!PASS_THROUGH.has(n.opType) || exclude.has(n.name)) continue;
    const source = shared.get(n.inputs[0]) ?? n.inputs[0];
    if (!quantized.has(n.inputs[0]) && !shared.has(n.inputs[0])) continue;
    shared.set(n.outputs[0], source);
    quantized.delete(n.outputs[0]);
  }
  return { calibrated: quantized, shared };
}

/** Scale and zero point of a uint8 activation. */
export interface ActivationParams {
  readonly scale: number;
  readonly zeroPoint: number;
}

/** uint8 asymmetric parameters for a range containing 0. */
export function activationParams(range: { min: number; max: number }): ActivationParams {
  const lo = Math.min(range.min, 0);
  const hi = Math.max(range.max, 0);
  const scale = hi > lo ? (hi - lo) / 255 : 1;
  const zeroPoint = Math.min(255, Math.max(0, Math.round(-lo / scale)));
  return { scale, zeroPoint };
}

/** Round half to even, as ONNX QuantizeLinear rounds. */
function roundEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function bytesOf(a: Float32Array | Int8Array | Int32Array | Uint8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Options of the rewrite. */
export interface QdqOptions {
  /** One weight scale per output channel instead of per tensor. */
  readonly perChannel: boolean;
  /** Names of nodes left in float32 (as given to {@link planQdq}). */
  readonly exclude?: ReadonlySet<string>;
}

/**
 * Writes the quantized model: Q/DQ pairs after every quantized activation, DequantizeLinear over
 * int8 weights and int32 biases. `ranges` must hold every tensor of `plan.calibrated`.
 */
export function emitQdq(g: QuantGraph, plan: QdqPlan, ranges: ReadonlyMap<string, { min: number; max: number }>, opts: QdqOptions): OnnxModel {
  const params = new Map<string, ActivationParams>();
  for (const name of plan.calibrated) {
    const r = ranges.get(name);
    if (!r) throw new RangeError(`no calibration range for ${name}`);
    params.set(name, activationParams(r));
  }
  for (const [out, source] of plan.shared) {
    const p = params.get(source);
    if (p) params.set(out, p);
  }

  const inits = new Map<string, Initializer>(g.initializers);
  const nodes: OnnxNode[] = [];
  const dqName = (t: string): string => `${t}_DequantizeLinear_Output`;
  const add = (t: Initializer): string => {
    inits.set(t.name, t);
    return t.name;
  };

  const quantizeActivation = (t: string): void => {
    const p = params.get(t);
    if (!p) return;
    const scale = add({ name: `${t}_scale`, dims: [], dataType: DATA_TYPE.float, raw: bytesOf(Float32Array.of(p.scale)) });
    const zp = add({ name: `${t}_zero_point`, dims: [], dataType: DATA_TYPE.uint8, raw: Uint8Array.of(p.zeroPoint) });
    nodes.push({ opType: 'QuantizeLinear', name: `${t}_QuantizeLinear`, inputs: [t, scale, zp], outputs: [`${t}_quantized`] });
    nodes.push({ opType: 'DequantizeLinear', name: `${t}_DequantizeLinear`, inputs: [`${t}_quantized`, scale, zp], outputs: [dqName(t)] });
  };

  /** int8 weights: symmetric, [-127, 127]; returns the DQ output and the per-channel (or single) scales. */
  const quantizeWeight = (name: string, axis: number): { output: string; scales: Float32Array } => {
    const w = inits.get(name);
    if (!w) throw new RangeError(`missing weight ${name}`);
    const values = floatsOf(w);
    const channels = opts.perChannel ? w.dims[axis] : 1;
    const inner = opts.perChannel ? w.dims.slice(axis + 1).reduce((a, b) => a * b, 1) : values.length;
    const outer = values.length / (channels * inner);
    const maxAbs = new Float32Array(channels);
    for (let i = 0; i < values.length; i++) {
      const c = Math.floor(i / inner) % channels;
      maxAbs[c] = Math.max(maxAbs[c], Math.abs(values[i]));
    }
    const scales = maxAbs.map((m) => (m > 0 ? m / 127 : 1));
    const q = new Int8Array(values.length);
    for (let o = 0, i = 0; o < outer; o++) {
      for (let c = 0; c < channels; c++) {
        for (let k = 0; k < inner; k++, i++) q[i] = Math.max(-127, Math.min(127, roundEven(values[i] / scales[c])));
      }
    }
    const qDims = opts.perChannel ? [channels] : [];
    const qName = add({ name: `${name}_quantized`, dims: w.dims, dataType: DATA_TYPE.int8, raw: bytesOf(q) });
    const sName = add({ name: `${name}_scale`, dims: qDims, dataType: DATA_TYPE.float, raw: bytesOf(scales) });
    const zName = add({ name: `${name}_zero_point`, dims: qDims, dataType: DATA_TYPE.int8, raw: new Uint8Array(channels) });
    nodes.push({
      opType: 'DequantizeLinear', name: `${name}_DequantizeLinear`, inputs: [qName, sName, zName], outputs: [dqName(name)],
      attributes: opts.perChannel ? [{ name: 'axis', int: axis }] : [],
    });
    return { output: dqName(name), scales };
  };

  /**
   * int32 bias with scale s_input·s_weight[c] and zero point 0; the float bias stays when one would
   * not fit in int32 (a bias over 2^31 input·weight steps), so nothing is clipped.
   */
  const quantizeBias = (name: string, inputScale: number, weightScales: Float32Array): string => {
    const b = inits.get(name);
    if (!b) throw new RangeError(`missing bias ${name}`);
    const values = floatsOf(b);
    const scales = new Float32Array(values.length).map((_, c) => inputScale * weightScales[weightScales.length === 1 ? 0 : c]);
    const steps = Array.from(values, (v, c) => Math.round(v / scales[c]));
    if (steps.some((v) => Math.abs(v) > 2 ** 31 - 1)) return name;
    const q = Int32Array.from(steps);
    const perChannel = weightScales.length > 1;
    const sValues = perChannel ? scales : Float32Array.of(scales[0] ?? inputScale);
    const dims = perChannel ? [values.length] : [];
    const qName = add({ name: `${name}_quantized`, dims: b.dims, dataType: DATA_TYPE.int32, raw: bytesOf(q) });
    const sName = add({ name: `${name}_scale`, dims, dataType: DATA_TYPE.float, raw: bytesOf(sValues) });
    const zName = add({ name: `${name}_zero_point`, dims, dataType: DATA_TYPE.int32, raw: new Uint8Array(4 * (perChannel ? values.length : 1)) });
    nodes.push({
      opType: 'DequantizeLinear', name: `${name}_DequantizeLinear`, inputs: [qName, sName, zName], outputs: [dqName(name)],
      attributes: perChannel ? [{ name: 'axis', int: 0 }] : [],
    });
    return dqName(name);
  };

  quantizeActivation(g.input.name);
  const dequantized = (t: string): string => (params.has(t) ? dqName(t) : t);
  for (const n of g.nodes) {
    let inputs = n.inputs.map(dequantized);
    const inputScale = params.get(n.inputs[0])?.scale;
    if (isWeighted(n, g) && inputScale !== undefined && !opts.exclude?.has(n.name)) {
      const transB = n.opType === 'Gemm' && numberAttr(n, 'transB', 0) === 1;
      const axis = n.opType === 'Conv' || transB ? 0 : 1;
      const weight = quantizeWeight(n.inputs[1], axis);
      inputs = [inputs[0], weight.output, ...inputs.slice(2)];
      const bias = inits.get(n.inputs[2] ?? '');
      const plainGemm = n.opType !== 'Gemm' || (numberAttr(n, 'alpha', 1) === 1 && numberAttr(n, 'beta', 1) === 1);
      const outChannels = g.initializers.get(n.inputs[1])?.dims[axis];
      if (bias && n.opType !== 'MatMul' && plainGemm && bias.dims.length === 1 && bias.dims[0] === outChannels) {
        inputs[2] = quantizeBias(bias.name, inputScale, weight.scales);
      }
    }
    nodes.push({ opType: n.opType, name: n.name, inputs, outputs: n.outputs, attributes: n.attributes, ...(n.domain ? { domain: n.domain } : {}) });
    for (const o of n.outputs) quantizeActivation(o);
  }

  const used = new Set(nodes.flatMap((n) => n.inputs));
  const initializers: OnnxInitializer[] = [...inits.values()].filter((t) => used.has(t.name)).map((t) => ({
    name: t.name,
    dims: t.dims,
    dataType: t.dataType,
    data: { length: t.raw.length, fill: (target: Uint8Array) => target.set(t.raw) },
  }));
  return {
    irVersion: g.irVersion,
    opsetVersion: g.opset,
    // The producer stays the source model's, so what it says about the weights (core/model-info.ts
    // reads a generated model's as untrained) holds for the int8 file too.
    producerName: g.producerName,
    producerVersion: g.producerVersion,
    docString: `${g.docString ? `${g.docString} ` : ''}Quantized to int8 QDQ by resnet quantize (${opts.perChannel ? 'per-channel' : 'per-tensor'} int8 weights, uint8 activations).`,
    graphName: g.graphName,
    nodes,
    initializers,
    inputs: [{ name: g.input.name, dims: g.input.dims ?? null }],
    outputs: g.outputs.map((o) => ({ name: o.name, dims: o.dims, elemType: o.elemType })),
  };
}
