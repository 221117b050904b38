// Where shadow comparisons run: on one thread of their own, never on the router's event loop. Decoding and
// comparing two answers is synchronous and grows with them (two 64 MB JSON answers took 5 s on our
// machine), and the event loop must keep forwarding clients' requests meanwhile. One thread also means at
// most one pair is decoded (its JS objects held) at a time; the copies' byte budget holds their bodies
// until their comparison is done.
import { JobThread, ownedBuffer } from '../runtime/job-thread.ts';
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

/** The comparison thread, started on first use. The bodies given are moved to it: do not use them afterwards. */
export class CompareThread {
  private readonly thread = new JobThread<CompareJob, CompareReply>({
    url: WORKER_URL,
    failureOf: (reply) => ('error' in reply ? new Error(reply.error) : undefined),
    lost: (why) => new Error(`comparison thread ${why}`),
  });

  async compare(primary: AnswerBody, shadow: AnswerBody): Promise<Comparison> {
    const job: CompareJob = { id: this.thread.nextId(), primary, shadow };
    const reply = await this.thread.run(job, [...ownedBuffer(primary.body), ...ownedBuffer(shadow.body)]);
    return (reply as { comparison: Comparison }).comparison;
  }
}
