// What a loaded model accepts and returns, in protocol terms. Derived once from ONNX Runtime's session
// metadata; the decoder, the batcher, warm-up and the metadata endpoints all read it.
import { datatypeFromOrt, type Datatype } from '../protocol/datatypes.ts';

export interface TensorSpec {
  name: string;
  datatype: Datatype;
  /** Full shape as the protocol reports it: -1 for any dynamic dimension, the batch dimension included. */
  shape: number[];
}

export interface ModelSignature {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** The leading dimension of every input and output is a dynamic batch dimension. */
  batchable: boolean;
}

/** The shape of ORT's `session.inputMetadata` entries that we rely on. */
export interface OrtValueMetadata {
  name: string;
  isTensor: boolean;
  type?: string;
  shape?: ReadonlyArray<number | string>;
}

function toSpec(meta: OrtValueMetadata, role: string): TensorSpec {
  if (!meta.isTensor || meta.type === undefined || meta.shape === undefined) {
    throw new Error(`model ${role} '${meta.name}' is not a tensor; only tensor inputs and outputs are served`);
  }
  const datatype = datatypeFromOrt(meta.type);
  if (!datatype) throw new Error(`model ${role} '${meta.name}' has element type '${meta.type}', which the protocol cannot carry`);
  // Symbolic dimensions (strings) and unknown ones (negative) are dynamic.
  const shape = meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1));
  return { name: meta.name, datatype, shape };
}

export function signatureFromMetadata(
  inputs: readonly OrtValueMetadata[],
  outputs: readonly OrtValueMetadata[],
): ModelSignature {
  const inputSpecs = inputs.map((m) => toSpec(m, 'input'));
  const outputSpecs = outputs.map((m) => toSpec(m, 'output'));
  const all = [...inputSpecs, ...outputSpecs];
  const batchable = all.length > 0 && all.every((t) => t.shape.length > 0 && t.shape[0] === -1);
  return { inputs: inputSpecs, outputs: outputSpecs, batchable };
}

/** Shape without the batch dimension (what Triton's model configuration calls `dims`). */
export function rowShape(spec: TensorSpec, batchable: boolean): number[] {
  return batchable ? spec.shape.slice(1) : spec.shape;
}
