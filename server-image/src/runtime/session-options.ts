// ONNX Runtime session options from the server's settings. Kept apart so it can be unit-tested and so the
// CUDA path is rendered (and checked) even on machines without a GPU.
import type { InferenceSession } from 'onnxruntime-node';

export interface RuntimeSettings {
  executionProvider: 'cpu' | 'cuda';
  deviceId: number;
  /** ORT intra-op threads per session; 0 lets ORT decide. */
  intraOpThreads: number;
  /** Whether idle intra-op threads spin (ORT's default) or sleep. */
  intraOpSpinning: boolean;
}

export function sessionOptions(settings: RuntimeSettings): InferenceSession.SessionOptions {
  const providers: InferenceSession.ExecutionProviderConfig[] =
    settings.executionProvider === 'cuda' ? [{ name: 'cuda', deviceId: settings.deviceId }, 'cpu'] : ['cpu'];
  return {
    executionProviders: providers,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    // One batch at a time per session: inter-op parallelism would only fight the other instances for cores.
    interOpNumThreads: 1,
    ...(settings.intraOpThreads > 0 ? { intraOpNumThreads: settings.intraOpThreads } : {}),
    // Spinning threads burn a core each between batches; on a server whose main thread parses and answers
    // requests on the same cores, that costs more throughput than the wake-up latency it saves.
    extra: { session: { intra_op: { allow_spinning: settings.intraOpSpinning ? '1' : '0' } } },
  };
}

/** Batch sizes to warm up: powers of two up to the largest, and the largest itself. */
export function warmupBatchSizes(maxBatchSize: number): number[] {
  const sizes: number[] = [];
  for (let n = 1; n < maxBatchSize; n *= 2) sizes.push(n);
  sizes.push(Math.max(1, maxBatchSize));
  return sizes;
}
