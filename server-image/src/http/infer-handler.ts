// The inference hot path, on bare node:http rather than express. Measured on our 2-core machines with the
// bench's MLP at 64 clients (three alternating runs each): routed through express the server spent 46-55 us
// of CPU per request and served 19-22k req/s; on this bare route 36-45 us and 22-27k req/s. Everything else
// (metadata, health, metrics) goes through express, where its routing costs nothing that matters.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { lingerThenClose, readBody } from './body.ts';
import { InferenceError, errorBody, errorStatus, notFound, unavailable } from '../protocol/errors.ts';
import { decodeInferRequest, parseJsonHeader, splitBody } from '../protocol/request.ts';
import { encodeInferResponse } from '../protocol/response.ts';
import { DEFAULT_CODEC_LIMITS } from '../protocol/tensor-codec.ts';
import type { Submission } from '../batching/dynamic-batcher.ts';
import type { Outcome } from '../observability/metrics.ts';
import type { Logger } from '../../../contract/logger.ts';
import type { ModelHost } from '../serving/model-host.ts';

const INFER_PATH = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?\/infer$/;

/** Model name and version of an infer URL, or undefined when the URL is not one. */
export function matchInferPath(url: string): { name: string; version?: string } | undefined {
  const q = url.indexOf('?');
  const match = INFER_PATH.exec(q < 0 ? url : url.slice(0, q));
  if (!match) return undefined;
  try {
    return { name: decodeURIComponent(match[1]), version: match[2] === undefined ? undefined : decodeURIComponent(match[2]) };
  } catch {
    return { name: match[1], version: match[2] };
  }
}

function outcomeOf(error: unknown): Outcome {
  if (error instanceof InferenceError && error.reason) return error.reason as Outcome;
  const status = errorStatus(error);
  if (status === 400 || status === 413) return 'bad_request';
  if (status === 404) return 'not_found';
  if (status === 503) return 'unavailable';
  return 'error';
}

export interface InferHandlerOptions {
  host: ModelHost;
  maxBodyBytes: number;
  logger: Logger;
}

export function createInferHandler({ host, maxBodyBytes, logger }: InferHandlerOptions) {
  const metrics = host.metrics;
  return async (req: IncomingMessage, res: ServerResponse, target: { name: string; version?: string }): Promise<void> => {
    const started = performance.now();
    metrics.requestStarted();
    let outcome: Outcome = 'error';
    let submission: Submission | undefined;
    // The client went away before its answer: drop its request from the queue so it is never computed.
    res.on('close', () => {
      if (!res.writableFinished) submission?.cancel();
    });
    try {
      if (!host.matches(target.name, target.version)) throw notFound(host.unknownMessage(target.name, target.version));
      const model = host.model;
      if (!host.ready || !model) throw unavailable(host.unavailableMessage());
      const body = await readBody(req, maxBodyBytes);
      const { header, binary } = splitBody(body, req.headers['inference-header-content-length']);
      const request = decodeInferRequest(parseJsonHeader(header), binary, model.signature, { maxBatchSize: model.maxBatchSize, tensors: DEFAULT_CODEC_LIMITS });
      submission = model.batcher.submit(request);
      const outputs = await submission.result;
      const encoded = encodeInferResponse({ modelName: model.name, modelVersion: model.version, id: request.id, requested: request.outputs }, outputs);
      res.writeHead(200, { ...encoded.headers, 'content-length': encoded.body.length });
      res.end(encoded.body);
      outcome = 'success';
    } catch (error) {
      outcome = outcomeOf(error);
      const status = errorStatus(error);
      if (status >= 500 && status !== 503) logger.error('inference failed', { model: host.name, error: (error as Error).message });
      if (!res.headersSent && !res.destroyed) {
        const body = errorBody(error);
        res.writeHead(status === 499 ? 400 : status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
        if (status === 413) lingerThenClose(req);
      }
    } finally {
      metrics.requestFinished(outcome, (performance.now() - started) / 1000);
    }
  };
}
