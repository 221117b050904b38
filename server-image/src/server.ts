// Composition of the model server: resolve and load the model, start the workers and the batcher, serve
// HTTP, and drain gracefully. Side effects live here and in the workers; the parts are plain modules.
import { createServer, type Server } from 'node:http';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { resolveModel, modelFileName } from './model/source.ts';
import { WorkerPool } from './runtime/worker-pool.ts';
import { ServedModel } from './serving/served-model.ts';
import { createApiApp } from './http/api-routes.ts';
import { createInferHandler, matchInferPath } from './http/infer-handler.ts';
import { unavailable } from './protocol/errors.ts';
import type { ServeOptions } from './config/options.ts';
import type { Logger } from './observability/logger.ts';

export interface RunningServer {
  port: number;
  model: ServedModel;
  /** Stops taking inference, finishes what was admitted (bounded by drainTimeoutMs), closes; resolves to the exit code. */
  shutdown(): Promise<number>;
}

/** Threads per session when not set: the machine's cores shared among the instances. */
export function defaultIntraOpThreads(instances: number, cores = availableParallelism()): number {
  return Math.max(1, Math.floor(cores / instances));
}

export async function startServer(options: ServeOptions, logger: Logger): Promise<RunningServer> {
  const cacheDir = options.modelCacheDir ?? join(tmpdir(), 'modelship-models');
  const modelPath = await resolveModel(options.model, cacheDir, options.sha256);
  const name = options.name ?? modelFileName(options.model).replace(/\.onnx$/i, '');
  const intraOpThreads = options.intraOpThreads || defaultIntraOpThreads(options.instances);

  const loadStarted = performance.now();
  const pool = await WorkerPool.start(
    { modelPath, maxBatchSize: options.maxBatchSize, runtime: { executionProvider: options.executionProvider, deviceId: options.deviceId, intraOpThreads } },
    options.instances,
  );
  pool.onWorkerLost = (error) => logger.error('model worker lost; replacing it', { error: error.message });
  const model = new ServedModel(name, options.version, pool, {
    maxBatchSize: options.maxBatchSize,
    maxQueueDelayMs: options.maxQueueDelayMs,
    maxQueueSize: options.maxQueueSize,
    defaultTimeoutMs: options.timeoutMs,
    priorityLevels: options.priorityLevels,
    defaultPriorityLevel: options.defaultPriorityLevel,
  }, options.instances);
  if (options.maxBatchSize > 0 && !pool.signature.batchable) {
    logger.warn('model has no batch dimension on every input and output; serving it unbatched', { model: name });
  }

  const api = createApiApp(model);
  const infer = createInferHandler({ model, maxBodyBytes: options.maxBodyBytes, logger });
  const server: Server = createServer((req, res) => {
    const target = req.method === 'POST' ? matchInferPath(req.url ?? '') : undefined;
    if (target) void infer(req, res, target);
    else api(req, res);
  });
  server.listen(options.port, options.host);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  logger.info('serving', {
    model: name, version: options.version, port, instances: options.instances, intraOpThreads,
    maxBatchSize: model.maxBatchSize, loadMs: Math.round(performance.now() - loadStarted),
  });

  let shutdown: Promise<number> | undefined;
  const drain = async (): Promise<number> => {
    model.state = 'draining';
    model.metrics.setReady(false);
    logger.info('draining', { queued: model.batcher.queued, pending: model.batcher.pending });
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), options.drainTimeoutMs);
    });
    const result = await Promise.race([Promise.all([closed, model.batcher.whenIdle()]).then(() => 'drained' as const), deadline]);
    clearTimeout(timer);
    let code = 0;
    if (result === 'deadline') {
      logger.error('drain deadline passed; answering what is left with 503', { pending: model.batcher.pending });
      model.batcher.failQueued(unavailable('server is shutting down; drain deadline passed'));
      server.closeAllConnections();
      code = 1;
    }
    await pool.close();
    logger.info('stopped', { exitCode: code });
    return code;
  };
  return {
    port,
    model,
    shutdown: () => (shutdown ??= drain()),
  };
}
