// The response cache in front of the inference core's batcher: each row of a request is looked up on its
// own, rows found are answered without queueing, only the others are computed (as one smaller request, in
// the batcher like any other), and the answer is put together in row order. A store that fails or is slow
// costs a lookup within its timeout, then the request is computed as if there were no cache.
import { cancelled } from '../protocol/errors.ts';
import type { Tensor } from '../protocol/datatypes.ts';
import type { InferenceRequest } from '../protocol/request.ts';
import type { ModelSignature } from '../model/signature.ts';
import type { Cancellation, Outputs } from '../serving/inference.ts';
import type { CacheMetrics } from './metrics.ts';
import { decodeRow, encodeRow, type RowExpectation } from './row-codec.ts';
import { cachedOutputNames, rowKeys, type CacheIdentity } from './row-keys.ts';
import { assembleRows, rowOf, takeRows } from './rows.ts';
import { CacheStoreError, type CacheStore } from './store.ts';

export interface ResponseCacheOptions {
  identity: CacheIdentity;
  /** Largest stored answer of one row; larger ones are not stored. */
  maxEntryBytes: number;
}

/** Computes a request through the batcher (the core's own path). */
export type Compute = (request: InferenceRequest) => Promise<Outputs>;

export class ResponseCache {
  private readonly store: CacheStore;
  private readonly options: ResponseCacheOptions;
  private readonly metrics: CacheMetrics;

  constructor(store: CacheStore, options: ResponseCacheOptions, metrics: CacheMetrics) {
    this.store = store;
    this.options = options;
    this.metrics = metrics;
  }

  async infer(signature: ModelSignature, request: InferenceRequest, compute: Compute, cancellation?: Cancellation): Promise<Outputs> {
    const batchable = signature.batchable;
    const rows = batchable ? request.rows : 1;
    const { keys, digests } = rowKeys(this.options.identity, request, batchable);
    const names = cachedOutputNames(request);
    const outputs = names.map((name) => ({ name, datatype: signature.outputs.find((o) => o.name === name)!.datatype }));

    const found = await this.lookup(keys);
    if (cancellation?.cancelled) throw cancelled();
    const answers = new Array<Tensor[] | undefined>(rows);
    const missing: number[] = [];
    for (let row = 0; row < rows; row++) {
      const value = found[row];
      const expected: RowExpectation = { digest: digests[row], outputs, batchable };
      const answer = value === undefined ? undefined : decodeRow(value, expected);
      if (value !== undefined && answer === undefined) this.metrics.error('invalid');
      if (answer === undefined) missing.push(row);
      answers[row] = answer;
    }
    this.metrics.looked(rows - missing.length, missing.length);

    if (missing.length === 0) {
      const whole = rows === 1 ? new Map(answers[0]!.map((t) => [t.name, t])) : assembleRows(answers as Tensor[][]);
      if (whole) return whole;
      return this.computeAndStore(request, compute, [...answers.keys()], keys, digests, names, batchable);
    }
    if (missing.length === rows) return this.computeAndStore(request, compute, missing, keys, digests, names, batchable);

    const computed = await compute(takeRows(request, missing));
    missing.forEach((row, i) => (answers[row] = rowOf(computed, names, i, missing.length)));
    this.storeRows(missing.map((row) => [keys[row], encodeRow(digests[row], answers[row]!)] as const));
    const whole = assembleRows(answers as Tensor[][]);
    return whole ?? compute(request);
  }

  /** The stored values of the keys; every row a miss when the store cannot answer. */
  private async lookup(keys: string[]): Promise<Array<Buffer | undefined>> {
    try {
      return await this.store.getMany(keys);
    } catch (error) {
      this.metrics.error(error instanceof CacheStoreError ? error.kind : 'failed');
      return [];
    }
  }

  /** Computes `request` (all of it) and stores the answers of the rows listed. */
  private async computeAndStore(
    request: InferenceRequest, compute: Compute, rows: number[], keys: string[], digests: Buffer[], names: string[], batchable: boolean,
  ): Promise<Outputs> {
    const computed = await compute(request);
    const total = batchable ? request.rows : 1;
    this.storeRows(rows.map((row) => {
      const answer = batchable ? rowOf(computed, names, row, total) : names.map((name) => computed.get(name)!);
      return [keys[row], encodeRow(digests[row], answer)] as const;
    }));
    return computed;
  }

  private storeRows(entries: Array<readonly [string, Buffer]>): void {
    const fitting = entries.filter(([, value]) => value.length <= this.options.maxEntryBytes);
    if (fitting.length > 0) this.store.setMany(fitting);
  }
}
