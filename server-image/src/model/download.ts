// Downloads a model over http(s) into a file, bounded in time and in bytes. A host that stops answering
// (while connecting, before its answer, or mid-body) fails the download after `idleTimeoutMs` rather than
// leave the server loading without a word; a body larger than `maxBytes` fails it rather than fill the
// disk (an emptyDir with a sizeLimit gets the pod evicted). The body is written beside the target and
// renamed, and that partial file is removed on every failure, a shutdown's abort included. Progress is
// logged every `progressIntervalMs`. URLs are logged without their query string, where presigned URLs
// carry their credentials.
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Agent, interceptors, request } from 'undici';
import type { Logger } from '../../../contract/logger.ts';

export interface DownloadLimits {
  maxBytes: number;
  idleTimeoutMs: number;
  progressIntervalMs: number;
}

export class DownloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DownloadError';
  }
}

const MAX_REDIRECTIONS = 5;

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

/** Downloads `url` to `target` (replacing it); rejects with a DownloadError saying why, the partial file removed. */
export async function download(url: string, target: string, limits: DownloadLimits, logger: Logger, signal?: AbortSignal, what = 'model'): Promise<void> {
  const shown = displayUrl(url);
  const partial = `${target}.partial`;
  const started = performance.now();
  let bytes = 0;
  let progress: NodeJS.Timeout | undefined;
  const agent = new Agent({ connect: { timeout: limits.idleTimeoutMs }, headersTimeout: limits.idleTimeoutMs, bodyTimeout: limits.idleTimeoutMs });
  const dispatcher = agent.compose(interceptors.redirect({ maxRedirections: MAX_REDIRECTIONS }));
  logger.info(`downloading ${what}`, { url: shown, maxBytes: limits.maxBytes });
  try {
    const response = await request(url, { dispatcher, signal });
    if (response.statusCode < 200 || response.statusCode > 299) {
      response.body.resume();
      throw new DownloadError(`HTTP ${response.statusCode}`);
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
    throw new DownloadError(`cannot download ${what} ${shown}: ${failure(error, limits, bytes)}`);
  } finally {
    clearInterval(progress);
    await agent.destroy();
  }
}
