// `modelship-server`: the server image's single program. `serve` runs a model; `route` is the traffic
// splitter in front of a ModelDeployment's versions; `profile` writes the baseline that `serve --baseline`
// measures drift against.
//
// Each command loads its own code only once it runs (dynamic import): a router pod never compiles the
// model server and a model server never compiles the router's Kubernetes client. Every pod pays its import
// graph in CPU at start, and a node starting many pods at once (a scale-up, a rollout) pays it many times.
import { ConfigError, loadServeOptions, serveHelp } from './config/load.ts';
import { loadRouteOptions, routeHelp } from './config/route-options.ts';
import { loadProfileOptions, profileHelp } from './config/profile-options.ts';
import { createLogger } from '../../contract/logger.ts';
import { logUnhandledRejections } from './process-faults.ts';
import { RouteTableError } from '../../contract/route-table.ts';

const USAGE = `Usage: modelship-server <command> [options]

Commands:
  serve   Serve one ONNX model over the Open Inference Protocol (KServe V2) with dynamic batching
  route   Split traffic between the versions of one model by weight (sticky A/B, shadow copies compared)
  profile Write a model's baseline profile from reference data (JSON lines or .npy), for serve --baseline

Run 'modelship-server <command> --help' for its options.`;

async function serve(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(serveHelp());
    return 0;
  }
  let options;
  try {
    options = loadServeOptions(argv, process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`modelship-server serve: invalid settings:\n${error.message.replace(/^/gm, '  ')}`);
    return 2;
  }
  const logger = createLogger(options.logLevel, { component: 'modelship-server' });
  logUnhandledRejections(logger);
  const [{ startServer }, { BaselineError }] = await Promise.all([import('./server.ts'), import('./monitoring/baseline.ts')]);
  let running;
  try {
    running = await startServer(options, logger);
  } catch (error) {
    logger.error('cannot start', { error: (error as Error).message });
    return 1;
  }
  const server = running;
  return new Promise<number>((resolve) => {
    const onSignal = (signal: string) => {
      logger.info('signal received', { signal });
      void server.shutdown().then(resolve);
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    // A model that cannot be loaded is fatal: say why once and exit non-zero rather than serve 503 forever.
    server.loaded.catch(async (error: Error) => {
      if (error instanceof BaselineError) logger.error('cannot load baseline', { baseline: options.baseline, error: error.message });
      else logger.error('cannot load model', { model: options.model, error: error.message });
      await server.shutdown();
      resolve(1);
    });
  });
}

async function route(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(routeHelp());
    return 0;
  }
  let options;
  try {
    options = loadRouteOptions(argv, process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`modelship-server route: invalid settings:\n${error.message.replace(/^/gm, '  ')}`);
    return 2;
  }
  const logger = createLogger(options.logLevel, { component: 'modelship-router' });
  logUnhandledRejections(logger);
  const { startRouter } = await import('./router/router.ts');
  let router;
  try {
    router = await startRouter(options, logger);
  } catch (error) {
    // A bad first table is a configuration error like a bad flag: say which key, exit 2, serve nothing.
    if (error instanceof RouteTableError) {
      console.error(`modelship-server route: invalid route table:\n${(error as Error).message.replace(/^/gm, '  ')}`);
      return 2;
    }
    logger.error('cannot start', { error: (error as Error).message });
    return 1;
  }
  const running = router;
  return new Promise<number>((resolve) => {
    const onSignal = (signal: string) => {
      logger.info('signal received', { signal });
      void running.shutdown().then(resolve);
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
}

async function profile(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(profileHelp());
    return 0;
  }
  let options;
  try {
    options = loadProfileOptions(argv, process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`modelship-server profile: invalid settings:\n${error.message.replace(/^/gm, '  ')}`);
    return 2;
  }
  const logger = createLogger('warn', { component: 'modelship-profile' });
  const [{ profileModel }, { BaselineError }] = await Promise.all([import('./monitoring/profile-command.ts'), import('./monitoring/baseline.ts')]);
  try {
    const rows = await profileModel(options, logger);
    console.log(`wrote ${options.out}: the profile of ${rows} rows of ${options.data}`);
    return 0;
  } catch (error) {
    // Bad data is the user's to fix (exit 2, like a bad flag); anything else is a failure (exit 1).
    console.error(`modelship-server profile: ${(error as Error).message}`);
    return error instanceof BaselineError ? 2 : 1;
  }
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'route':
      return route(rest);
    case 'profile':
      return profile(rest);
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      console.log(USAGE);
      return command === undefined ? 2 : 0;
    default:
      console.error(`modelship-server: unknown command '${command}'\n\n${USAGE}`);
      return 2;
  }
}
