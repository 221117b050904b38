// Where infer request bodies are decoded. Small bodies (the hot path) decode inline: a thread hop would cost
// more than the work. Large ones go to one decode thread, because JSON.parse and the element checks are
// synchronous and grow with the body: a 12 MB body of a million keys held the event loop for 5.5 s, and a
// liveness probe that cannot get through in that time restarts a healthy pod. One thread also means at
// most one large body is being parsed (and its JS objects held) at a time.
import { Worker } from 'node:worker_threads';
import { decodeInferBody, type DecodeLimits, type InferenceRequest } from '../protocol/request.ts';
import { InferenceError, internal } from '../protocol/errors.ts';
import type { ModelSignature } from '../model/signature.ts';
import type { DecodeJob, DecodeReply } from './decode-messages.ts';

const WORKER_URL = new URL('./decode-worker.ts', import.meta.url);

/** Bodies at least this large are decoded off the main thread (about 20 ms of JSON.parse on a slow core). */
export const OFF_THREAD_BYTES = 256 * 1024;

interface Pending {
  resolve(request: InferenceRequest): void;
  reject(error: Error): void;
}

export class RequestDecoder {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  decode(body: Buffer, headerLength: string | string[] | undefined, signature: ModelSignature, limits: DecodeLimits): Promise<InferenceRequest> {
    if (body.length < OFF_THREAD_BYTES) {
      try {
        return Promise.resolve(decodeInferBody(body, headerLength, signature, limits));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const id = this.nextId++;
    const job: DecodeJob = { id, body, headerLength, signature, limits };
    // Move the body when it owns its memory whole; otherwise the worker gets a copy.
    const owned = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.thread().postMessage(job, owned ? [body.buffer as ArrayBuffer] : []);
    });
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_URL);
    // The decode thread never keeps the process alive: the server's sockets do, while there is work.
    worker.unref();
    worker.on('message', (reply: DecodeReply) => {
      const waiting = this.pending.get(reply.id);
      if (!waiting) return;
      this.pending.delete(reply.id);
      if (reply.ok) waiting.resolve(reply.request);
      else waiting.reject(new InferenceError(reply.kind, reply.message, reply.reason));
    });
    const lost = (why: string) => {
      if (this.worker === worker) this.worker = undefined;
      for (const waiting of this.pending.values()) waiting.reject(internal(`request decoder ${why}`));
      this.pending.clear();
    };
    worker.on('error', (error) => lost(`failed: ${error.message}`));
    worker.on('exit', (code) => lost(`exited with code ${code}`));
    this.worker = worker;
    return worker;
  }
}
