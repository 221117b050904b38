// Messages between the main thread and the codec thread (codec-thread.ts, codec-worker.ts).
import type { ErrorKind } from '../protocol/errors.ts';
import type { DecodeLimits, InferenceRequest } from '../protocol/request.ts';
import type { ResponseContext } from '../protocol/response.ts';
import type { Tensor } from '../protocol/datatypes.ts';
import type { ModelSignature } from '../model/signature.ts';

export type CodecJob =
  | { type: 'decode'; id: number; body: Uint8Array; headerLength: string | string[] | undefined; signature: ModelSignature; limits: DecodeLimits }
  | { type: 'encode'; id: number; context: ResponseContext; outputs: Tensor[] };

export type CodecReply =
  | { id: number; ok: true; request: InferenceRequest }
  | { id: number; ok: true; body: Uint8Array; headers: Record<string, string> }
  | { id: number; ok: false; kind: ErrorKind; message: string; reason?: string };
