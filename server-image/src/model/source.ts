// Resolves `--model` to a local file: a plain path, a file:// URI, or an http(s):// URL downloaded into the
// model cache (bounded in time and bytes: download.ts). When a SHA-256 is given it is verified before ONNX
// Runtime ever sees the file.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { download, type DownloadLimits } from './download.ts';
import type { Logger } from '../../../contract/logger.ts';

export class ModelSourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelSourceError';
  }
}

export async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

/** The file name a model is known by, for the default model name. */
export function modelFileName(uri: string): string {
  const path = /^[a-z][a-z0-9+.-]*:\/\//i.test(uri) ? new URL(uri).pathname : uri;
  return basename(path) || 'model.onnx';
}

export interface ResolveOptions {
  /** Where http(s):// models are downloaded to. */
  cacheDir: string;
  sha256?: string;
  download: DownloadLimits;
  logger: Logger;
  /** Aborts a download in progress (shutdown). */
  signal?: AbortSignal;
  /** What the file is, in messages: 'model' unless said (the drift baseline comes the same way). */
  what?: string;
}

async function downloadToCache(url: string, options: ResolveOptions): Promise<string> {
  await mkdir(options.cacheDir, { recursive: true });
  const target = join(options.cacheDir, `${createHash('sha256').update(url).digest('hex').slice(0, 16)}-${modelFileName(url)}`);
  await download(url, target, options.download, options.logger, options.signal, options.what);
  return target;
}

export async function resolveModel(uri: string, options: ResolveOptions): Promise<string> {
  const expectedSha256 = options.sha256;
  const what = options.what ?? 'model';
  let path: string;
  if (/^https?:\/\//i.test(uri)) path = await downloadToCache(uri, options);
  else if (/^file:\/\//i.test(uri)) path = fileURLToPath(uri);
  else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) throw new ModelSourceError(`${what} URI ${uri}: unsupported scheme (use a path, file://, http:// or https://)`);
  else path = uri;

  try {
    const info = await stat(path);
    if (!info.isFile()) throw new ModelSourceError(`${what} ${path} is not a file`);
  } catch (error) {
    if (error instanceof ModelSourceError) throw error;
    throw new ModelSourceError(`${what} ${path} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (expectedSha256) {
    const actual = await sha256Of(path);
    if (actual !== expectedSha256.toLowerCase()) {
      throw new ModelSourceError(`${what} ${uri}: SHA-256 mismatch, expected ${expectedSha256.toLowerCase()} but the file has ${actual}`);
    }
  }
  return path;
}
