// Reads a request body into one Buffer, refusing (413) anything over the limit before buffering it all;
// after a 413, lingers so the client reads the answer. Shared by the model server and the router.
import type { IncomingMessage } from 'node:http';
import { InferenceError, badRequest } from '../protocol/errors.ts';

export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    req.resume();
    return Promise.reject(new InferenceError(413, `request body of ${declared} bytes exceeds the limit of ${limit} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new InferenceError(413, `request body exceeds the limit of ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)));
    req.on('error', (error) => reject(badRequest(`cannot read request body: ${error.message}`)));
    req.on('aborted', () => reject(new InferenceError(499, 'client closed the request', 'cancelled')));
  });
}

/**
 * After a 413 the rest of the oversized body is still arriving. Closing at once would make the client's
 * next write fail (EPIPE/RST) before it reads our answer, so, like a web server's lingering close, keep
 * discarding what comes for a while and cut the connection only if the body does not end.
 */
const LINGER_MS = 5000;
export function lingerThenClose(req: IncomingMessage): void {
  if (req.readableEnded) return;
  const timer = setTimeout(() => req.socket.destroy(), LINGER_MS).unref();
  req.once('end', () => clearTimeout(timer));
  req.resume();
}
