// The baseline the benchmark compares modelship-server with: the model server a user would write in an
// afternoon with express and onnxruntime-node. One `session.run` per request, no batching, no worker
// threads, the same Open Inference Protocol JSON and binary tensor formats. It handles FP32 tensors only,
// which is all the benchmark's models take.
//
//   node bench/naive-server.ts --model PATH --port N [--host 127.0.0.1] [--intra-op-threads N]
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import express from 'express';
import ort from 'onnxruntime-node';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string' },
    port: { type: 'string', default: '8080' },
    host: { type: 'string', default: '127.0.0.1' },
    'intra-op-threads': { type: 'string', default: '0' },
  },
});
if (!args.model) throw new Error('--model is required');
const modelName = basename(args.model).replace(/\.onnx$/i, '');
const intraOpNumThreads = Number(args['intra-op-threads']);

const session = await ort.InferenceSession.create(args.model, intraOpNumThreads > 0 ? { intraOpNumThreads } : {});

interface InferInput {
  name: string;
  datatype: string;
  shape: number[];
  data?: number[];
  parameters?: { binary_data_size?: number };
}

interface InferBody {
  inputs: InferInput[];
  parameters?: { binary_data_output?: boolean };
}

/** Feeds for the session from the request: tensor data from the JSON, or from the bytes after the JSON header. */
function feedsOf(request: InferBody, binary: Buffer): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  let offset = 0;
  for (const input of request.inputs) {
    if (input.datatype !== 'FP32') throw new Error(`input '${input.name}': only FP32 is supported`);
    const size = input.parameters?.binary_data_size;
    let data: Float32Array;
    if (size === undefined) {
      data = Float32Array.from(input.data ?? []);
    } else {
      // Copied into a buffer of its own: the body's bytes need not be 4-byte aligned.
      data = new Float32Array(size / 4);
      new Uint8Array(data.buffer).set(binary.subarray(offset, offset + size));
      offset += size;
    }
    feeds[input.name] = new ort.Tensor('float32', data, input.shape);
  }
  return feeds;
}

const app = express();
app.disable('x-powered-by');
app.use(express.raw({ type: () => true, limit: '64mb' }));

app.get('/v2/health/ready', (_req, res) => {
  res.json({ ready: true });
});

app.post('/v2/models/:name/infer', async (req, res) => {
  if (req.params.name !== modelName) {
    res.status(404).json({ error: `unknown model '${req.params.name}'` });
    return;
  }
  const body = req.body as Buffer;
  const headerLength = req.get('inference-header-content-length');
  const jsonEnd = headerLength === undefined ? body.length : Number(headerLength);
  let request: InferBody;
  let feeds: Record<string, ort.Tensor>;
  try {
    request = JSON.parse(body.toString('utf8', 0, jsonEnd)) as InferBody;
    feeds = feedsOf(request, body.subarray(jsonEnd));
  } catch (error) {
    res.status(400).json({ error: (error as Error).message });
    return;
  }
  const results = await session.run(feeds);

  const binaryOutput = request.parameters?.binary_data_output === true;
  const binaryParts: Buffer[] = [];
  const outputs = session.outputNames.map((name) => {
    const tensor = results[name];
    const head = { name, datatype: 'FP32', shape: tensor.dims };
    const data = tensor.data as Float32Array;
    if (!binaryOutput) return { ...head, data: Array.from(data) };
    binaryParts.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    return { ...head, parameters: { binary_data_size: data.byteLength } };
  });
  const answer = { model_name: modelName, model_version: '1', outputs };
  if (!binaryOutput) {
    res.json(answer);
    return;
  }
  const header = Buffer.from(JSON.stringify(answer));
  res.set({ 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) });
  res.send(Buffer.concat([header, ...binaryParts]));
});

const server = app.listen(Number(args.port), args.host);

// Stops cleanly when the benchmark is done: no new connections, idle keep-alive ones closed at once.
process.once('SIGTERM', () => {
  server.close(() => {
    void session.release().then(() => process.exit(0));
  });
  server.closeIdleConnections();
});
