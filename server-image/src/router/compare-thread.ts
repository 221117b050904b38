// Where shadow comparisons run: on one thread of their own, never on the router's event loop. Decoding and
// comparing two answers is synchronous and grows with them (two 64 MB JSON answers took 5 s on our
// machine), and the event loop must keep forwarding clients' requests meanwhile. One thread also means at
// most one pair is decoded (its JS objects held) at a time; the copies' byte budget holds their bodies
// until their comparison is done.
import { Worker } from 'node:worker_threads';
import type { Comparison } from './compare.ts';

const WORKER_URL = new URL('./compare-worker.ts', import.meta.url);

/** An answer's body and its binary header length, as compareResponses takes them. */
export interface AnswerBody {
  body: Buffer;
  headerLength?: string;
}

export interface CompareJob {
  id: number;
  primary: { body: Uint8Array; headerLength?: string };
  shadow: { body: Uint8Array; headerLength?: string };
}

export type CompareReply = { id: number; comparison: Comparison } | { id: number; error: string };

/** Moves a buffer's memory when it owns it whole (the bodies were concatenated for this); otherwise it is copied. */
function owned(view: Uint8Array): ArrayBuffer[] {
  const buffer = view.buffer as ArrayBuffer;
  return view.byteOffset === 0 && view.byteLength === buffer.byteLength ? [buffer] : [];
}

interface Pending {
  resolve(comparison: Comparison): void;
  reject(error: Error): void;
}

/** The comparison thread, started on first use. The bodies given are moved to it: do not use them afterwards. */
export class CompareThread {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  compare(primary: AnswerBody, shadow: AnswerBody): Promise<Comparison> {
    const job: CompareJob = { id: this.nextId++, primary, shadow };
    return new Promise((resolve, reject) => {
      this.pending.set(job.id, { resolve, reject });
      this.thread().postMessage(job, [...owned(primary.body), ...owned(shadow.body)]);
    });
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_URL);
    // The thread never keeps the process alive: the router's sockets do, while there is work.
    worker.unref();
    worker.on('message', (reply: CompareReply) => {
      const waiting = this.pending.get(reply.id);
      if (!waiting) return;
      this.pending.delete(reply.id);
      if ('comparison' in reply) waiting.resolve(reply.comparison);
      else waiting.reject(new Error(reply.error));
    });
    const lost = (why: string) => {
      if (this.worker === worker) this.worker = undefined;
      for (const waiting of this.pending.values()) waiting.reject(new Error(`comparison thread ${why}`));
      this.pending.clear();
    };
    worker.on('error', (error) => lost(`failed: ${error.message}`));
    worker.on('exit', (code) => lost(`exited with code ${code}`));
    this.worker = worker;
    return worker;
  }
}
