// Reads a request body into one Buffer, refusing (413) anything over the limit before buffering it all.
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
