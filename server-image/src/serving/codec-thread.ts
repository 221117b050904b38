// Where large infer requests are decoded and large answers encoded. Small ones (the hot path) are done
// inline by the caller: a thread hop would cost more than the work. Large ones go to one codec thread, because JSON.parse, the element
// checks and JSON.stringify are synchronous and grow with the data: a 12 MB body of a million keys held the
// event loop for 5.5 s, and a liveness probe that cannot get through in that time restarts a healthy pod.
// One thread also means at most one large body is parsed (its JS objects held) at a time.
import type { DecodeLimits, InferenceRequest } from '../protocol/request.ts';
import type { EncodedResponse, ResponseContext } from '../protocol/response.ts';
import { InferenceError, internal } from '../protocol/errors.ts';
import { transferables } from '../runtime/messages.ts';
import { JobThread, ownedBuffer } from '../runtime/job-thread.ts';
import type { Tensor } from '../protocol/datatypes.ts';
import type { ModelSignature } from '../model/signature.ts';
import type { CodecJob, CodecReply } from './codec-messages.ts';

const WORKER_URL = new URL('./codec-worker.ts', import.meta.url);

/** Bodies at least this large are decoded off the main thread (about 20 ms of JSON.parse on a slow core). */
export const OFF_THREAD_BODY_BYTES = 256 * 1024;
/** Answers with at least this many elements are encoded off the main thread (as JSON, about 10 ms). */
export const OFF_THREAD_ANSWER_ELEMENTS = 64 * 1024;

/** Whether a body is decoded on the codec thread. */
export function decodesOffThread(body: Buffer): boolean {
  return body.length >= OFF_THREAD_BODY_BYTES;
}

/** Whether an answer is encoded on the codec thread. */
export function encodesOffThread(context: ResponseContext, outputs: Map<string, Tensor>): boolean {
  let elements = 0;
  for (const { name } of context.requested) elements += outputs.get(name)!.data.length;
  return elements >= OFF_THREAD_ANSWER_ELEMENTS;
}

/** The codec thread, started on first use. Callers do small work inline (see decodesOffThread, encodesOffThread). */
export class CodecThread {
  private readonly thread = new JobThread<CodecJob, CodecReply>({
    url: WORKER_URL,
    failureOf: (reply) => (reply.ok ? undefined : new InferenceError(reply.kind, reply.message, reply.reason)),
    lost: (why) => internal(`codec thread ${why}`),
  });

  decode(body: Buffer, headerLength: string | string[] | undefined, signature: ModelSignature, limits: DecodeLimits): Promise<InferenceRequest> {
    const id = this.thread.nextId();
    return this.thread.run({ type: 'decode', id, body, headerLength, signature, limits }, ownedBuffer(body)).then((reply) => (reply as { request: InferenceRequest }).request);
  }

  encode(context: ResponseContext, outputs: Map<string, Tensor>): Promise<EncodedResponse> {
    // Only the requested outputs travel, each copied into a buffer of its own and moved: an output is often
    // a view into its batch's buffer (which a plain postMessage would clone whole, once per request of the
    // batch), and what the core's observers were handed must stay intact.
    const tensors = context.requested.map(({ name }) => {
      const tensor = outputs.get(name)!;
      return { ...tensor, data: tensor.data.slice() };
    });
    const id = this.thread.nextId();
    return this.thread.run({ type: 'encode', id, context, outputs: tensors }, transferables(tensors)).then((reply) => {
      const { body, headers } = reply as { body: Uint8Array; headers: Record<string, string> };
      return { body: Buffer.from(body.buffer, body.byteOffset, body.byteLength), headers };
    });
  }
}
