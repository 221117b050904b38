// The limits every infer request is held to, from the `serve` settings: its body's size, the shapes and
// parameters it may declare, and the byte budget all requests in flight share.
import { defaultBudgetBytes } from '../memory/byte-budget.ts';
import { containerMemoryLimit } from '../memory/container-limit.ts';
import type { DecodeLimits } from '../protocol/request.ts';
import type { ServeOptions } from '../../../contract/settings/serve-options.ts';

export interface RequestLimits {
  maxBodyBytes: number;
  /** Bytes of request and response data held at once, all requests together. */
  maxInflightBytes: number;
  /** Decoding limits, less the model's batch size (known once it has loaded). */
  decode: Omit<DecodeLimits, 'maxBatchSize'>;
}

export type LimitSettings = Pick<ServeOptions, 'maxBodyBytes' | 'maxInflightBytes' | 'maxTensorElements' | 'maxBytesElements' | 'maxTensorRank' | 'maxParameters' | 'allowNonFinite'>;

/** `memoryLimit`: the container's memory limit in bytes, undefined when none is known. */
export function requestLimits(options: LimitSettings, memoryLimit: number | undefined = containerMemoryLimit()): RequestLimits {
  return {
    maxBodyBytes: options.maxBodyBytes,
    maxInflightBytes: options.maxInflightBytes > 0 ? options.maxInflightBytes : defaultBudgetBytes(memoryLimit),
    decode: {
      tensors: { maxElements: options.maxTensorElements, maxBytesElements: options.maxBytesElements, maxRank: options.maxTensorRank },
      maxParameters: options.maxParameters,
      allowNonFinite: options.allowNonFinite,
    },
  };
}
