// Answers a broken or hostile model version may give with a 200, for the router's tests and its abuse bench:
// a binary FP32 output three bytes long (one element needs four), JSON data nested 200,000 levels deep, and
// a body that never ends, sent as fast as the reader takes it.
import type { ServerResponse } from 'node:http';

export type HostileAnswer = 'short-fp32' | 'deep' | 'endless';

export const HOSTILE_ANSWERS: Record<HostileAnswer, (res: ServerResponse) => void> = {
  'short-fp32': (res) => {
    const header = Buffer.from(JSON.stringify({ model_name: 'scores', outputs: [{ name: 'scores', datatype: 'FP32', shape: [1, 4], parameters: { binary_data_size: 3 } }] }));
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'inference-header-content-length': header.length });
    res.end(Buffer.concat([header, Buffer.from([1, 2, 3])]));
  },
  deep: (res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(`{"model_name":"scores","outputs":[{"name":"scores","datatype":"FP32","shape":[1,4],"data":${'['.repeat(200_000)}1${']'.repeat(200_000)}}]}`);
  },
  endless: (res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const pump = () => {
      while (!res.destroyed && res.write(chunk));
      if (!res.destroyed) res.once('drain', pump);
    };
    pump();
  },
};
