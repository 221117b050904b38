// The router's reading of a request body: like body.ts's readBody (413 past the body limit), with every
// byte held in the router's byte budget before it is buffered: what the request declares, up front, or
// what arrives, chunk by chunk, when it declares nothing. Past the budget the request is refused with 503
// at once instead of growing the process toward its container's memory limit.
import type { IncomingMessage } from 'node:http';
import { InferenceError, badRequest } from '../protocol/errors.ts';
import type { Reservation } from '../memory/byte-budget.ts';

const overBudget = (limitBytes: number) =>
  new InferenceError(503, `the router holds as many bytes of requests as it may (--max-inflight-bytes ${limitBytes}); try again shortly`, 'over_budget');

/** The body, its bytes held in `reservation`; rejects with 413, 503 (budget), 400 or 499 (client gone). */
export function readBodyWithin(req: IncomingMessage, limit: number, reservation: Reservation, budgetBytes: number): Promise<Buffer> {
  const declaredHeader = req.headers['content-length'];
  const declared = declaredHeader === undefined ? undefined : Number(declaredHeader);
  if (declared !== undefined && declared > limit) {
    req.resume();
    return Promise.reject(new InferenceError(413, `request body of ${declared} bytes exceeds the limit of ${limit} bytes`));
  }
  if (declared !== undefined && !reservation.grow(declared)) {
    req.resume();
    return Promise.reject(overBudget(budgetBytes));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const refuse = (error: InferenceError) => {
      req.removeAllListeners('data');
      req.resume();
      reject(error);
    };
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) return refuse(new InferenceError(413, `request body exceeds the limit of ${limit} bytes`));
      if (declared === undefined && !reservation.grow(chunk.length)) return refuse(overBudget(budgetBytes));
      chunks.push(chunk);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)));
    req.on('error', (error) => reject(badRequest(`cannot read request body: ${error.message}`)));
    req.on('aborted', () => reject(new InferenceError(499, 'client closed the request', 'cancelled')));
  });
}
