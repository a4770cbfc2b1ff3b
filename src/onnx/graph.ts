/**
 * Builds ONNX models in code. npad's heavy numerics (the CNN, batched Gram matrices, inverses, Mahalanobis
 * distances, nearest centroids) run as small ONNX graphs in onnxruntime, which is far faster than plain
 * TypeScript loops on the CPU (docs/speed.md measures the stages). Field numbers follow onnx/onnx.proto3.
 */
import { ProtoWriter } from './protobuf.js';

/** ONNX TensorProto.DataType codes used by npad. */
export const OnnxType = { float: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float16: 10, double: 11 } as const;
export type OnnxElementType = keyof typeof OnnxType;

/** Attribute values a node may carry. */
export type AttributeValue = number | string | number[] | { float: number } | { floats: number[] };

/** A dimension: a fixed size, or a named symbolic size that varies between runs. */
export type Dim = number | string;

const OPSET = 17;
const IR_VERSION = 8;

interface TensorData {
  type: OnnxElementType;
  dims: readonly number[];
  bytes: Uint8Array;
}

function tensorProto(name: string, t: TensorData): ProtoWriter {
  const w = new ProtoWriter();
  w.packedVarints(1, t.dims);
  w.varint(2, OnnxType[t.type]);
  w.string(8, name);
  w.bytes(9, t.bytes);
  return w;
}

function valueInfo(name: string, type: OnnxElementType, dims: readonly Dim[]): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of dims) {
    const dim = new ProtoWriter();
    if (typeof d === 'number') dim.varint(1, d);
    else dim.string(2, d);
    shape.message(1, dim);
  }
  const tensorType = new ProtoWriter().varint(1, OnnxType[type]).message(2, shape);
  const typeProto = new ProtoWriter().message(1, tensorType);
  return new ProtoWriter().string(1, name).message(2, typeProto);
}

function attribute(name: string, value: AttributeValue): ProtoWriter {
  const w = new ProtoWriter().string(1, name);
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new TypeError(`attribute ${name}: ${value} is not an integer; use { float }`);
    w.varint(3, value).varint(20, 2);
  } else if (typeof value === 'string') {
    w.string(4, value).varint(20, 3);
  } else if (Array.isArray(value)) {
    w.packedVarints(8, value).varint(20, 7);
  } else if ('float' in value) {
    w.float(2, value.float).varint(20, 1);
  } else {
    for (const f of value.floats) w.float(7, f);
    w.varint(20, 6);
  }
  return w;
}

function bytesOf(data: Float32Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array | Float64Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Accumulates nodes, inputs, outputs and constant initializers, then serialises them as an ONNX model.
 * `node()` returns generated output names so graphs read like expressions.
 */
export class GraphBuilder {
  private readonly nodes: ProtoWriter[] = [];
  private readonly inputs: ProtoWriter[] = [];
  private readonly outputs: ProtoWriter[] = [];
  private readonly initializers: ProtoWriter[] = [];
  private counter = 0;
  private usesMicrosoftDomain = false;

  constructor(private readonly name = 'npad') {}

  /** A fresh unique value name. */
  fresh(prefix = 'v'): string {
    return `${prefix}_${this.counter++}`;
  }

  /** Declares a graph input. */
  input(name: string, type: OnnxElementType, dims: readonly Dim[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  /** Declares a graph output (a value some node produces). */
  output(name: string, type: OnnxElementType, dims: readonly Dim[]): string {
    this.outputs.push(valueInfo(name, type, dims));
    return name;
  }

  /** Adds a float32 constant. */
  constFloat(data: Float32Array | readonly number[], dims: readonly number[], name = this.fresh('c')): string {
    const arr = data instanceof Float32Array ? data : Float32Array.from(data);
    checkSize(name, arr.length, dims);
    this.initializers.push(tensorProto(name, { type: 'float', dims, bytes: bytesOf(arr) }));
    return name;
  }

  /** Adds an int64 constant (shapes, axes, indices). */
  constInt64(data: readonly number[], dims: readonly number[] = [data.length], name = this.fresh('i')): string {
    checkSize(name, data.length, dims);
    const arr = BigInt64Array.from(data.map((x) => BigInt(x)));
    this.initializers.push(tensorProto(name, { type: 'int64', dims, bytes: bytesOf(arr) }));
    return name;
  }

  /**
   * Adds a node and returns its output names. `outputs` is a count (names generated) or explicit names.
   * Ops in the `com.microsoft` domain (e.g. Inverse) are marked by `domain`.
   */
  nodeN(
    opType: string,
    inputs: readonly string[],
    outputs: number | readonly string[],
    attributes: Record<string, AttributeValue> = {},
    domain = '',
  ): string[] {
    const outNames = typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.fresh(opType)) : [...outputs];
    const w = new ProtoWriter();
    for (const i of inputs) w.string(1, i);
    for (const o of outNames) w.string(2, o);
    w.string(3, this.fresh(`${opType}_node`));
    w.string(4, opType);
    for (const [k, v] of Object.entries(attributes)) w.message(5, attribute(k, v));
    if (domain) {
      w.string(7, domain);
      if (domain === 'com.microsoft') this.usesMicrosoftDomain = true;
    }
    this.nodes.push(w);
    return outNames;
  }

  /** Adds a single-output node and returns its output name (or writes to `outputName`). */
  node(
    opType: string,
    inputs: readonly string[],
    attributes: Record<string, AttributeValue> = {},
    outputName?: string,
    domain = '',
  ): string {
    const [out] = this.nodeN(opType, inputs, outputName ? [outputName] : 1, attributes, domain);
    return out as string;
  }

  /** Serialises the model. */
  build(): Uint8Array {
    const graph = new ProtoWriter();
    for (const n of this.nodes) graph.message(1, n);
    graph.string(2, this.name);
    for (const t of this.initializers) graph.message(5, t);
    for (const i of this.inputs) graph.message(11, i);
    for (const o of this.outputs) graph.message(12, o);
    const model = new ProtoWriter();
    model.varint(1, IR_VERSION);
    model.string(2, 'npad');
    model.message(7, graph);
    model.message(8, new ProtoWriter().string(1, '').varint(2, OPSET));
    if (this.usesMicrosoftDomain) model.message(8, new ProtoWriter().string(1, 'com.microsoft').varint(2, 1));
    return model.finish();
  }
}

function checkSize(name: string, length: number, dims: readonly number[]): void {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (expected !== length) throw new RangeError(`constant ${name}: ${length} values for shape [${dims.join(', ')}]`);
}
