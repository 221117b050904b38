// One worker thread that takes jobs and answers each by id, started on first use: where the server's codec
// and the router's shadow comparison run their synchronous, data-sized work off the event loop. The thread
// never keeps the process alive (the sockets do, while there is work); if it dies, every job waiting on it
// fails and the next job starts a new one.
import { Worker } from 'node:worker_threads';

interface Pending<Reply> {
  resolve(reply: Reply): void;
  reject(error: Error): void;
}

export interface JobThreadOptions<Reply> {
  /** The worker module. */
  url: URL;
  /** A reply's failure, as the error its job rejects with; undefined when the reply is a success. */
  failureOf(reply: Reply): Error | undefined;
  /** The error waiting jobs reject with when the thread is lost ("codec thread exited with code 1"). */
  lost(why: string): Error;
}

export class JobThread<Job extends { id: number }, Reply extends { id: number }> {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending<Reply>>();
  private lastId = 0;
  private readonly options: JobThreadOptions<Reply>;

  constructor(options: JobThreadOptions<Reply>) {
    this.options = options;
  }

  /** An id for the next job. */
  nextId(): number {
    return ++this.lastId;
  }

  /** Sends a job, moving `transfer` to the thread (the sender must not use those buffers afterwards). */
  run(job: Job, transfer: ArrayBuffer[] = []): Promise<Reply> {
    return new Promise((resolve, reject) => {
      this.pending.set(job.id, { resolve, reject });
      this.thread().postMessage(job, transfer);
    });
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(this.options.url);
    worker.unref();
    worker.on('message', (reply: Reply) => {
      const waiting = this.pending.get(reply.id);
      if (!waiting) return;
      this.pending.delete(reply.id);
      const failure = this.options.failureOf(reply);
      if (failure) waiting.reject(failure);
      else waiting.resolve(reply);
    });
    const lost = (why: string) => {
      if (this.worker === worker) this.worker = undefined;
      for (const waiting of this.pending.values()) waiting.reject(this.options.lost(why));
      this.pending.clear();
    };
    worker.on('error', (error) => lost(`failed: ${error.message}`));
    worker.on('exit', (code) => lost(`exited with code ${code}`));
    this.worker = worker;
    return worker;
  }
}

/** A view's memory, to move to a thread when the view owns it whole; otherwise nothing (it is copied). */
export function ownedBuffer(view: ArrayBufferView): ArrayBuffer[] {
  const buffer = view.buffer as ArrayBuffer;
  return view.byteOffset === 0 && view.byteLength === buffer.byteLength ? [buffer] : [];
}
