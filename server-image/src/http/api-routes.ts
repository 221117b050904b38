// The Open Inference Protocol's non-inference endpoints (server and model metadata, health), Triton's
// model configuration and statistics extensions, and Prometheus metrics, on express.
import express, { type NextFunction, type Request, type Response } from 'express';
import { errorBody, errorStatus, notFound } from '../protocol/errors.ts';
import type { ServedModel } from '../serving/served-model.ts';

export const SERVER_NAME = 'modelship-server';
export const SERVER_VERSION = '0.1.0';

export function createApiApp(model: ServedModel): express.Express {
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
    res.status(model.ready ? 200 : 503).json({ ready: model.ready });
  });

  const modelRoute = (suffix: string, handler: (req: Request, res: Response) => void) => {
    const guard = (req: Request, res: Response) => {
      const { name, version } = req.params as { name: string; version?: string };
      if (!model.matches(name, version)) {
        const message = version !== undefined && name === model.name
          ? `unknown version '${version}' of model '${name}'`
          : `unknown model '${name}'`;
        res.status(404).json({ error: message });
        return;
      }
      handler(req, res);
    };
    app.get(`/v2/models/:name${suffix}`, guard);
    app.get(`/v2/models/:name/versions/:version${suffix}`, guard);
  };

  app.get('/v2/models/stats', (_req, res) => {
    res.json({ model_stats: [model.metrics.tritonStats()] });
  });
  modelRoute('', (_req, res) => res.json(model.metadata()));
  modelRoute('/ready', (_req, res) => res.status(model.ready ? 200 : 503).json({ name: model.name, ready: model.ready }));
  modelRoute('/config', (_req, res) => res.json(model.tritonConfig()));
  modelRoute('/stats', (_req, res) => res.json({ model_stats: [model.metrics.tritonStats()] }));

  app.get('/metrics', async (_req, res, next) => {
    try {
      res.set('content-type', model.metrics.registry.contentType).send(await model.metrics.registry.metrics());
    } catch (error) {
      next(error);
    }
  });

  app.use((req, _res, next) => next(notFound(`no route for ${req.method} ${req.path}`)));
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    res.status(errorStatus(error)).type('application/json').send(errorBody(error));
  });
  return app;
}
