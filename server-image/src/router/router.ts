// Composition of the router (`modelship-server route`): load the first route table, serve, swap tables as
// the source changes, drain on shutdown. Side effects live here; the parts are plain modules.
import { createServer } from 'node:http';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { upstreamOverrides, type RouteOptions } from '../config/route-options.ts';
import type { Logger } from '../../../contract/logger.ts';
import { ConnectionDrain } from '../http/graceful-drain.ts';
import { createRouterHandler } from './handler.ts';
import { routerViaName } from './hops.ts';
import { RouterMetrics, type RouterBudgets } from './metrics.ts';
import { ByteBudget, defaultBudgetBytes } from '../memory/byte-budget.ts';
import { containerMemoryLimit } from '../memory/container-limit.ts';
import { withUpstreams, type RouteTable } from '../../../contract/route-table.ts';
import { RoutingState } from './routing-state.ts';
import { ShadowMirror } from './shadow.ts';
import { fileSource, type RouteSource } from './sources.ts';

export interface RunningRouter {
  port: number;
  /**
   * Stops accepting, forwards what comes on open connections with Connection: close (bounded by
   * drainTimeoutMs), closes; resolves to the exit code: 1 when the deadline cut requests short.
   */
  shutdown(): Promise<number>;
}

const summary = (table: RouteTable) => ({
  versions: table.versions.map((v) => `${v.name}=${v.weight}`).join(' ') || 'none',
  ...(table.shadow ? { shadow: `${table.shadow.version} ${table.shadow.percent}%` } : {}),
  ...(table.stickyHeader ? { stickyHeader: table.stickyHeader } : {}),
});

/** The byte budgets of the settings, defaults from the container's memory limit (see route-options.ts). */
export function routerBudgets(options: Partial<Pick<RouteOptions, 'maxInflightBytes' | 'shadowQueueBytes'>>, memoryLimit = containerMemoryLimit()): RouterBudgets {
  const inflight = options.maxInflightBytes ?? defaultBudgetBytes(memoryLimit);
  return { inflight: new ByteBudget(inflight), shadow: new ByteBudget(options.shadowQueueBytes ?? Math.floor(inflight / 4)) };
}

export async function routeSource(options: RouteOptions): Promise<RouteSource> {
  if (options.routesFile) return fileSource(options.routesFile);
  const { configMapSource } = await import('./configmap-source.ts');
  return configMapSource(options.routesConfigmap);
}

/** Starts the router. Rejects (RouteTableError) when the source's first table is bad: nothing is served then. */
export async function startRouter(options: RouteOptions, logger: Logger, given?: RouteSource): Promise<RunningRouter> {
  const source = given ?? await routeSource(options);
  const overrides = upstreamOverrides(options);
  const first = await source.initial();
  if (first.table === undefined) logger.warn('no route table yet; no version is ready until one arrives', { source: source.description, why: first.why });

  const budgets = routerBudgets(options);
  const metrics = new RouterMetrics(budgets);
  const state = new RoutingState();
  let rejected: { at: string; error: string } | undefined;
  const install = (table: RouteTable) => {
    const effective = withUpstreams(table, overrides);
    state.swap(effective);
    metrics.tableChanged(effective);
    rejected = undefined;
    logger.info('routes updated', { source: source.description, ...summary(effective) });
  };
  if (first.table) install(first.table);
  else metrics.tableChanged(state.current.table);

  const shadow = new ShadowMirror({
    queueSize: options.shadowQueueSize,
    concurrency: options.shadowConcurrency,
    timeoutMs: options.upstreamTimeoutMs,
    maxBodyBytes: options.maxBodyBytes,
    budget: budgets.shadow,
    metrics,
    logger,
  });
  const handler = createRouterHandler({
    state, shadow, metrics, logger,
    maxBodyBytes: options.maxBodyBytes,
    upstreamTimeoutMs: options.upstreamTimeoutMs,
    budget: budgets.inflight,
    viaName: routerViaName(randomBytes(6).toString('hex')),
    describeSource: () => ({ source: source.description, ...(rejected ? { rejected } : {}) }),
  });
  const server = createServer({ keepAliveTimeout: 65_000 }, handler.handle);
  const connections = new ConnectionDrain(server);
  server.listen(options.port, options.host);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  logger.info('listening', { port, source: source.description });

  source.watch({
    table: install,
    rejected(error) {
      rejected = { at: new Date().toISOString(), error: error.message };
      logger.error('route table refused; keeping the current one', { source: source.description, error: error.message });
    },
    trouble(message) {
      logger.warn('route source trouble; keeping the current table', { source: source.description, error: message });
    },
  });

  const drain = async (): Promise<number> => {
    source.stop();
    logger.info('draining', { requests: connections.activeRequests });
    // Readiness turns false; requests still coming on open connections are forwarded, each answered with
    // Connection: close, and idle connections close after a grace (see http/graceful-drain.ts).
    handler.drain();
    const answered = connections.drain().then(() => 'drained' as const);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), options.drainTimeoutMs);
    });
    const result = await Promise.race([answered, deadline]);
    clearTimeout(timer);
    // Past the deadline with no request left, only idle keep-alive connections remain: nothing is cut.
    const cut = result === 'deadline' ? connections.activeRequests : 0;
    connections.cut();
    // Shadow copies are best effort: a second for those in flight, not a reason to hold the exit.
    await Promise.race([shadow.stop(), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
    state.close();
    const code = cut > 0 ? 1 : 0;
    if (code !== 0) logger.error('drain deadline passed; connections cut', { requests: cut });
    logger.info('stopped', { exitCode: code });
    return code;
  };
  let stopping: Promise<number> | undefined;
  return { port, shutdown: () => (stopping ??= drain()) };
}
