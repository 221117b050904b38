// The comparison thread (compare-thread.ts): decodes and compares a primary's and a shadow's answers away
// from the router's event loop. The bodies arrive moved, not copied.
import { parentPort } from 'node:worker_threads';
import { compareResponses } from './compare.ts';
import type { CompareJob, CompareReply } from './compare-thread.ts';

const asBuffer = (view: Uint8Array) => Buffer.from(view.buffer, view.byteOffset, view.byteLength);

parentPort!.on('message', (job: CompareJob) => {
  let reply: CompareReply;
  try {
    const comparison = compareResponses(
      { body: asBuffer(job.primary.body), headerLength: job.primary.headerLength },
      { body: asBuffer(job.shadow.body), headerLength: job.shadow.headerLength },
    );
    reply = { id: job.id, comparison };
  } catch (error) {
    // compareResponses returns every undecodable answer as a result; a throw here is a bug, reported back.
    reply = { id: job.id, error: String((error as Error)?.message ?? error) };
  }
  parentPort!.postMessage(reply);
});
