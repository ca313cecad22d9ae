/**
 * The subset of ONNX's ModelProto this project writes, and its encoder. Field numbers are those of
 * onnx/onnx.proto (stable since IR version 3); only what a float32 CNN inference graph needs is here.
 */
import { type LazyBytes, ProtoWriter } from './proto-writer.js';

/**
 * A node attribute; ONNX attribute types INT, INTS and FLOAT, or an already encoded AttributeProto
 * (`encoded`, any type: what a model read by `decodeModel` carries through unchanged).
 */
export type OnnxAttribute =
  | { readonly name: string; readonly int: number }
  | { readonly name: string; readonly ints: readonly number[] }
  | { readonly name: string; readonly float: number }
  | { readonly name: string; readonly encoded: Uint8Array };

/** One operator application. */
export interface OnnxNode {
  readonly opType: string;
  /** Operator set domain. @default '' (the standard ai.onnx operators) */
  readonly domain?: string;
  readonly name: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes?: readonly OnnxAttribute[];
}

/** An initializer whose little-endian bytes are produced lazily. */
export interface OnnxInitializer {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: LazyBytes;
  /** TensorProto.DataType (1 float, 2 uint8, 3 int8, 6 int32, 7 int64). @default 1 */
  readonly dataType?: number;
}

/** A graph input or output; a string dimension is symbolic (dynamic); `dims` null leaves the shape out. */
export interface OnnxValueInfo {
  readonly name: string;
  readonly dims: readonly (number | string)[] | null;
  /** TensorProto.DataType of the elements. @default 1 (float) */
  readonly elemType?: number;
}

/** A complete single-graph model. */
export interface OnnxModel {
  readonly irVersion: number;
  readonly opsetVersion: number;
  readonly producerName: string;
  readonly producerVersion: string;
  readonly docString?: string;
  readonly graphName: string;
  readonly nodes: readonly OnnxNode[];
  readonly initializers: readonly OnnxInitializer[];
  /** Inputs fed at run time (initializers are listed after them automatically when IR < 4). */
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
}

/* Field numbers per message type of onnx.proto. */
const MODEL = { irVersion: 1, producerName: 2, producerVersion: 3, docString: 6, graph: 7, opsetImport: 8 } as const;
const OPSET_ID = { domain: 1, version: 2 } as const;
const GRAPH = { node: 1, name: 2, initializer: 5, input: 11, output: 12 } as const;
const NODE = { input: 1, output: 2, name: 3, opType: 4, attribute: 5, domain: 7 } as const;
const ATTRIBUTE = { name: 1, f: 2, i: 3, ints: 8, type: 20 } as const;
const TENSOR = { dims: 1, dataType: 2, name: 8, rawData: 9 } as const;
const VALUE_INFO = { name: 1, type: 2 } as const;
const TYPE = { tensorType: 1 } as const;
const TENSOR_TYPE = { elemType: 1, shape: 2 } as const;
const SHAPE = { dim: 1 } as const;
const DIMENSION = { value: 1, param: 2 } as const;

/* AttributeProto.AttributeType values. */
const ATTRIBUTE_TYPE = { float: 1, int: 2, ints: 7 } as const;

const DATA_TYPE_FLOAT = 1;

/** Encodes one attribute as an AttributeProto message. */
export function encodeAttribute(a: OnnxAttribute): ProtoWriter {
  const w = new ProtoWriter().string(ATTRIBUTE.name, a.name);
  if ('encoded' in a) return w;
  if ('int' in a) w.int(ATTRIBUTE.i, a.int).int(ATTRIBUTE.type, ATTRIBUTE_TYPE.int);
  else if ('ints' in a) w.ints(ATTRIBUTE.ints, a.ints).int(ATTRIBUTE.type, ATTRIBUTE_TYPE.ints);
  else w.float(ATTRIBUTE.f, a.float).int(ATTRIBUTE.type, ATTRIBUTE_TYPE.float);
  return w;
}

function encodeNode(n: OnnxNode): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(NODE.input, i);
  for (const o of n.outputs) w.string(NODE.output, o);
  w.string(NODE.name, n.name).string(NODE.opType, n.opType);
  for (const a of n.attributes ?? []) {
    if ('encoded' in a) w.bytes(NODE.attribute, a.encoded);
    else w.message(NODE.attribute, encodeAttribute(a));
  }
  if (n.domain) w.string(NODE.domain, n.domain);
  return w;
}

function encodeInitializer(t: OnnxInitializer): ProtoWriter {
  return new ProtoWriter()
    .ints(TENSOR.dims, t.dims)
    .int(TENSOR.dataType, t.dataType ?? DATA_TYPE_FLOAT)
    .string(TENSOR.name, t.name)
    .lazyBytes(TENSOR.rawData, t.data);
}

function encodeValueInfo(v: OnnxValueInfo): ProtoWriter {
  const tensorType = new ProtoWriter().int(TENSOR_TYPE.elemType, v.elemType ?? DATA_TYPE_FLOAT);
  if (v.dims !== null) {
    const shape = new ProtoWriter();
    for (const d of v.dims) {
      const dim = typeof d === 'number' ? new ProtoWriter().int(DIMENSION.value, d) : new ProtoWriter().string(DIMENSION.param, d);
      shape.message(SHAPE.dim, dim);
    }
    tensorType.message(TENSOR_TYPE.shape, shape);
  }
  const type = new ProtoWriter().message(TYPE.tensorType, tensorType);
  return new ProtoWriter().string(VALUE_INFO.name, v.name).message(VALUE_INFO.type, type);
}

/**
 * Encodes a model as an ONNX ModelProto. Fields go in field-number order, as onnx's own serialiser
 * writes them, so the producer strings sit in the first bytes of the file.
 */
export function encodeModel(m: OnnxModel): ProtoWriter {
  const graph = new ProtoWriter();
  for (const n of m.nodes) graph.message(GRAPH.node, encodeNode(n));
  graph.string(GRAPH.name, m.graphName);
  for (const t of m.initializers) graph.message(GRAPH.initializer, encodeInitializer(t));
  for (const v of m.inputs) graph.message(GRAPH.input, encodeValueInfo(v));
  // IR version 3 (opset 7's era) requires every initializer to be declared as a graph input too.
  if (m.irVersion < 4) {
    for (const t of m.initializers) graph.message(GRAPH.input, encodeValueInfo({ name: t.name, dims: t.dims, elemType: t.dataType }));
  }
  for (const v of m.outputs) graph.message(GRAPH.output, encodeValueInfo(v));

  const model = new ProtoWriter()
    .int(MODEL.irVersion, m.irVersion)
    .string(MODEL.producerName, m.producerName)
    .string(MODEL.producerVersion, m.producerVersion);
  if (m.docString !== undefined) model.string(MODEL.docString, m.docString);
  model.message(MODEL.graph, graph);
  model.message(MODEL.opsetImport, new ProtoWriter().string(OPSET_ID.domain, '').int(OPSET_ID.version, m.opsetVersion));
  return model;
}
