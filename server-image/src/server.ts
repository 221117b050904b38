// Composition of the model server: serve HTTP at once (live, not ready), resolve and load the model into
// the workers, then serve inference; drain gracefully on shutdown. Side effects live here and in the
// workers; the parts are plain modules.
import { createServer } from 'node:http';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { resolveModel, modelFileName, sha256Of } from './model/source.ts';
import { WorkerPool } from './runtime/worker-pool.ts';
import { ServedModel } from './serving/served-model.ts';
import { ModelHost } from './serving/model-host.ts';
import { createApiApp } from './http/api-routes.ts';
import { createInferHandler, matchInferPath } from './http/infer-handler.ts';
import { unavailable } from './protocol/errors.ts';
import { ConnectionDrain } from './http/graceful-drain.ts';
import { createCacheStore } from './cache/create.ts';
import { CacheMetrics } from './cache/metrics.ts';
import { ResponseCache } from './cache/response-cache.ts';
import type { CacheStore } from './cache/store.ts';
import { loadBaseline } from './monitoring/baseline-source.ts';
import { BaselineError, checkBaselineFits, type Baseline } from './monitoring/baseline.ts';
import { DriftMonitor } from './monitoring/drift-monitor.ts';
import { registerDriftMetrics } from './observability/drift-metrics.ts';
import { PredictionLogger } from './monitoring/prediction-log.ts';
import { CloudEventsSink, StdoutSink } from './monitoring/log-sinks.ts';
import { registerPredictionLogMetrics } from './observability/prediction-log-metrics.ts';
import type { InferenceCore } from './serving/inference.ts';
import type { ServeOptions } from '../../contract/settings/serve-options.ts';
import type { Logger } from '../../contract/logger.ts';

export interface RunningServer {
  port: number;
  host: ModelHost;
  /**
   * Settles when the model is loaded and warmed (the server is then ready) or a shutdown stopped its loading;
   * rejects if it cannot be loaded.
   */
  loaded: Promise<void>;
  /**
   * Drains (bounded by drainTimeoutMs; see http/graceful-drain.ts): readiness turns false, new connections
   * are refused, requests on open ones are still answered, each with Connection: close, queued and in-flight
   * ones are finished; then closes. Resolves to the exit code: 1 when the deadline cut requests short.
   */
  shutdown(): Promise<number>;
}

/**
 * Threads per session when not set: the machine's cores but one, shared among the instances. The core left
 * over is the main thread's, which parses, batches and answers requests while the sessions compute.
 */
export function defaultIntraOpThreads(instances: number, cores = availableParallelism()): number {
  return Math.max(1, Math.floor((cores - 1) / instances));
}

async function loadModel(options: ServeOptions, modelPath: string, host: ModelHost, logger: Logger, started: number): Promise<ServedModel> {
  const intraOpThreads = options.intraOpThreads || defaultIntraOpThreads(options.instances);
  const pool = await WorkerPool.start(
    { modelPath, maxBatchSize: options.maxBatchSize, runtime: { executionProvider: options.executionProvider, deviceId: options.deviceId, intraOpThreads, intraOpSpinning: options.intraOpSpinning } },
    options.instances,
  );
  pool.onWorkerLost = (error) => logger.error('model worker lost; replacing it', { error: error.message });
  const batching = {
    maxBatchSize: options.maxBatchSize,
    maxQueueDelayMs: options.maxQueueDelayMs,
    maxQueueSize: options.maxQueueSize,
    defaultTimeoutMs: options.timeoutMs,
    priorityLevels: options.priorityLevels,
    defaultPriorityLevel: options.defaultPriorityLevel,
  };
  const model = new ServedModel({
    name: host.name,
    version: host.version,
    pool,
    batching,
    metrics: host.metrics,
    instances: { count: options.instances, gpu: options.executionProvider === 'cuda' ? options.deviceId : undefined },
  });
  if (options.maxBatchSize > 0 && !pool.signature.batchable) {
    logger.warn('model has no batch dimension on every input and output; serving it unbatched', { model: host.name });
  }
  logger.info('model ready', {
    model: host.name, version: host.version, instances: options.instances, intraOpThreads,
    maxBatchSize: model.maxBatchSize, loadMs: Math.round(performance.now() - started),
  });
  return model;
}

/**
 * The cache in front of the model: keyed by its name, version and file's SHA-256 (the one verified, or
 * computed now when none was given), so that no other model's answers are ever served for it.
 */
async function responseCache(store: CacheStore, metrics: CacheMetrics, options: ServeOptions, modelPath: string, host: ModelHost): Promise<ResponseCache> {
  const sha256 = (options.sha256 ?? await sha256Of(modelPath)).toLowerCase();
  return new ResponseCache(store, { identity: { name: host.name, version: host.version, sha256 }, maxEntryBytes: options.cacheMaxEntryBytes }, metrics);
}

/** Plugs drift monitoring into the core, once the model it watches is known. */
function monitorDrift(options: ServeOptions, baseline: Baseline, model: ServedModel, core: InferenceCore, host: ModelHost, logger: Logger): void {
  try {
    checkBaselineFits(baseline, model.signature);
  } catch (error) {
    throw new BaselineError(`baseline ${options.baseline}: ${(error as Error).message}`);
  }
  const monitor = new DriftMonitor(baseline, model.signature, { windowSeconds: options.driftWindowSeconds, minRows: options.driftMinRows, sampleRate: options.driftSampleRate, maxRowsPerSecond: options.driftMaxRowsPerSecond });
  registerDriftMetrics(host.metrics.registry, monitor, options.driftMaxFeatures);
  core.observe(monitor);
  logger.info('drift monitoring', { baseline: options.baseline, features: baseline.inputs.length, outputs: baseline.outputs.length });
}

/** How long a shutdown waits for queued prediction records to reach the sink. */
const PREDICTION_LOG_FLUSH_MS = 2000;

/** Plugs prediction logging into the core when a sink is set. */
function logPredictions(options: ServeOptions, core: InferenceCore, host: ModelHost): { close(): Promise<void> } | undefined {
  if (options.predictionLog === undefined) return undefined;
  const sink = options.predictionLog === 'stdout' ? new StdoutSink() : new CloudEventsSink(options.predictionLog);
  const logger = new PredictionLogger(host.name, host.version, {
    sampleRate: options.predictionLogSampleRate,
    maxPerSecond: options.predictionLogMaxPerSecond,
    inputElements: options.predictionLogInputElements,
    queueSize: options.predictionLogQueueSize,
    queueBytes: options.predictionLogQueueBytes,
  }, sink);
  registerPredictionLogMetrics(host.metrics.registry, logger);
  core.observe(logger);
  return {
    async close() {
      await logger.flush(PREDICTION_LOG_FLUSH_MS);
      if (sink instanceof CloudEventsSink) await sink.close();
    },
  };
}

export async function startServer(options: ServeOptions, logger: Logger): Promise<RunningServer> {
  const name = options.name ?? modelFileName(options.model).replace(/\.onnx$/i, '');
  const host = new ModelHost(name, options.version);
  const api = createApiApp(host);
  const infer = createInferHandler({ host, settings: options, logger });
  const server = createServer((req, res) => {
    const target = req.method === 'POST' ? matchInferPath(req.url ?? '') : undefined;
    if (target) void infer(req, res, target);
    else api(req, res);
  });
  // Its series exist only when there is a cache.
  const cacheMetrics = options.cache === 'none' ? undefined : new CacheMetrics(host.metrics.registry);
  const cacheStore = cacheMetrics && await createCacheStore(options, cacheMetrics, logger);
  const predictionLog = logPredictions(options, infer.core, host);
  const connections = new ConnectionDrain(server);
  server.listen(options.port, options.host);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  logger.info('listening', { model: name, version: options.version, port });

  // A shutdown while the model downloads stops the download (its partial file removed) and is no failure.
  const stopLoading = new AbortController();
  const started = performance.now();
  const cacheDir = options.modelCacheDir ?? join(tmpdir(), 'modelship-models');
  const resolving = resolveModel(options.model, {
    cacheDir,
    sha256: options.sha256,
    download: { maxBytes: options.downloadMaxBytes, idleTimeoutMs: options.downloadIdleTimeoutMs, progressIntervalMs: options.downloadProgressIntervalMs, retries: options.downloadRetries },
    headers: options.downloadHeaders,
    s3: { endpoint: options.s3Endpoint, region: options.s3Region, pathStyle: options.s3PathStyle },
    logger,
    signal: stopLoading.signal,
  });
  // The baseline usually sits beside the model, in the same store with the same credentials.
  const baseline = options.baseline === undefined ? undefined : loadBaseline(options.baseline, {
    cacheDir,
    sha256: options.baselineSha256,
    download: { maxBytes: options.downloadMaxBytes, idleTimeoutMs: options.downloadIdleTimeoutMs, progressIntervalMs: options.downloadProgressIntervalMs, retries: options.downloadRetries },
    headers: options.downloadHeaders,
    s3: { endpoint: options.s3Endpoint, region: options.s3Region, pathStyle: options.s3PathStyle },
    logger,
    signal: stopLoading.signal,
  });
  baseline?.catch(() => undefined); // awaited below; not unhandled while the model loads
  const loaded = resolving
    .then(async (modelPath) => {
      const profile = await baseline;
      const model = await loadModel(options, modelPath, host, logger, started);
      try {
        if (profile) monitorDrift(options, profile, model, infer.core, host, logger);
        if (cacheStore && cacheMetrics) infer.core.useCache(await responseCache(cacheStore, cacheMetrics, options, modelPath, host));
      } catch (error) {
        await model.pool.close();
        throw error;
      }
      return model;
    })
    .then((model) => {
      if (host.state === 'loading') host.serve(model);
      else void model.pool.close(); // shut down while loading
    }, (error: unknown) => {
      if (!stopLoading.signal.aborted) throw error;
    });

  const drain = async (): Promise<number> => {
    const model = host.model;
    host.drain();
    stopLoading.abort();
    logger.info('draining', { queued: model?.batcher.queued ?? 0, pending: model?.batcher.pending ?? 0, requests: connections.activeRequests });
    const closed = connections.drain();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), options.drainTimeoutMs);
    });
    // Every connection closed means every answer was written; the batcher may still compute for clients gone.
    const finished = Promise.all([closed.then(() => model?.batcher.whenIdle()), resolving.catch(() => undefined)]).then(() => 'drained' as const);
    const result = await Promise.race([finished, deadline]);
    clearTimeout(timer);
    let code = 0;
    if (result === 'deadline' && (connections.activeRequests > 0 || (model?.batcher.pending ?? 0) > 0)) {
      logger.error('drain deadline passed; answering what is left with 503', { pending: model?.batcher.pending ?? 0, requests: connections.activeRequests });
      model?.batcher.failQueued(unavailable('server is shutting down; drain deadline passed'));
      // Let those 503s reach their clients before cutting the connections that are left.
      await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
      code = 1;
    }
    // Past the deadline with no request left, what remains is idle keep-alive connections: nothing is cut.
    if (result === 'deadline') connections.cut();
    await model?.pool.close();
    await cacheStore?.close();
    await predictionLog?.close();
    logger.info('stopped', { exitCode: code });
    return code;
  };
  let shutdown: Promise<number> | undefined;
  return { port, host, loaded, shutdown: () => (shutdown ??= drain()) };
}
