// The ceiling for any server of a model on this machine: onnxruntime-node's `InferenceSession.run` called
// back to back in this process, with no HTTP, no encoding and no queueing, at the batch size that gives
// the most samples per second.
import ort from 'onnxruntime-node';

export interface LimitResult {
  bestBatch: number;
  samplesPerSec: number;
  byBatch: { batch: number; samplesPerSec: number }[];
}

export interface LimitOptions {
  modelPath: string;
  inputName: string;
  features: number;
  intraOpThreads: number;
  batchSizes: readonly number[];
  /** Time spent measuring each batch size, after one warm-up run. */
  budgetMs: number;
}

/** Runs at least this many times per batch size, however slow, so one outlier cannot decide. */
const MIN_RUNS = 3;

function randomInput(rows: number, features: number): Float32Array {
  return Float32Array.from({ length: rows * features }, () => Math.random() * 2 - 1);
}

export async function measureInProcessLimit(options: LimitOptions): Promise<LimitResult> {
  const { modelPath, inputName, features, intraOpThreads, batchSizes, budgetMs } = options;
  // The session options modelship's workers use, so the two differ only in what surrounds `run`.
  const session = await ort.InferenceSession.create(modelPath, {
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    interOpNumThreads: 1,
    intraOpNumThreads: intraOpThreads,
  });
  try {
    const byBatch: LimitResult['byBatch'] = [];
    for (const batch of batchSizes) {
      const feeds = { [inputName]: new ort.Tensor('float32', randomInput(batch, features), [batch, features]) };
      await session.run(feeds);
      let runs = 0;
      const started = performance.now();
      while (runs < MIN_RUNS || performance.now() - started < budgetMs) {
        await session.run(feeds);
        runs++;
      }
      byBatch.push({ batch, samplesPerSec: (batch * runs * 1000) / (performance.now() - started) });
    }
    const best = byBatch.reduce((a, b) => (b.samplesPerSec > a.samplesPerSec ? b : a));
    return { bestBatch: best.batch, samplesPerSec: best.samplesPerSec, byBatch };
  } finally {
    await session.release();
  }
}
