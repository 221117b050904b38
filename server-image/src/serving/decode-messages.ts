// Messages between the main thread and the decode thread (decode-pool.ts, decode-worker.ts).
import type { ErrorKind } from '../protocol/errors.ts';
import type { DecodeLimits, InferenceRequest } from '../protocol/request.ts';
import type { ModelSignature } from '../model/signature.ts';

export interface DecodeJob {
  id: number;
  body: Uint8Array;
  headerLength: string | string[] | undefined;
  signature: ModelSignature;
  limits: DecodeLimits;
}

export type DecodeReply =
  | { id: number; ok: true; request: InferenceRequest }
  | { id: number; ok: false; kind: ErrorKind; message: string; reason?: string };
