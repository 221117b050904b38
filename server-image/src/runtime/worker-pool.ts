// The pool of session workers (`--instances`). It loads the model in every worker, learns the model's
// signature from the first, and runs one batch per worker at a time. A worker that dies is replaced; the
// batch it held fails with a 500 and no other request is touched.
import { Worker } from 'node:worker_threads';
import type { Tensor } from '../protocol/datatypes.ts';
import { signatureFromMetadata, type ModelSignature } from '../model/signature.ts';
import type { BatchExecutor } from '../batching/dynamic-batcher.ts';
import { transferables, type RunMessage, type WorkerInit, type WorkerMessage } from './messages.ts';

const WORKER_URL = new URL('./session-worker.ts', import.meta.url);

interface Job {
  resolve(outputs: Tensor[]): void;
  reject(error: Error): void;
  settled: Promise<unknown>;
}

class SessionWorker {
  readonly worker: Worker;
  job: Job | undefined;
  private nextId = 0;

  constructor(init: WorkerInit) {
    this.worker = new Worker(WORKER_URL, { workerData: init });
  }

  /** Resolves with the model's signature once the session is loaded and warmed up. */
  start(): Promise<ModelSignature> {
    return new Promise((resolve, reject) => {
      let signature: ModelSignature | undefined;
      const onMessage = (message: WorkerMessage) => {
        if (message.type === 'loaded') {
          try {
            signature = signatureFromMetadata(message.inputs, message.outputs);
          } catch (error) {
            reject(error);
          }
        } else if (message.type === 'ready') {
          this.worker.off('message', onMessage);
          this.worker.on('message', (m: WorkerMessage) => this.settle(m));
          resolve(signature!);
        } else if (message.type === 'failed') {
          reject(new Error(message.message));
        }
      };
      this.worker.on('message', onMessage);
      this.worker.once('error', reject);
      this.worker.once('exit', (code) => reject(new Error(`model worker exited with code ${code} while loading`)));
    });
  }

  run(inputs: Tensor[], outputs: string[]): Promise<Tensor[]> {
    let job!: Job;
    const result = new Promise<Tensor[]>((resolve, reject) => {
      job = { resolve, reject, settled: Promise.resolve() };
    });
    job.settled = result.catch(() => undefined);
    this.job = job;
    const message: RunMessage = { type: 'run', id: this.nextId++, inputs, outputs };
    this.worker.postMessage(message, transferables(inputs));
    return result;
  }

  /**
   * Stops the worker once its current batch (if any) is done. Terminating a thread inside ORT's native
   * `run` aborts the whole process, and native code cannot be interrupted anyway, so we wait for it.
   */
  async stop(): Promise<void> {
    await this.job?.settled;
    await this.worker.terminate();
  }

  private settle(message: WorkerMessage): void {
    const job = this.job;
    this.job = undefined;
    if (!job) return;
    if (message.type === 'result') job.resolve(message.outputs);
    else if (message.type === 'error') job.reject(new Error(message.message));
  }
}

export class WorkerPool implements BatchExecutor {
  private readonly workers: SessionWorker[] = [];
  private readonly init: WorkerInit;
  private closing = false;
  readonly signature: ModelSignature;
  onWorkerLost: (error: Error) => void = () => {};

  private constructor(init: WorkerInit, workers: SessionWorker[], signature: ModelSignature) {
    this.init = init;
    this.signature = signature;
    for (const w of workers) this.adopt(w);
  }

  /** Starts `instances` workers; rejects (after stopping them all) if any fails to load or warm up. */
  static async start(init: WorkerInit, instances: number): Promise<WorkerPool> {
    const workers = Array.from({ length: instances }, () => new SessionWorker(init));
    try {
      const signatures = await Promise.all(workers.map((w) => w.start()));
      return new WorkerPool(init, workers, signatures[0]);
    } catch (error) {
      await Promise.all(workers.map((w) => w.worker.terminate()));
      throw error;
    }
  }

  /** Workers alive now; a lost worker is gone until its replacement has loaded. */
  get size(): number {
    return this.workers.length;
  }

  idleCount(): number {
    let n = 0;
    for (const w of this.workers) if (!w.job) n++;
    return n;
  }

  busyCount(): number {
    return this.workers.length - this.idleCount();
  }

  run(inputs: Tensor[], outputs: string[]): Promise<Tensor[]> {
    const worker = this.workers.find((w) => !w.job);
    if (!worker) return Promise.reject(new Error('no idle model worker'));
    return worker.run(inputs, outputs);
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w.stop()));
  }

  private adopt(worker: SessionWorker): void {
    this.workers.push(worker);
    worker.worker.removeAllListeners('error');
    worker.worker.removeAllListeners('exit');
    const lost = (error: Error) => {
      if (this.closing) return;
      const index = this.workers.indexOf(worker);
      if (index < 0) return;
      this.workers.splice(index, 1);
      worker.job?.reject(new Error(`model worker failed: ${error.message}`));
      worker.job = undefined;
      this.onWorkerLost(error);
      void this.replace();
    };
    worker.worker.on('error', lost);
    worker.worker.on('exit', (code) => lost(new Error(`exited with code ${code}`)));
  }

  private async replace(): Promise<void> {
    const worker = new SessionWorker(this.init);
    try {
      await worker.start();
      if (this.closing) await worker.worker.terminate();
      else this.adopt(worker);
    } catch (error) {
      this.onWorkerLost(error as Error);
    }
  }
}
