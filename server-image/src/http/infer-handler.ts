// The inference hot path, on bare node:http rather than express. Measured on our 2-core machines with the
// bench's MLP at 64 clients (three alternating runs each): routed through express the server spent 46-55 us
// of CPU per request and served 19-22k req/s; on this bare route 36-45 us and 22-27k req/s. Everything else
// (metadata, health, metrics) goes through express, where its routing costs nothing that matters.
//
// The HTTP edge of the inference core: read the body within the byte budget, decode it (large bodies off
// the main thread), run it through the core, encode and write the answer, and map any failure to a status
// in one place (error-status.ts). Memory is bounded in bytes, not requests: a request's body, its decoded
// tensors and its encoded answer are reserved from one budget, and released only when the answer has been
// handed to the kernel, so clients that do not read their answers cannot pile them up in the server.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { lingerThenClose, overBudget, readBody } from './body.ts';
import { errorBody, httpStatus } from './error-status.ts';
import { InferenceError, errorKind, notFound } from '../protocol/errors.ts';
import { decodeInferBody, type DecodeLimits } from '../protocol/request.ts';
import { encodeInferResponse } from '../protocol/response.ts';
import type { Tensor } from '../protocol/datatypes.ts';
import { ByteBudget, type Reservation } from '../memory/byte-budget.ts';
import { Cancellation, InferenceCore } from '../serving/inference.ts';
import { CodecThread, decodesOffThread, encodesOffThread } from '../serving/codec-thread.ts';
import { requestLimits, type LimitSettings } from '../serving/request-limits.ts';
import type { ServedModel } from '../serving/served-model.ts';
import type { Outcome, RequestPhases } from '../observability/metrics.ts';
import type { BatchTrace } from '../batching/dynamic-batcher.ts';
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
  switch (errorKind(error)) {
    case 'invalid':
    case 'too_large':
      return 'bad_request';
    case 'not_found':
      return 'not_found';
    case 'unavailable':
      return 'unavailable';
    case 'cancelled':
      return 'cancelled';
    default:
      return 'error';
  }
}

/** Bytes a tensor holds (strings: a header and two bytes a character, as V8 may store them). */
function tensorBytes({ data }: Tensor): number {
  if (!Array.isArray(data)) return data.byteLength;
  let bytes = 0;
  for (const s of data) bytes += 16 + 2 * s.length;
  return bytes;
}

/** Resolves when `previous` has been flushed or closed, or when `req`'s connection is gone. */
function flushedOrGone(previous: ServerResponse, req: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      previous.off('close', done);
      req.off('close', done);
      resolve();
    };
    previous.on('close', done);
    req.on('close', done);
  });
}

export interface InferHandlerOptions {
  host: ModelHost;
  /** The `serve` settings; the limits are read from them. */
  settings: LimitSettings;
  logger: Logger;
}

export interface InferHandler {
  (req: IncomingMessage, res: ServerResponse, target: { name: string; version?: string }): Promise<void>;
  /** The core every request goes through: where observers (monitoring, a cache) plug in. */
  readonly core: InferenceCore;
}

export function createInferHandler({ host, settings, logger }: InferHandlerOptions): InferHandler {
  const limits = requestLimits(settings);
  const metrics = host.metrics;
  const core = new InferenceCore(host);
  const budget = new ByteBudget(limits.maxInflightBytes);
  const codec = new CodecThread();
  // The latest request's answer on each connection. A request waits, its body unread, until the answer
  // before it on its connection has been flushed: a client that does not read its answers (or pipelines
  // many) gets no more work done, and TCP pushes back on it.
  const lastAnswer = new WeakMap<Socket, ServerResponse>();
  let decodeLimits: DecodeLimits | undefined;
  let decodeLimitsOf: ServedModel | undefined;
  const limitsFor = (model: ServedModel): DecodeLimits => {
    if (decodeLimitsOf !== model) {
      decodeLimits = { ...limits.decode, maxBatchSize: model.maxBatchSize };
      decodeLimitsOf = model;
    }
    return decodeLimits!;
  };
  const grow = (reservation: Reservation, bytes: number) => {
    if (!reservation.grow(bytes)) throw overBudget(bytes, budget.limitBytes);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, target: { name: string; version?: string }): Promise<void> => {
    const started = performance.now();
    metrics.requestStarted();
    let outcome: Outcome = 'error';
    let phases: RequestPhases | undefined;
    const cancellation = new Cancellation();
    const reservation = budget.reserve(0)!;
    // 'close' comes once the answer has been flushed to the kernel, or when the connection is gone: only
    // then is the memory free. A client gone before its answer has its queued request dropped.
    res.on('close', () => {
      reservation.release();
      if (!res.writableFinished) cancellation.cancel();
    });
    try {
      const previous = lastAnswer.get(req.socket);
      lastAnswer.set(req.socket, res);
      if (previous !== undefined && !previous.writableFinished && !previous.destroyed) await flushedOrGone(previous, req);
      if (!host.matches(target.name, target.version)) throw notFound(host.unknownMessage(target.name, target.version));
      const model = core.servingModel();
      const body = await readBody(req, limits.maxBodyBytes, reservation);
      const headerLength = req.headers['inference-header-content-length'];
      const decodeStarted = performance.now();
      const request = decodesOffThread(body)
        ? await codec.decode(body, headerLength, model.signature, limitsFor(model))
        : decodeInferBody(body, headerLength, model.signature, limitsFor(model));
      const decodeSeconds = (performance.now() - decodeStarted) / 1000;
      let inputBytes = 0;
      for (const tensor of request.inputs) inputBytes += tensorBytes(tensor);
      grow(reservation, inputBytes);
      const trace: BatchTrace = { queueSeconds: 0 };
      const outputs = await core.infer(request, cancellation, trace);
      let outputBytes = 0;
      for (const { name } of request.outputs) outputBytes += tensorBytes(outputs.get(name)!);
      grow(reservation, outputBytes);
      const context = { modelName: model.name, modelVersion: model.version, id: request.id, requested: request.outputs };
      const encodeStarted = performance.now();
      const encoded = encodesOffThread(context, outputs) ? await codec.encode(context, outputs) : encodeInferResponse(context, outputs);
      const encodeSeconds = (performance.now() - encodeStarted) / 1000;
      grow(reservation, encoded.body.length);
      res.writeHead(200, { ...encoded.headers, 'content-length': encoded.body.length });
      res.end(encoded.body);
      outcome = 'success';
      const batch = trace.batch;
      if (batch) {
        phases = {
          queue: trace.queueSeconds,
          computeInput: decodeSeconds + batch.assemble,
          computeInfer: batch.infer,
          computeOutput: batch.split + encodeSeconds,
        };
      }
    } catch (error) {
      outcome = outcomeOf(error);
      const kind = errorKind(error);
      if (kind === 'internal') logger.error('inference failed', { model: host.name, error: (error as Error).message });
      if (!res.headersSent && !res.destroyed && kind !== 'cancelled') {
        const body = errorBody(error);
        res.writeHead(httpStatus(error), { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
        // The body was refused unread (too large, or no room for it): let the client finish sending it.
        if (!req.readableEnded) lingerThenClose(req);
      }
    } finally {
      metrics.requestFinished(outcome, (performance.now() - started) / 1000, phases);
    }
  };
  return Object.assign(handle, { core });
}
