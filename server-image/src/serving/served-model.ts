// One loaded model: its identity, signature, worker pool, batcher and metrics.
// The HTTP layer reads from it; nothing here knows about HTTP.
import { DynamicBatcher, type BatcherOptions } from '../batching/dynamic-batcher.ts';
import { rowShape, type ModelSignature } from '../model/signature.ts';
import { DATATYPES } from '../protocol/datatypes.ts';
import type { ServerMetrics } from '../observability/metrics.ts';
import type { WorkerPool } from '../runtime/worker-pool.ts';

export interface ServedModelParts {
  name: string;
  version: string;
  pool: WorkerPool;
  batching: BatcherOptions;
  metrics: ServerMetrics;
  /** How the sessions run, for Triton's `instance_group`. */
  instances: { count: number; gpu?: number };
}

export class ServedModel {
  readonly name: string;
  readonly version: string;
  readonly signature: ModelSignature;
  /** Effective max batch size: 0 when the model has no batch dimension or batching is off. */
  readonly maxBatchSize: number;
  readonly batcher: DynamicBatcher;
  readonly metrics: ServerMetrics;
  readonly pool: WorkerPool;
  private readonly instances: ServedModelParts['instances'];
  private readonly batcherOptions: BatcherOptions;

  constructor({ name, version, pool, batching, metrics, instances }: ServedModelParts) {
    this.name = name;
    this.version = version;
    this.pool = pool;
    this.signature = pool.signature;
    this.instances = instances;
    this.maxBatchSize = this.signature.batchable ? batching.maxBatchSize : 0;
    this.batcherOptions = { ...batching, maxBatchSize: this.maxBatchSize };
    this.metrics = metrics;
    this.batcher = new DynamicBatcher(this.batcherOptions, pool, metrics);
  }

  /** Model metadata in the Open Inference Protocol's shape. */
  metadata(): object {
    return {
      name: this.name,
      versions: [this.version],
      platform: 'onnxruntime_onnx',
      inputs: this.signature.inputs,
      outputs: this.signature.outputs,
    };
  }

  /** Model configuration in Triton's shape, so Triton tooling (perf_analyzer) can drive the server. */
  tritonConfig(): object {
    const batched = this.maxBatchSize > 0;
    const tensor = (t: ModelSignature['inputs'][number]) => ({
      name: t.name,
      data_type: DATATYPES[t.datatype].tritonType,
      dims: batched ? rowShape(t, true) : t.shape,
    });
    const o = this.batcherOptions;
    return {
      name: this.name,
      platform: 'onnxruntime_onnx',
      backend: 'onnxruntime',
      version_policy: { specific: { versions: [this.version] } },
      max_batch_size: this.maxBatchSize,
      input: this.signature.inputs.map(tensor),
      output: this.signature.outputs.map(tensor),
      ...(batched
        ? {
            dynamic_batching: {
              max_queue_delay_microseconds: Math.round(o.maxQueueDelayMs * 1000),
              preserve_ordering: false,
              priority_levels: o.priorityLevels,
              default_priority_level: o.defaultPriorityLevel,
              default_queue_policy: {
                timeout_action: 'REJECT',
                default_timeout_microseconds: Math.round(o.defaultTimeoutMs * 1000),
                allow_timeout_override: true,
                max_queue_size: o.maxQueueSize,
              },
            },
          }
        : {}),
      instance_group: [
        this.instances.gpu === undefined
          ? { name: this.name, kind: 'KIND_CPU', count: this.instances.count }
          : { name: this.name, kind: 'KIND_GPU', count: this.instances.count, gpus: [this.instances.gpu] },
      ],
    };
  }
}
