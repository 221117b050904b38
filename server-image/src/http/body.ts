// Reads a request body into one Buffer, refusing (413) anything over the limit before buffering it all;
// after a 413, lingers so the client reads the answer. Shared by the model server and the router, whose
// byte budgets work the same way.
//
// With a reservation from the process's byte budget, the body's bytes are reserved before they are
// buffered: all at once when the client declares a Content-Length (and the body is read straight into one
// buffer of that size, never twice in memory), chunk by chunk when it streams. Past the budget the read
// stops and the caller answers 503 at once.
import type { IncomingMessage } from 'node:http';
import { badRequest, cancelled, tooLarge, unavailable } from '../protocol/errors.ts';
import type { Reservation } from '../memory/byte-budget.ts';

export const overBudget = (bytes: number, budget: number) =>
  unavailable(`no room for ${bytes} more bytes of request data: at most ${budget} bytes may be in flight (maxInflightBytes, --max-inflight-bytes); retry later`);

export function readBody(req: IncomingMessage, limit: number, reservation?: Reservation): Promise<Buffer> {
  // Gone already (it waited behind an unread answer on a connection that has since closed): no events will come.
  if (req.destroyed) return Promise.reject(cancelled());
  const declaredHeader = req.headers['content-length'];
  const declared = declaredHeader === undefined ? undefined : Number(declaredHeader);
  if (declared !== undefined && declared > limit) {
    req.resume();
    return Promise.reject(tooLarge(`request body of ${declared} bytes exceeds the limit of ${limit} bytes`));
  }
  if (declared !== undefined && reservation && declared > reservation.budgetBytes) {
    // It could never fit, however long the client waited: that is a 413, not a "retry later".
    req.resume();
    return Promise.reject(tooLarge(`request body of ${declared} bytes exceeds the budget of ${reservation.budgetBytes} bytes in flight (maxInflightBytes, --max-inflight-bytes)`));
  }
  if (declared !== undefined && reservation && !reservation.grow(declared)) {
    req.resume();
    return Promise.reject(overBudget(declared, reservation.budgetBytes));
  }
  return new Promise((resolve, reject) => {
    const stop = (error: Error) => {
      req.removeAllListeners('data');
      req.resume();
      reject(error);
    };
    // One buffer of the declared size, filled as the chunks come (the parser never passes more than declared).
    const whole = declared !== undefined && declared > 0 ? Buffer.allocUnsafe(declared) : undefined;
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      if (whole) {
        chunk.copy(whole, size);
        size += chunk.length;
        return;
      }
      size += chunk.length;
      if (size > limit) return stop(tooLarge(`request body exceeds the limit of ${limit} bytes`));
      if (reservation && !reservation.grow(chunk.length)) return stop(overBudget(chunk.length, reservation.budgetBytes));
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (whole) resolve(size === whole.length ? whole : whole.subarray(0, size));
      else resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    });
    req.on('error', (error) => reject(badRequest(`cannot read request body: ${error.message}`)));
    req.on('aborted', () => reject(cancelled()));
  });
}

/**
 * After a 413 (or a 503 for the byte budget) the rest of the body is still arriving. Closing at once would
 * make the client's next write fail (EPIPE/RST) before it reads our answer, so, like a web server's
 * lingering close, keep discarding what comes for a while and cut the connection only if the body does not end.
 */
const LINGER_MS = 5000;
export function lingerThenClose(req: IncomingMessage): void {
  if (req.readableEnded) return;
  const timer = setTimeout(() => req.socket.destroy(), LINGER_MS).unref();
  req.once('end', () => clearTimeout(timer));
  req.resume();
}
