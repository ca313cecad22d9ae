/**
 * A minimal ONNX ModelProto decoder: the fields an inference graph of standard operators uses,
 * read with protobufjs's wire-format Reader (no .proto schema). Field numbers are onnx/onnx.proto's,
 * as in {@link ./onnx-model.ts}. Attributes keep their encoded bytes so a model can be written back
 * with every attribute unchanged, whatever its type.
 */
import protobuf from 'protobufjs/minimal.js';

import type { OnnxModel } from './onnx-model.js';

import { InvalidModelError } from '../errors.js';

/** TensorProto.DataType values used here. */
export const DATA_TYPE = { float: 1, uint8: 2, int8: 3, int32: 6, int64: 7 } as const;

/** A decoded node attribute: scalar fields when its type is INT, FLOAT, INTS or STRING, and its bytes. */
export interface DecodedAttribute {
  readonly name: string;
  /** AttributeProto.AttributeType (1 FLOAT, 2 INT, 3 STRING, 4 TENSOR, 5 GRAPH, 7 INTS, …). */
  readonly type: number;
  readonly f?: number;
  readonly i?: number;
  readonly ints?: readonly number[];
  readonly s?: string;
  /** Whether the attribute holds a subgraph (control flow), which this project does not rewrite. */
  readonly hasGraph: boolean;
  /** The whole encoded AttributeProto. */
  readonly encoded: Uint8Array;
}

/** A decoded node. */
export interface DecodedNode {
  opType: string;
  name: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: DecodedAttribute[];
}

/** A decoded dense initializer; `raw` holds its little-endian bytes whichever field stored them. */
export interface DecodedTensor {
  readonly name: string;
  readonly dims: readonly number[];
  readonly dataType: number;
  readonly raw: Uint8Array;
  /** Whether the data lives in an external file (not supported by the callers). */
  readonly external: boolean;
}

/** A graph input or output; `dims` null when the shape is absent. */
export interface DecodedValueInfo {
  readonly name: string;
  readonly elemType: number;
  readonly dims: readonly (number | string)[] | null;
}

/** The decoded model. */
export interface DecodedModel {
  readonly irVersion: number;
  readonly producerName: string;
  readonly producerVersion: string;
  readonly docString: string;
  readonly opsets: ReadonlyArray<{ readonly domain: string; readonly version: number }>;
  readonly graphName: string;
  readonly nodes: DecodedNode[];
  readonly initializers: DecodedTensor[];
  /** Graph inputs, including those that only declare an initializer (IR version < 4). */
  readonly inputs: DecodedValueInfo[];
  readonly outputs: DecodedValueInfo[];
  /** Number of sparse initializers (not supported by the callers). */
  readonly sparseInitializers: number;
}

const { Reader } = protobuf;
type ProtoReader = protobuf.Reader;

const textDecoder = new TextDecoder();

function int64(r: ProtoReader): number {
  // protobufjs returns a number when Long.js is not installed, else a Long with toNumber().
  const v: unknown = r.int64();
  return typeof v === 'number' ? v : (v as { toNumber(): number }).toNumber();
}

/** Reads a repeated integer field whether packed (wire type 2) or not. */
function repeatedInts(r: ProtoReader, wire: number, into: number[]): void {
  if (wire !== 2) {
    into.push(int64(r));
    return;
  }
  const end = r.uint32() + r.pos;
  while (r.pos < end) into.push(int64(r));
}

/** Iterates the fields of the message ending at `end`, skipping those `handle` does not take. */
function fields(r: ProtoReader, end: number, handle: (field: number, wire: number) => boolean): void {
  while (r.pos < end) {
    const tag = r.uint32();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (!handle(field, wire)) r.skipType(wire);
  }
}

function readAttribute(r: ProtoReader, end: number): DecodedAttribute {
  const start = r.pos;
  let name = '';
  let type = 0;
  let f: number | undefined;
  let i: number | undefined;
  let s: string | undefined;
  let hasGraph = false;
  const ints: number[] = [];
  fields(r, end, (field, wire) => {
    if (field === 1) name = r.string();
    else if (field === 2 && wire === 5) f = r.float();
    else if (field === 3) i = int64(r);
    else if (field === 4) s = textDecoder.decode(r.bytes());
    else if (field === 8) repeatedInts(r, wire, ints);
    else if (field === 20) type = r.int32();
    else if (field === 6 || field === 11) {
      hasGraph = true;
      return false;
    } else return false;
    return true;
  });
  return { name, type, f, i, s, hasGraph, ints: type === 7 ? ints : undefined, encoded: new Uint8Array(r.buf.subarray(start, end)) };
}

function readNode(r: ProtoReader, end: number): DecodedNode {
  const node: DecodedNode = { opType: '', name: '', domain: '', inputs: [], outputs: [], attributes: [] };
  fields(r, end, (field) => {
    if (field === 1) node.inputs.push(r.string());
    else if (field === 2) node.outputs.push(r.string());
    else if (field === 3) node.name = r.string();
    else if (field === 4) node.opType = r.string();
    else if (field === 7) node.domain = r.string();
    else if (field === 5) {
      const len = r.uint32();
      node.attributes.push(readAttribute(r, r.pos + len));
    } else return false;
    return true;
  });
  return node;
}

/** Bytes of the typed repeated fields of a TensorProto, as raw little-endian data. */
function typedData(dataType: number, floats: number[], ints: number[]): Uint8Array {
  if (dataType === DATA_TYPE.float) return new Uint8Array(Float32Array.from(floats).buffer);
  if (dataType === DATA_TYPE.int64) return new Uint8Array(BigInt64Array.from(ints.map((v) => BigInt(v))).buffer);
  if (dataType === DATA_TYPE.int32) return new Uint8Array(Int32Array.from(ints).buffer);
  if (dataType === DATA_TYPE.int8) return new Uint8Array(Int8Array.from(ints).buffer);
  if (dataType === DATA_TYPE.uint8) return Uint8Array.from(ints);
  return new Uint8Array(0);
}

function readTensor(r: ProtoReader, end: number): DecodedTensor {
  const dims: number[] = [];
  const floats: number[] = [];
  const ints: number[] = [];
  let dataType = 0;
  let name = '';
  let raw: Uint8Array | null = null;
  let external = false;
  fields(r, end, (field, wire) => {
    if (field === 1) repeatedInts(r, wire, dims);
    else if (field === 2) dataType = r.int32();
    else if (field === 8) name = r.string();
    else if (field === 9) raw = new Uint8Array(r.bytes());
    else if (field === 4) {
      if (wire !== 2) floats.push(r.float());
      else {
        const stop = r.uint32() + r.pos;
        while (r.pos < stop) floats.push(r.float());
      }
    } else if (field === 5 || field === 7) repeatedInts(r, wire, ints);
    else if (field === 14) external = r.int32() === 1;
    else return false;
    return true;
  });
  return { name, dims, dataType, raw: raw ?? typedData(dataType, floats, ints), external };
}

function readValueInfo(r: ProtoReader, end: number): DecodedValueInfo {
  let name = '';
  let elemType = 0;
  let dims: (number | string)[] | null = null;
  const nested = (onField: (field: number, wire: number) => boolean): void => {
    const len = r.uint32();
    fields(r, r.pos + len, onField);
  };
  fields(r, end, (field) => {
    if (field === 1) name = r.string();
    else if (field === 2) {
      nested((typeField) => {
        if (typeField !== 1) return false;
        nested((tensorField) => {
          if (tensorField === 1) elemType = r.int32();
          else if (tensorField === 2) {
            dims = [];
            nested((shapeField) => {
              if (shapeField !== 1) return false;
              let dim: number | string = '?';
              nested((dimField) => {
                if (dimField === 1) dim = int64(r);
                else if (dimField === 2) dim = r.string();
                else return false;
                return true;
              });
              dims?.push(dim);
              return true;
            });
          } else return false;
          return true;
        });
        return true;
      });
    } else return false;
    return true;
  });
  return { name, elemType, dims };
}

/**
 * Decodes an ONNX file's bytes.
 * @throws InvalidModelError when the bytes are not a ModelProto with a graph.
 */
export function decodeModel(bytes: Uint8Array): DecodedModel {
  const r = Reader.create(bytes);
  let irVersion = 0;
  let producerName = '';
  let producerVersion = '';
  let docString = '';
  const opsets: Array<{ domain: string; version: number }> = [];
  type Graph = Omit<DecodedModel, 'irVersion' | 'producerName' | 'producerVersion' | 'docString' | 'opsets'>;
  let graph = null as Graph | null;
  try {
    fields(r, bytes.length, (field) => {
      if (field === 1) irVersion = int64(r);
      else if (field === 2) producerName = r.string();
      else if (field === 3) producerVersion = r.string();
      else if (field === 6) docString = r.string();
      else if (field === 8) {
        const len = r.uint32();
        const opset = { domain: '', version: 0 };
        fields(r, r.pos + len, (f) => {
          if (f === 1) opset.domain = r.string();
          else if (f === 2) opset.version = int64(r);
          else return false;
          return true;
        });
        opsets.push(opset);
      } else if (field === 7) {
        const len = r.uint32();
        const g = { graphName: '', nodes: [] as DecodedNode[], initializers: [] as DecodedTensor[], inputs: [] as DecodedValueInfo[], outputs: [] as DecodedValueInfo[], sparseInitializers: 0 };
        fields(r, r.pos + len, (f) => {
          if (f === 2) {
            g.graphName = r.string();
            return true;
          }
          if (f === 15) {
            g.sparseInitializers++;
            return false;
          }
          if (f !== 1 && f !== 5 && f !== 11 && f !== 12) return false;
          const l = r.uint32();
          const stop = r.pos + l;
          if (f === 1) g.nodes.push(readNode(r, stop));
          else if (f === 5) g.initializers.push(readTensor(r, stop));
          else if (f === 11) g.inputs.push(readValueInfo(r, stop));
          else g.outputs.push(readValueInfo(r, stop));
          return true;
        });
        graph = g;
      } else return false;
      return true;
    });
  } catch (err) {
    throw new InvalidModelError(`it is not a readable ONNX ModelProto (${err instanceof Error ? err.message : String(err)})`, err);
  }
  if (graph === null || irVersion === 0) throw new InvalidModelError('it is not an ONNX model (no graph or IR version found)');
  return { irVersion, producerName, producerVersion, docString, opsets, ...graph };
}

/**
 * A decoded model as an {@link OnnxModel} to encode again: attributes verbatim, initializers as
 * decoded, graph inputs without the initializer declarations (the encoder adds them back for
 * IR version < 4). Only the default-domain opset is kept.
 */
export function toOnnxModel(m: DecodedModel): OnnxModel {
  const inits = new Set(m.initializers.map((t) => t.name));
  return {
    irVersion: m.irVersion,
    opsetVersion: m.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 0,
    producerName: m.producerName,
    producerVersion: m.producerVersion,
    ...(m.docString ? { docString: m.docString } : {}),
    graphName: m.graphName,
    nodes: m.nodes.map((n) => ({ opType: n.opType, name: n.name, inputs: n.inputs, outputs: n.outputs, attributes: n.attributes.map((a) => ({ name: a.name, encoded: a.encoded })), ...(n.domain ? { domain: n.domain } : {}) })),
    initializers: m.initializers.map((t) => ({ name: t.name, dims: t.dims, dataType: t.dataType, data: { length: t.raw.length, fill: (target: Uint8Array) => target.set(t.raw) } })),
    inputs: m.inputs.filter((i) => !inits.has(i.name)).map((i) => ({ name: i.name, dims: i.dims, elemType: i.elemType })),
    outputs: m.outputs.map((o) => ({ name: o.name, dims: o.dims, elemType: o.elemType })),
  };
}
