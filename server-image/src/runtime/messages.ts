// Messages between the main thread and a session worker. Tensor payloads travel as transferred buffers.
import type { Tensor } from '../protocol/datatypes.ts';
import type { OrtValueMetadata } from '../model/signature.ts';
import type { RuntimeSettings } from './session-options.ts';

export interface WorkerInit {
  modelPath: string;
  runtime: RuntimeSettings;
  /** Largest batch the batcher will form; warm-up runs up to it. 0 when the model is run unbatched. */
  maxBatchSize: number;
}

export interface RunMessage {
  type: 'run';
  id: number;
  inputs: Tensor[];
  outputs: string[];
}

export type WorkerMessage =
  | { type: 'loaded'; inputs: OrtValueMetadata[]; outputs: OrtValueMetadata[] }
  | { type: 'ready'; warmupMs: number }
  | { type: 'failed'; message: string }
  | { type: 'result'; id: number; outputs: Tensor[] }
  | { type: 'error'; id: number; message: string };

/**
 * Buffers that can be moved to the other thread instead of copied: only those a typed array owns whole
 * (a view into a larger or pooled buffer is copied, so no other data goes along).
 */
export function transferables(tensors: Tensor[]): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const { data } of tensors) {
    if (Array.isArray(data)) continue;
    const buffer = data.buffer as ArrayBuffer;
    if (data.byteOffset === 0 && data.byteLength === buffer.byteLength && !buffer.resizable) buffers.add(buffer);
  }
  return [...buffers];
}
