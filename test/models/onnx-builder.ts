// A small builder for real ONNX graphs, so the test suite and the demo make their own models instead of
// shipping binaries. Encodes ModelProto with the onnx-proto package (ONNX's own .proto, compiled for JS).
import onnxProto from 'onnx-proto';
import type { Datatype } from '../../server-image/src/protocol/datatypes.ts';

const { onnx } = onnxProto;

const ELEM_TYPE: Record<Datatype, number> = {
  FP32: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7,
  BYTES: 8, BOOL: 9, FP16: 10, FP64: 11, UINT32: 12, UINT64: 13,
};

export type Dim = number | string;
export type AttributeValue = number | number[] | { float: number };

function attribute(name: string, value: AttributeValue) {
  const A = onnx.AttributeProto.AttributeType;
  if (Array.isArray(value)) return { name, type: A.INTS, ints: value };
  if (typeof value === 'object') return { name, type: A.FLOAT, f: value.float };
  return { name, type: A.INT, i: value };
}

function valueInfo(name: string, datatype: Datatype, shape: Dim[]) {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEM_TYPE[datatype],
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export class GraphBuilder {
  private readonly name: string;
  private readonly inputs: ReturnType<typeof valueInfo>[] = [];
  private readonly outputs: ReturnType<typeof valueInfo>[] = [];
  private readonly nodes: object[] = [];
  private readonly initializers: object[] = [];

  constructor(name: string) {
    this.name = name;
  }

  input(name: string, datatype: Datatype, shape: Dim[]): this {
    this.inputs.push(valueInfo(name, datatype, shape));
    return this;
  }

  output(name: string, datatype: Datatype, shape: Dim[]): this {
    this.outputs.push(valueInfo(name, datatype, shape));
    return this;
  }

  /** A constant tensor (weights); FP32 and INT64 are all the test models need. */
  constant(name: string, dims: number[], values: Float32Array | BigInt64Array): this {
    const isFloat = values instanceof Float32Array;
    this.initializers.push({
      name,
      dims,
      dataType: isFloat ? ELEM_TYPE.FP32 : ELEM_TYPE.INT64,
      rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
    });
    return this;
  }

  node(opType: string, inputs: string[], outputs: string[], attributes: Record<string, AttributeValue> = {}): this {
    this.nodes.push({
      opType,
      name: `${opType}_${this.nodes.length}`,
      input: inputs,
      output: outputs,
      attribute: Object.entries(attributes).map(([k, v]) => attribute(k, v)),
    });
    return this;
  }

  toBytes(): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'modelship-test-models',
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

/** Deterministic pseudo-random numbers (mulberry32), so weights and references agree across runs. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomFloats(count: number, seed: number, scale = 1): Float32Array {
  const next = seededRandom(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = (next() * 2 - 1) * scale;
  return out;
}
