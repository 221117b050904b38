// One ONNX Runtime session in its own worker thread. `session.run` is native code that would otherwise
// block the event loop; here it blocks only this thread, so the main thread keeps answering health checks,
// metrics and new requests while batches compute.
import { parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { allocate, datatypeFromOrt, elementCount, DATATYPES, type Tensor, type TensorData } from '../protocol/datatypes.ts';
import { signatureFromMetadata, type ModelSignature, type OrtValueMetadata } from '../model/signature.ts';
import { sessionOptions, warmupBatchSizes } from './session-options.ts';
import { transferables, type RunMessage, type WorkerInit, type WorkerMessage } from './messages.ts';

const port = parentPort!;
const init = workerData as WorkerInit;
// FP16 travels as raw bits (Uint16Array) everywhere in the server. onnxruntime-common wraps such data in a
// Float16Array when the global exists (Node 24), which the native binding then reads as empty; hiding the
// global in this worker, before ORT's first tensor, keeps ORT on its Uint16Array path both ways.
Reflect.deleteProperty(globalThis, 'Float16Array');

const post = (message: WorkerMessage, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

function toOrt(tensor: Tensor): ort.Tensor {
  return new ort.Tensor(DATATYPES[tensor.datatype].ortType as 'float32', tensor.data as Float32Array, tensor.shape);
}

function fromOrt(name: string, value: ort.Tensor): Tensor {
  const datatype = datatypeFromOrt(value.type);
  if (!datatype) throw new Error(`output '${name}' has element type '${value.type}', which the protocol cannot carry`);
  return { name, datatype, shape: [...value.dims], data: value.data as TensorData };
}

function warmupInputs(signature: ModelSignature, rows: number): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const spec of signature.inputs) {
    const shape = spec.shape.map((d, i) => (d >= 0 ? d : i === 0 && signature.batchable ? rows : 1));
    feeds[spec.name] = toOrt({ ...spec, shape, data: allocate(spec.datatype, elementCount(shape)) });
  }
  return feeds;
}

async function main(): Promise<void> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(init.modelPath, sessionOptions(init.runtime));
  } catch (error) {
    post({ type: 'failed', message: `cannot load model: ${(error as Error).message}` });
    return;
  }
  const inputs = session.inputMetadata as unknown as OrtValueMetadata[];
  const outputs = session.outputMetadata as unknown as OrtValueMetadata[];
  post({ type: 'loaded', inputs, outputs });

  let signature: ModelSignature;
  const started = performance.now();
  try {
    signature = signatureFromMetadata(inputs, outputs);
    const sizes = signature.batchable ? warmupBatchSizes(init.maxBatchSize) : [1];
    for (const rows of sizes) await session.run(warmupInputs(signature, rows));
  } catch (error) {
    post({ type: 'failed', message: `model warm-up failed: ${(error as Error).message}` });
    return;
  }
  post({ type: 'ready', warmupMs: performance.now() - started });

  port.on('message', async (message: RunMessage) => {
    try {
      const feeds: Record<string, ort.Tensor> = {};
      for (const tensor of message.inputs) feeds[tensor.name] = toOrt(tensor);
      const results = await session.run(feeds, message.outputs);
      const tensors = message.outputs.map((name) => fromOrt(name, results[name] as ort.Tensor));
      post({ type: 'result', id: message.id, outputs: tensors }, transferables(tensors));
    } catch (error) {
      post({ type: 'error', id: message.id, message: (error as Error).message });
    }
  });
}

void main();
