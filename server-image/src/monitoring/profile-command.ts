// `modelship-server profile`: reads the reference data, runs the model on it with ONNX Runtime (in this
// process: a one-off command has no requests to keep answering), computes the baseline profile
// (profile.ts) and writes it. The side effects of profiling live here; the decisions in profile.ts.
import { createReadStream } from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { resolveModel, sha256Of } from '../model/source.ts';
import { signatureFromMetadata, type ModelSignature, type OrtValueMetadata } from '../model/signature.ts';
import { DATATYPES, datatypeFromOrt, type NumericArray, type Tensor, type TensorData } from '../protocol/datatypes.ts';
import { concatBatch } from '../batching/tensor-batch.ts';
import { sessionOptions } from '../runtime/session-options.ts';
import { BaselineError, parseBaseline } from './baseline.ts';
import { computeProfile } from './profile.ts';
import { JsonLinesRows, NPY_MAX_HEADER_BYTES, npyLayout, tensorsFromNpy, type ReferenceTensors } from './reference-data.ts';
import { DEFAULT_DOWNLOAD_MAX_BYTES } from '../../../contract/settings/serve-options.ts';
import type { ProfileOptions } from '../../../contract/settings/profile-options.ts';
import type { Logger } from '../../../contract/logger.ts';

function sliceRows(tensor: Tensor, start: number, end: number): Tensor {
  const width = tensor.data.length / tensor.shape[0];
  const data = (tensor.data as NumericArray).subarray(start * width, end * width);
  return { ...tensor, shape: [end - start, ...tensor.shape.slice(1)], data };
}

async function runModel(session: ort.InferenceSession, signature: ModelSignature, inputs: Tensor[], batchSize: number): Promise<Tensor[]> {
  const rows = inputs[0].shape[0];
  const batches: Tensor[][] = [];
  for (let start = 0; start < rows; start += batchSize) {
    const end = Math.min(rows, start + batchSize);
    const feeds: Record<string, ort.Tensor> = {};
    for (const input of inputs) {
      const part = sliceRows(input, start, end);
      feeds[input.name] = new ort.Tensor(DATATYPES[input.datatype].ortType as 'float32', part.data as Float32Array, part.shape);
    }
    const results = await session.run(feeds);
    batches.push(signature.outputs.map((spec) => {
      const value = results[spec.name];
      const datatype = datatypeFromOrt(value.type)!;
      return { name: spec.name, datatype, shape: [...value.dims], data: value.data as TensorData };
    }));
  }
  return concatBatch(batches);
}

/** Reads the first `maxRows` rows of JSON lines, a line at a time: the rest of the file is never read. */
async function readJsonLines(path: string, signature: ModelSignature, maxRows: number): Promise<ReferenceTensors> {
  const rows = new JsonLinesRows(signature);
  const input = createReadStream(path, { encoding: 'utf8' });
  const lines = createInterface({ input, crlfDelay: Infinity });
  let lineNumber = 0;
  try {
    for await (const line of lines) {
      if (rows.rows >= maxRows) break;
      rows.add(line, ++lineNumber);
    }
  } finally {
    lines.close();
    input.destroy();
  }
  return rows.tensors();
}

/** Reads the header of a .npy file, then only the rows it needs. */
async function readNpy(path: string, signature: ModelSignature, maxRows: number): Promise<ReferenceTensors> {
  const file = await open(path);
  try {
    const head = Buffer.alloc(NPY_MAX_HEADER_BYTES);
    const { bytesRead } = await file.read(head, 0, head.length, 0);
    const layout = npyLayout(head.subarray(0, bytesRead), signature, maxRows);
    const data = Buffer.alloc(layout.rows * layout.width * layout.size);
    const { bytesRead: dataRead } = await file.read(data, 0, data.length, layout.dataOffset);
    return tensorsFromNpy(data.subarray(0, dataRead), layout, signature);
  } finally {
    await file.close();
  }
}

/** Profiles the model on the data and writes the baseline; resolves to the number of rows profiled. */
export async function profileModel(options: ProfileOptions, logger: Logger): Promise<number> {
  const modelPath = await resolveModel(options.model, {
    cacheDir: join(tmpdir(), 'modelship-models'),
    download: { maxBytes: DEFAULT_DOWNLOAD_MAX_BYTES, idleTimeoutMs: 30000, progressIntervalMs: 10000 },
    logger,
  });
  const session = await ort.InferenceSession.create(modelPath, sessionOptions({ executionProvider: 'cpu', deviceId: 0, intraOpThreads: 0, intraOpSpinning: false }));
  try {
    const signature = signatureFromMetadata(session.inputMetadata as unknown as OrtValueMetadata[], session.outputMetadata as unknown as OrtValueMetadata[]);
    // FP16 travels as raw bits in this codebase, which onnxruntime-node misreads where Float16Array exists.
    const fp16 = [...signature.inputs, ...signature.outputs].find((s) => s.datatype === 'FP16');
    if (fp16) throw new BaselineError(`tensor '${fp16.name}' is FP16, which profile does not read yet`);
    const inputs = await (/\.npy$/i.test(options.data) ? readNpy : readJsonLines)(options.data, signature, options.maxRows).catch((error: NodeJS.ErrnoException) => {
      throw error.code === undefined ? error : new BaselineError(`--data ${options.data} cannot be read: ${error.code}`);
    });
    if (inputs[0].shape[0] === 0) throw new BaselineError(`${options.data}: no rows`);
    const outputs = await runModel(session, signature, inputs, options.batchSize);
    const baseline = computeProfile(inputs, outputs, { bins: options.bins, maxFeatures: options.maxFeatures, features: options.feature ?? [] }, {
      model: options.model, modelSha256: await sha256Of(modelPath), data: options.data,
    });
    const text = `${JSON.stringify(baseline, null, 1)}\n`;
    parseBaseline(text); // what serve will read back: refuse to write a profile it would refuse
    await writeFile(options.out, text);
    return baseline.source.rows;
  } finally {
    await session.release();
  }
}
