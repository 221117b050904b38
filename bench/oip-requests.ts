// Open Inference Protocol (KServe V2) infer requests of one random FP32 row, as a JSON body or with the
// binary tensor data extension, and the check that a response came back in the format asked for.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

export type BodyKind = 'json' | 'binary';
export const BODY_KINDS: readonly BodyKind[] = ['json', 'binary'];

export interface OutgoingRequest {
  body: Buffer;
  headers: OutgoingHttpHeaders;
}

const HEADER_LENGTH = 'inference-header-content-length';

/** Uniform in [-1, 1): any finite value will do; what matters is that no two requests carry the same row. */
const randomFeature = () => Math.random() * 2 - 1;

/** A function that builds a fresh request, with a new random row each call, for a model input [batch, features]. */
export function requestFactory(inputName: string, features: number, kind: BodyKind): () => OutgoingRequest {
  const shape = [1, features];
  if (kind === 'json') {
    return () => {
      const data = Array.from({ length: features }, randomFeature);
      const body = Buffer.from(JSON.stringify({ inputs: [{ name: inputName, datatype: 'FP32', shape, data }] }));
      return { body, headers: { 'content-type': 'application/json', 'content-length': body.length } };
    };
  }
  const dataBytes = features * 4;
  // The JSON header is the same for every request; only the tensor bytes after it change.
  const header = Buffer.from(JSON.stringify({
    inputs: [{ name: inputName, datatype: 'FP32', shape, parameters: { binary_data_size: dataBytes } }],
    parameters: { binary_data_output: true },
  }));
  return () => {
    const body = Buffer.alloc(header.length + dataBytes);
    header.copy(body);
    for (let i = 0, offset = header.length; i < features; i++, offset += 4) body.writeFloatLE(randomFeature(), offset);
    return {
      body,
      headers: { 'content-type': 'application/octet-stream', 'content-length': body.length, [HEADER_LENGTH]: header.length },
    };
  };
}

/** Why a response is not a successful answer in the requested format, or undefined when it is. */
export function responseProblem(kind: BodyKind, status: number, headers: IncomingHttpHeaders): string | undefined {
  if (status !== 200) return `HTTP ${status}`;
  if (kind === 'binary' && headers[HEADER_LENGTH] === undefined) return `binary output asked for, but no ${HEADER_LENGTH} header`;
  return undefined;
}
