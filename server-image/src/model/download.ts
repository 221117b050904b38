// Downloads a model over http(s) into a file, bounded in time and in bytes. A host that stops answering
// (while connecting, before its answer, or mid-body) fails the download after `idleTimeoutMs` rather than
// leave the server loading without a word; a body larger than `maxBytes` fails it rather than fill the
// disk (an emptyDir with a sizeLimit gets the pod evicted). The body is written beside the target and
// renamed, and that partial file is removed on every failure, a shutdown's abort included. Progress is
// logged every `progressIntervalMs`. URLs are logged without their query string, where presigned URLs
// carry their credentials. Callers with credentials (S3 signatures, a private store's token) pass them as
// headers, which are never logged and are dropped on a redirect to another host.
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, interceptors, request } from 'undici';
import type { Logger } from '../../../contract/logger.ts';

export interface DownloadLimits {
  maxBytes: number;
  idleTimeoutMs: number;
  progressIntervalMs: number;
  /** Attempts after the first, for failures that may pass (see TRANSIENT_CODES); 0 or unset: none. */
  retries?: number;
}

export class DownloadError extends Error {
  /** Whether trying again may succeed: the store or the network, not the request, was at fault. */
  readonly transient: boolean;
  constructor(message: string, transient = false) {
    super(message);
    this.name = 'DownloadError';
    this.transient = transient;
  }
}

/**
 * Failures that may pass while a pod starts beside its store: no DNS answer yet (a cluster's DNS restarting,
 * a Service just created), a store not listening yet or restarting, a connection reset, a timeout.
 */
const TRANSIENT_CODES = new Set([
  'EAI_AGAIN', 'ENOTFOUND', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_SOCKET',
]);
/** Answers that say "later": request timeout, rate limited, the store's own trouble. */
const transientStatus = (status: number) => status === 408 || status === 429 || status >= 500;
const RETRY_BASE_MS = 1000;
const RETRY_MAX_MS = 30_000;

function isTransient(error: unknown): boolean {
  if (error instanceof DownloadError) return error.transient;
  for (let cause = error; cause instanceof Error; cause = cause.cause) {
    if (cause.name === 'AbortError') return false;
    if (TRANSIENT_CODES.has((cause as { code?: string }).code ?? '')) return true;
  }
  return false;
}

const MAX_REDIRECTIONS = 5;
/** Most bytes of a refusal's body read to say why (an S3 error document is a few hundred). */
const REFUSAL_EXCERPT_BYTES = 4096;

/** What a source adds to a plain GET: its credentials, its own name for the model, its refusals in words. */
export interface DownloadRequest {
  /** Sent with the request; never logged, and dropped on a redirect to another origin. */
  headers?: Record<string, string>;
  /** How logs and errors name the model (default: the URL without query string). */
  shown?: string;
  /** Why the store refused, from its status and the start of its answer (default: `HTTP <status>`). */
  refusal?: (status: number, excerpt: string) => string;
  /** What the file is, in logs: 'model' unless said (the drift baseline comes the same way). */
  what?: string;
}

/** Up to REFUSAL_EXCERPT_BYTES of a body, the rest discarded. */
async function excerpt(body: AsyncIterable<Buffer> & { destroy(): void }): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= REFUSAL_EXCERPT_BYTES) break;
  }
  body.destroy();
  return Buffer.concat(chunks).subarray(0, REFUSAL_EXCERPT_BYTES).toString('utf8');
}

/** The URL as logs and errors show it: no credentials, no query string. */
function displayUrl(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
}

/** Why a download failed, in words that name the setting at fault where one is. */
function failure(error: unknown, limits: DownloadLimits, bytes: number): string {
  if (error instanceof DownloadError) return error.message;
  let cause: unknown = error;
  while (cause instanceof Error) {
    if (cause.name === 'AbortError') return 'stopped: the server is shutting down';
    switch ((cause as { code?: string }).code) {
      case 'UND_ERR_CONNECT_TIMEOUT':
        return `no connection within ${limits.idleTimeoutMs} ms (downloadIdleTimeoutMs)`;
      case 'UND_ERR_HEADERS_TIMEOUT':
        return `no answer within ${limits.idleTimeoutMs} ms (downloadIdleTimeoutMs)`;
      case 'UND_ERR_BODY_TIMEOUT':
        return `no data for ${limits.idleTimeoutMs} ms after ${bytes} bytes (downloadIdleTimeoutMs)`;
    }
    if (cause.cause === undefined) return cause.message || ((cause as { code?: string }).code ?? cause.name);
    cause = cause.cause;
  }
  return String(error);
}

const overLimit = (size: string, limits: DownloadLimits, what: string) =>
  new DownloadError(`the ${what} is ${size}, over the download limit of ${limits.maxBytes} bytes (downloadMaxBytes)`);

/**
 * Downloads `url` to `target` (replacing it); rejects with a DownloadError saying why, the partial file
 * removed. A failure that may pass is tried again `limits.retries` times, backing off 1 s, 2 s, 4 s ... up
 * to 30 s: a pod that starts before its store or its DNS answers waits for them instead of exiting into
 * the kubelet's crash-loop backoff (which grows to minutes).
 */
export async function download(url: string, target: string, limits: DownloadLimits, logger: Logger, signal?: AbortSignal, how: DownloadRequest = {}): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await downloadOnce(url, target, limits, logger, signal, how);
    } catch (error) {
      if (!(error instanceof DownloadError) || !error.transient || attempt >= (limits.retries ?? 0) || signal?.aborted) throw error;
      const retryInMs = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** attempt);
      logger.warn(`${how.what ?? 'model'} download failed, trying again`, { error: error.message, attempt: attempt + 1, of: limits.retries, retryInMs });
      // A shutdown during the wait ends it at once, with the download's last failure.
      await sleep(retryInMs, undefined, { signal }).catch(() => undefined);
      if (signal?.aborted) throw error;
    }
  }
}

async function downloadOnce(url: string, target: string, limits: DownloadLimits, logger: Logger, signal: AbortSignal | undefined, how: DownloadRequest): Promise<void> {
  const shown = how.shown ?? displayUrl(url);
  const what = how.what ?? 'model';
  const partial = `${target}.partial`;
  const started = performance.now();
  let bytes = 0;
  let progress: NodeJS.Timeout | undefined;
  const agent = new Agent({ connect: { timeout: limits.idleTimeoutMs }, headersTimeout: limits.idleTimeoutMs, bodyTimeout: limits.idleTimeoutMs });
  const dispatcher = agent.compose(interceptors.redirect({
    maxRedirections: MAX_REDIRECTIONS, stripHeadersOnCrossOriginRedirect: Object.keys(how.headers ?? {}),
  }));
  logger.info(`downloading ${what}`, { url: shown, maxBytes: limits.maxBytes });
  try {
    const response = await request(url, { dispatcher, signal, headers: how.headers });
    if (response.statusCode < 200 || response.statusCode > 299) {
      const transient = transientStatus(response.statusCode);
      if (!how.refusal) {
        response.body.resume();
        throw new DownloadError(`HTTP ${response.statusCode}`, transient);
      }
      throw new DownloadError(how.refusal(response.statusCode, await excerpt(response.body)), transient);
    }
    const declared = Number(response.headers['content-length'] ?? Number.NaN);
    const total = Number.isSafeInteger(declared) ? declared : undefined;
    if (total !== undefined && total > limits.maxBytes) {
      response.body.destroy();
      throw overLimit(`${total} bytes`, limits, what);
    }
    // A copy left by an earlier start of this container would hold the disk twice over while this one is written.
    await rm(target, { force: true });
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        bytes += chunk.length;
        if (bytes > limits.maxBytes) done(overLimit(`over ${limits.maxBytes} bytes`, limits, what));
        else done(null, chunk);
      },
    });
    progress = setInterval(() => {
      const seconds = (performance.now() - started) / 1000;
      logger.info(`${what} download progress`, {
        url: shown, bytes, ...(total !== undefined ? { totalBytes: total, percent: Math.floor((bytes / total) * 100) } : {}),
        bytesPerSecond: Math.round(bytes / seconds),
      });
    }, limits.progressIntervalMs);
    await pipeline(response.body, meter, createWriteStream(partial), { signal });
    await rename(partial, target);
    logger.info(`${what} downloaded`, { url: shown, bytes, downloadMs: Math.round(performance.now() - started) });
  } catch (error) {
    await rm(partial, { force: true });
    throw new DownloadError(`cannot download ${what} ${shown}: ${failure(error, limits, bytes)}`, isTransient(error));
  } finally {
    clearInterval(progress);
    await agent.destroy();
  }
}
