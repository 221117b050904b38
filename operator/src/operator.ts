// `modelship operator`: runs the controller with health endpoints (/healthz, /readyz), Prometheus metrics
// (/metrics) and JSON logs, and stops gracefully on SIGTERM (running reconciles finish).
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { createLogger } from '../../server-image/src/observability/logger.ts';
import { startController } from './controller/controller.ts';
import { OperatorMetrics } from './controller/metrics.ts';
import type { OperatorSettings } from './render/settings.ts';

export interface OperatorOptions {
  kubeconfig?: string;
  settings: OperatorSettings;
  workers: number;
  resyncMs: number;
  healthPort: number;
  logLevel: string;
}

export async function runOperator(options: OperatorOptions): Promise<number> {
  const logger = createLogger(options.logLevel, { component: 'modelship-operator' });
  const config = new KubeConfig();
  if (options.kubeconfig) config.loadFromFile(options.kubeconfig);
  else config.loadFromDefault();
  const metrics = new OperatorMetrics();
  const controller = startController({ config, settings: options.settings, logger, metrics, workers: options.workers, resyncMs: options.resyncMs });

  const health = createServer(async (req, res) => {
    if (req.url === '/healthz') res.writeHead(200).end('ok');
    else if (req.url === '/readyz') res.writeHead(controller.synced() ? 200 : 503).end(controller.synced() ? 'ok' : 'informers not synced');
    else if (req.url === '/metrics') res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(await metrics.registry.metrics());
    else res.writeHead(404).end();
  });
  health.listen(options.healthPort, '0.0.0.0');
  await once(health, 'listening');
  logger.info('operator started', { healthPort: (health.address() as AddressInfo).port, workers: options.workers, cluster: config.getCurrentCluster()?.server });

  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  logger.info('stopping', { signal });
  await controller.stop();
  health.close();
  logger.info('stopped');
  return 0;
}
