// The Open Inference Protocol's non-inference endpoints (server and model metadata, health), Triton's
// model configuration and statistics extensions, and Prometheus metrics, on express.
import express, { type NextFunction, type Request, type Response } from 'express';
import { notFound } from '../protocol/errors.ts';
import { errorBody, httpStatus } from './error-status.ts';
import type { ModelHost } from '../serving/model-host.ts';
import type { ServedModel } from '../serving/served-model.ts';

export const SERVER_NAME = 'modelship-server';
export const SERVER_VERSION = '0.1.0';

export function createApiApp(host: ModelHost): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.get('/v2', (_req, res) => {
    res.json({ name: SERVER_NAME, version: SERVER_VERSION, extensions: ['binary_tensor_data', 'model_configuration', 'statistics'] });
  });
  app.get('/v2/health/live', (_req, res) => {
    res.json({ live: true });
  });
  app.get('/v2/health/ready', (_req, res) => {
    res.status(host.ready ? 200 : 503).json({ ready: host.ready });
  });

  // Routes about the model: 404 for another name or version, 503 until it has loaded.
  const modelRoute = (suffix: string, handler: (model: ServedModel, res: Response) => void) => {
    const guard = (req: Request, res: Response) => {
      const { name, version } = req.params as { name: string; version?: string };
      if (!host.matches(name, version)) {
        res.status(404).json({ error: host.unknownMessage(name, version) });
      } else if (!host.model) {
        res.status(503).json({ error: host.unavailableMessage() });
      } else {
        handler(host.model, res);
      }
    };
    app.get(`/v2/models/:name${suffix}`, guard);
    app.get(`/v2/models/:name/versions/:version${suffix}`, guard);
  };

  app.get('/v2/models/stats', (_req, res) => {
    res.json({ model_stats: [host.metrics.tritonStats()] });
  });
  modelRoute('', (model, res) => res.json(model.metadata()));
  modelRoute('/config', (model, res) => res.json(model.tritonConfig()));
  modelRoute('/stats', (_model, res) => res.json({ model_stats: [host.metrics.tritonStats()] }));
  const modelReady = (req: Request, res: Response) => {
    const { name, version } = req.params as { name: string; version?: string };
    if (!host.matches(name, version)) res.status(404).json({ error: host.unknownMessage(name, version) });
    else res.status(host.ready ? 200 : 503).json({ name: host.name, ready: host.ready });
  };
  app.get('/v2/models/:name/ready', modelReady);
  app.get('/v2/models/:name/versions/:version/ready', modelReady);

  app.get('/metrics', async (_req, res, next) => {
    try {
      res.set('content-type', host.metrics.registry.contentType).send(await host.metrics.registry.metrics());
    } catch (error) {
      next(error);
    }
  });

  app.use((req, _res, next) => next(notFound(`no route for ${req.method} ${req.path}`)));
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    res.status(httpStatus(error)).type('application/json').send(errorBody(error));
  });
  return app;
}
