// The decode thread: parses and checks large infer request bodies away from the main thread, whose event
// loop must keep answering health probes and small requests meanwhile. Each body arrives moved (not copied)
// and its tensors go back moved; any failure goes back as the domain error it is.
import { parentPort } from 'node:worker_threads';
import { decodeInferBody } from '../protocol/request.ts';
import { InferenceError } from '../protocol/errors.ts';
import { transferables } from '../runtime/messages.ts';
import type { DecodeJob, DecodeReply } from './decode-messages.ts';

parentPort!.on('message', (job: DecodeJob) => {
  let reply: DecodeReply;
  try {
    const body = Buffer.from(job.body.buffer, job.body.byteOffset, job.body.byteLength);
    const request = decodeInferBody(body, job.headerLength, job.signature, job.limits);
    reply = { id: job.id, ok: true, request };
  } catch (error) {
    const e = error instanceof InferenceError ? error : new InferenceError('internal', String((error as Error)?.message ?? error));
    reply = { id: job.id, ok: false, kind: e.kind, message: e.message, reason: e.reason };
  }
  parentPort!.postMessage(reply, reply.ok ? transferables(reply.request.inputs) : []);
});
