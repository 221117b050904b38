// `modelship operator`: campaigns for leadership on a Lease, runs the controller while it leads, serves
// health endpoints (/healthz, /readyz), Prometheus metrics (/metrics) and JSON logs, and stops gracefully on
// SIGTERM (running reconciles finish, the Lease is released so a standby replica takes over at once).
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { createLogger } from '../../contract/logger.ts';
import { hostname } from 'node:os';
import { startController, type RunningController } from './controller/controller.ts';
import { campaign } from './controller/leader-election.ts';
import { OperatorMetrics } from './controller/metrics.ts';
import type { OperatorSettings } from './render/settings.ts';

export interface OperatorOptions {
  kubeconfig?: string;
  settings: OperatorSettings;
  workers: number;
  resyncMs: number;
  healthPort: number;
  logLevel: string;
  /** Router /metrics URLs by `namespace/name`, for an operator running outside the cluster. */
  routerMetrics?: Map<string, string[]>;
  /** Model-server /metrics URLs by `namespace/name/version`, likewise. */
  serverMetrics?: Map<string, string[]>;
  /** Only these namespaces (a namespaced install); undefined: every namespace. */
  watchNamespaces?: string[];
  /** Lease namespace/name for leader election; undefined runs without it (a single replica). */
  lease?: { namespace: string; name: string; durationMs: number };
}

export async function runOperator(options: OperatorOptions): Promise<number> {
  const logger = createLogger(options.logLevel, { component: 'modelship-operator' });
  const config = new KubeConfig();
  if (options.kubeconfig) config.loadFromFile(options.kubeconfig);
  else config.loadFromDefault();
  const metrics = new OperatorMetrics();
  let controller: RunningController | undefined;
  const identity = `${hostname()}-${process.pid}`;
  const election = options.lease
    ? campaign(config, { ...options.lease, leaseDurationMs: options.lease.durationMs, identity, retryPeriodMs: Math.max(200, options.lease.durationMs / 5) }, logger)
    : undefined;

  const health = createServer(async (req, res) => {
    if (req.url === '/healthz') res.writeHead(200).end('ok');
    else if (req.url === '/readyz') {
      // A standby replica is ready (it is doing its job: waiting); the leader once its caches are synced.
      const ready = controller ? controller.synced() : true;
      res.writeHead(ready ? 200 : 503).end(ready ? 'ok' : 'informers not synced');
    } else if (req.url === '/metrics') res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(await metrics.registry.metrics());
    else res.writeHead(404).end();
  });
  health.listen(options.healthPort, '0.0.0.0');
  await once(health, 'listening');
  logger.info('operator started', { healthPort: (health.address() as AddressInfo).port, workers: options.workers, identity, watchNamespaces: options.watchNamespaces ?? 'all', cluster: config.getCurrentCluster()?.server });

  const signal = new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  const start = () => {
    controller = startController({ config, settings: options.settings, logger, metrics, workers: options.workers, resyncMs: options.resyncMs, routerMetrics: options.routerMetrics, serverMetrics: options.serverMetrics, watchNamespaces: options.watchNamespaces });
  };
  let exitCode = 0;
  if (!election) {
    start();
    logger.info('stopping', { signal: await signal });
  } else {
    const first = await Promise.race([election.elected.then(() => 'elected'), signal]);
    if (first === 'elected') {
      start();
      const end = await Promise.race([election.lost.then(() => 'lost'), signal]);
      if (end === 'lost') exitCode = 1; // never act without the Lease: exit, and let the Deployment restart us
      logger.info('stopping', { reason: end });
    } else {
      logger.info('stopping', { signal: first });
    }
  }
  await controller?.stop();
  await election?.release();
  health.close();
  logger.info('stopped', { exitCode });
  return exitCode;
}
