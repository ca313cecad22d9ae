/**
 * The float32 graph the quantizer works on: a decoded model checked for what the quantizer can
 * rewrite, raised to opset 13 (per-channel DequantizeLinear needs it), with Dropout made Identity
 * and every BatchNormalization that directly follows a Conv folded into that Conv's weights and
 * bias (as a trained model's deployment graph has them, and as onnxruntime's own quantizer does
 * before it places QuantizeLinear/DequantizeLinear).
 */
import { encodeAttribute } from '../model-builder/onnx-model.js';
import { DATA_TYPE, type DecodedAttribute, type DecodedModel, type DecodedNode, type DecodedTensor, type DecodedValueInfo } from '../model-builder/onnx-reader.js';
import { CannotQuantizeError } from './errors.js';

/** An initializer the quantizer owns; float tensors are read through {@link floatsOf}. */
export type Initializer = Omit<DecodedTensor, 'external'>;

/** The prepared graph. */
export interface QuantGraph {
  readonly opset: number;
  readonly irVersion: number;
  readonly graphName: string;
  readonly producerName: string;
  readonly producerVersion: string;
  readonly docString: string;
  nodes: DecodedNode[];
  readonly initializers: Map<string, Initializer>;
  /** The one runtime input (the image tensor). */
  readonly input: DecodedValueInfo;
  readonly outputs: readonly DecodedValueInfo[];
}

/** Lowest opset written: DequantizeLinear's per-channel `axis` arrived in opset 13. */
export const MIN_OPSET = 13;

/**
 * Operators whose meaning is the same from opset 7 to 13 for the attributes a classifier uses, so a
 * model below opset 13 made only of these can be relabelled 13. (Clip, Pad, Softmax, Squeeze,
 * Unsqueeze, Upsample and others changed their inputs or semantics in between.)
 */
const SAME_SINCE_OPSET_7 = new Set([
  'Conv', 'BatchNormalization', 'Relu', 'Add', 'Sum', 'Mul', 'Sub', 'Div', 'MaxPool', 'AveragePool', 'GlobalAveragePool',
  'GlobalMaxPool', 'Flatten', 'Gemm', 'MatMul', 'Reshape', 'Concat', 'Identity', 'Dropout', 'Transpose', 'Sigmoid', 'LeakyRelu',
]);

const ALREADY_QUANTIZED = /^(QuantizeLinear|DequantizeLinear|QLinear.*|ConvInteger|MatMulInteger|DynamicQuantizeLinear)$/;

/** A copy of a float32 initializer's values. */
export function floatsOf(t: Initializer): Float32Array {
  if (t.dataType !== DATA_TYPE.float) throw new CannotQuantizeError(`initializer "${t.name}" is not float32`);
  return new Float32Array(new Uint8Array(t.raw).buffer);
}

/** A float32 initializer holding `values`. */
export function floatInitializer(name: string, dims: readonly number[], values: Float32Array): Initializer {
  return { name, dims, dataType: DATA_TYPE.float, raw: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

/** An INT or INTS attribute in decoded form. */
function attribute(a: { name: string; int: number } | { name: string; ints: number[] }): DecodedAttribute {
  const encoded = encodeAttribute(a).toBytes();
  return 'int' in a ? { name: a.name, type: 2, i: a.int, hasGraph: false, encoded } : { name: a.name, type: 7, ints: a.ints, hasGraph: false, encoded };
}

function attr(node: DecodedNode, name: string): DecodedNode['attributes'][number] | undefined {
  return node.attributes.find((a) => a.name === name);
}

/** An INT or FLOAT attribute's value, or `fallback` when absent. */
export function numberAttr(node: DecodedNode, name: string, fallback: number): number {
  const a = attr(node, name);
  return a?.i ?? a?.f ?? fallback;
}

function check(model: DecodedModel): { opset: number; input: DecodedValueInfo } {
  const initNames = new Set(model.initializers.map((t) => t.name));
  for (const t of model.initializers) {
    if (t.external) throw new CannotQuantizeError(`initializer "${t.name}" is stored in an external data file; save the model with its weights inside`);
  }
  if (model.sparseInitializers > 0) throw new CannotQuantizeError('it has sparse initializers');
  const inputs = model.inputs.filter((i) => !initNames.has(i.name));
  if (inputs.length !== 1) throw new CannotQuantizeError(`it has ${inputs.length} runtime inputs; an image classifier has one`);
  if (inputs[0].elemType !== DATA_TYPE.float) throw new CannotQuantizeError(`its input "${inputs[0].name}" is not float32`);
  const opset = model.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 0;
  if (opset < 7) throw new CannotQuantizeError(`it uses opset ${opset}; opset 7 or later is needed`);
  for (const n of model.nodes) {
    if (n.domain !== '' && n.domain !== 'ai.onnx') throw new CannotQuantizeError(`node "${n.name}" is ${n.domain}.${n.opType}, not a standard ONNX operator`);
    if (ALREADY_QUANTIZED.test(n.opType)) throw new CannotQuantizeError(`it is already quantized (node "${n.name}" is ${n.opType})`);
    if (n.attributes.some((a) => a.hasGraph)) throw new CannotQuantizeError(`node "${n.name}" (${n.opType}) holds a subgraph; control flow is not rewritten`);
    if (opset < MIN_OPSET && !SAME_SINCE_OPSET_7.has(n.opType)) {
      throw new CannotQuantizeError(`it uses opset ${opset} and ${n.opType} (node "${n.name}") changed before opset ${MIN_OPSET}; convert the model to opset ${MIN_OPSET} first (onnx.version_converter)`);
    }
    if (n.opType === 'BatchNormalization' && numberAttr(n, 'spatial', 1) !== 1) throw new CannotQuantizeError(`BatchNormalization "${n.name}" has spatial=0`);
    if (n.opType === 'Dropout' && n.outputs.length > 1 && n.outputs[1] !== '') throw new CannotQuantizeError(`Dropout "${n.name}" exposes its mask`);
  }
  if (!model.nodes.some((n) => n.opType === 'Conv' && initNames.has(n.inputs[1] ?? ''))) {
    throw new CannotQuantizeError('it has no Conv with constant weights');
  }
  return { opset, input: inputs[0] };
}

/** Consumers of each tensor, by name. */
export function consumersOf(nodes: readonly DecodedNode[]): Map<string, DecodedNode[]> {
  const map = new Map<string, DecodedNode[]>();
  for (const n of nodes) {
    for (const i of n.inputs) {
      if (i === '') continue;
      const list = map.get(i) ?? [];
      list.push(n);
      map.set(i, list);
    }
  }
  return map;
}

/** Folds `bn` into `conv` (whose only consumer it is): W'[o] = W[o]·γ/σ, b'[o] = (b[o] − μ)·γ/σ + β. */
function foldBatchNorm(g: QuantGraph, conv: DecodedNode, bn: DecodedNode): boolean {
  const get = (name: string | undefined): Initializer | undefined => (name ? g.initializers.get(name) : undefined);
  const w = get(conv.inputs[1]);
  const [gamma, beta, mean, variance] = bn.inputs.slice(1, 5).map(get);
  if (!w || !gamma || !beta || !mean || !variance || w.dataType !== DATA_TYPE.float) return false;
  const channels = w.dims[0];
  const eps = numberAttr(bn, 'epsilon', 1e-5);
  const weights = floatsOf(w);
  const bias = conv.inputs[2] ? floatsOf(get(conv.inputs[2]) ?? w) : new Float32Array(channels);
  const [ga, be, mu, va] = [gamma, beta, mean, variance].map(floatsOf);
  if (ga.length !== channels || bias.length !== channels) return false;
  const per = weights.length / channels;
  for (let o = 0; o < channels; o++) {
    const k = ga[o] / Math.sqrt(va[o] + eps);
    for (let j = o * per; j < (o + 1) * per; j++) weights[j] *= k;
    bias[o] = (bias[o] - mu[o]) * k + be[o];
  }
  const wName = `${conv.name || conv.outputs[0]}_weight_bnfolded`;
  const bName = `${conv.name || conv.outputs[0]}_bias_bnfolded`;
  g.initializers.set(wName, floatInitializer(wName, w.dims, weights));
  g.initializers.set(bName, floatInitializer(bName, [channels], bias));
  conv.inputs = [conv.inputs[0], wName, bName];
  conv.outputs = [bn.outputs[0]];
  return true;
}

/** Ops whose input is an image-shaped [N,C,H,W] tensor, so a BatchNormalization before them is 4-D. */
const SPATIAL_CONSUMERS = new Set(['Conv', 'GlobalAveragePool', 'AveragePool', 'MaxPool']);

/**
 * Rewrites a BatchNormalization that no Conv precedes (a pre-activation ResNet's) as the 1x1
 * depthwise Conv it equals, y = k·x + (β − μ·k) with k = γ/σ, so it runs as an integer kernel
 * instead of leaving the integer graph (and onnxruntime's NHWC layout) at every block.
 */
function batchNormAsDepthwiseConv(g: QuantGraph, bn: DecodedNode): boolean {
  const get = (name: string | undefined): Initializer | undefined => (name ? g.initializers.get(name) : undefined);
  const params = bn.inputs.slice(1, 5).map(get);
  if (params.some((t) => t === undefined || t.dataType !== DATA_TYPE.float)) return false;
  const [ga, be, mu, va] = params.map((t) => floatsOf(t as Initializer));
  const channels = ga.length;
  const eps = numberAttr(bn, 'epsilon', 1e-5);
  const k = ga.map((gamma, c) => gamma / Math.sqrt(va[c] + eps));
  const bias = be.map((beta, c) => beta - mu[c] * k[c]);
  const base = bn.name || bn.outputs[0];
  g.initializers.set(`${base}_as_conv_weight`, floatInitializer(`${base}_as_conv_weight`, [channels, 1, 1, 1], k));
  g.initializers.set(`${base}_as_conv_bias`, floatInitializer(`${base}_as_conv_bias`, [channels], bias));
  bn.opType = 'Conv';
  bn.inputs = [bn.inputs[0], `${base}_as_conv_weight`, `${base}_as_conv_bias`];
  bn.outputs = [bn.outputs[0]];
  bn.attributes = [attribute({ name: 'group', int: channels }), attribute({ name: 'kernel_shape', ints: [1, 1] })];
  return true;
}

/** Drops initializers no node reads any more. */
export function pruneInitializers(g: QuantGraph): void {
  const used = new Set(g.nodes.flatMap((n) => n.inputs));
  for (const name of [...g.initializers.keys()]) if (!used.has(name)) g.initializers.delete(name);
}

/**
 * Checks a decoded model and prepares the graph to quantize (see the module comment).
 * @throws CannotQuantizeError naming what the quantizer cannot handle.
 */
export function prepareGraph(model: DecodedModel): QuantGraph {
  const { opset, input } = check(model);
  const g: QuantGraph = {
    opset: Math.max(opset, MIN_OPSET),
    irVersion: Math.max(model.irVersion, 7),
    graphName: model.graphName,
    producerName: model.producerName,
    producerVersion: model.producerVersion,
    docString: model.docString,
    nodes: model.nodes.map((n) => ({ ...n, inputs: [...n.inputs], outputs: [...n.outputs] })),
    initializers: new Map(model.initializers.map((t) => [t.name, { name: t.name, dims: t.dims, dataType: t.dataType, raw: t.raw }])),
    input,
    outputs: model.outputs,
  };
  for (const n of g.nodes) {
    if (n.opType === 'Dropout') {
      n.opType = 'Identity';
      n.inputs = [n.inputs[0]];
      n.outputs = [n.outputs[0]];
      n.attributes = [];
    }
    // Opset 9 removed BatchNormalization's `spatial` (checked to be 1 above); opset 13 rejects it.
    if (n.opType === 'BatchNormalization') n.attributes = n.attributes.filter((a) => a.name !== 'spatial');
  }
  const graphOutputs = new Set(g.outputs.map((o) => o.name));
  const consumers = consumersOf(g.nodes);
  const producer = new Map(g.nodes.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
  const removed = new Set<DecodedNode>();
  for (const bn of g.nodes) {
    if (bn.opType !== 'BatchNormalization') continue;
    const conv = producer.get(bn.inputs[0]);
    if (!conv || conv.opType !== 'Conv' || graphOutputs.has(bn.inputs[0]) || (consumers.get(bn.inputs[0])?.length ?? 0) !== 1) continue;
    if (foldBatchNorm(g, conv, bn)) removed.add(bn);
  }
  g.nodes = g.nodes.filter((n) => !removed.has(n));
  const after = consumersOf(g.nodes);
  const imageInput = (g.input.dims?.length ?? 0) === 4;
  for (const bn of g.nodes) {
    if (bn.opType !== 'BatchNormalization' || !imageInput) continue;
    const next = after.get(bn.outputs[0]) ?? [];
    const through = next.flatMap((n) => (n.opType === 'Relu' ? (after.get(n.outputs[0]) ?? []) : [n]));
    if (through.length > 0 && through.every((n) => SPATIAL_CONSUMERS.has(n.opType))) batchNormAsDepthwiseConv(g, bn);
  }
  pruneInitializers(g);
  return g;
}
