// The codec thread: decodes large infer request bodies and encodes large answers away from the main thread,
// whose event loop must keep answering health probes and small requests meanwhile. Bodies and tensors
// arrive and leave moved, not copied; a failure goes back as the domain error it is.
import { parentPort } from 'node:worker_threads';
import { decodeInferBody } from '../protocol/request.ts';
import { encodeInferResponse } from '../protocol/response.ts';
import { InferenceError } from '../protocol/errors.ts';
import { transferables } from '../runtime/messages.ts';
import type { CodecJob, CodecReply } from './codec-messages.ts';

function run(job: CodecJob): { reply: CodecReply; transfer: ArrayBuffer[] } {
  if (job.type === 'decode') {
    const body = Buffer.from(job.body.buffer, job.body.byteOffset, job.body.byteLength);
    const request = decodeInferBody(body, job.headerLength, job.signature, job.limits);
    return { reply: { id: job.id, ok: true, request }, transfer: transferables(request.inputs) };
  }
  const { body, headers } = encodeInferResponse(job.context, new Map(job.outputs.map((t) => [t.name, t])));
  // Moved when the buffer is the body's alone; a view into a larger (pooled) buffer is copied first.
  const owned = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength ? body : new Uint8Array(body);
  return { reply: { id: job.id, ok: true, body: owned, headers }, transfer: [owned.buffer as ArrayBuffer] };
}

parentPort!.on('message', (job: CodecJob) => {
  try {
    const { reply, transfer } = run(job);
    parentPort!.postMessage(reply, transfer);
  } catch (error) {
    const e = error instanceof InferenceError ? error : new InferenceError('internal', String((error as Error)?.message ?? error));
    parentPort!.postMessage({ id: job.id, ok: false, kind: e.kind, message: e.message, reason: e.reason } satisfies CodecReply);
  }
});
