// Resolves `--model` to a local file: a plain path, a file:// URI, an http(s):// URL (with headers from
// --download-headers) or an s3://bucket/key object (signed: s3.ts) downloaded into the model cache (bounded
// in time and bytes: download.ts). When a SHA-256 is given it is verified before ONNX Runtime ever sees the
// file. pvc:// and oci:// models are the operator's: it mounts them and passes the mounted path.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { awsCredentials, CredentialsError } from './credentials.ts';
import { download, type DownloadLimits, type DownloadRequest } from './download.ts';
import { HeaderLinesError, parseHeaderLines } from './header-lines.ts';
import { s3Download, S3UriError, type S3Settings } from './s3.ts';
import type { Logger } from '../../../contract/logger.ts';
import { SERVE_OPTIONS } from '../../../contract/settings/serve-options.ts';

const DEFAULT_S3: S3Settings = { region: SERVE_OPTIONS.s3Region.default, pathStyle: SERVE_OPTIONS.s3PathStyle.default };

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
  /** Sent with http(s):// downloads (a private store's token): "Name: value" lines. */
  headers?: string;
  /** How s3:// URIs are addressed and signed (default: AWS S3 in the serve setting's default region). */
  s3?: S3Settings;
  /** Where AWS credentials are read from (process.env). */
  env?: Record<string, string | undefined>;
  logger: Logger;
  /** Aborts a download in progress (shutdown). */
  signal?: AbortSignal;
  /** What the file is, in messages: 'model' unless said (the drift baseline comes the same way). */
  what?: string;
}

async function downloadToCache(uri: string, url: string, how: DownloadRequest, options: ResolveOptions): Promise<string> {
  await mkdir(options.cacheDir, { recursive: true });
  const target = join(options.cacheDir, `${createHash('sha256').update(uri).digest('hex').slice(0, 16)}-${modelFileName(uri)}`);
  await download(url, target, options.download, options.logger, options.signal, { ...how, what: options.what });
  return target;
}

async function downloadFromS3(uri: string, options: ResolveOptions): Promise<string> {
  try {
    const s3 = options.s3 ?? DEFAULT_S3;
    const credentials = await awsCredentials(options.env ?? process.env, s3.region, options.download.idleTimeoutMs, options.signal);
    const { url, request } = await s3Download(uri, s3, credentials);
    return await downloadToCache(uri, url, request, options);
  } catch (error) {
    if (error instanceof S3UriError) throw new ModelSourceError(error.message);
    if (error instanceof CredentialsError) throw new ModelSourceError(`model ${uri}: no AWS credentials: ${error.message}`);
    throw error;
  }
}

function httpHeaders(lines: string | undefined): Record<string, string> | undefined {
  try {
    return lines === undefined ? undefined : parseHeaderLines(lines);
  } catch (error) {
    if (error instanceof HeaderLinesError) throw new ModelSourceError(error.message);
    throw error;
  }
}

export async function resolveModel(uri: string, options: ResolveOptions): Promise<string> {
  const expectedSha256 = options.sha256;
  const what = options.what ?? 'model';
  let path: string;
  if (/^https?:\/\//i.test(uri)) path = await downloadToCache(uri, uri, { headers: httpHeaders(options.headers) }, options);
  else if (/^s3:\/\//i.test(uri)) path = await downloadFromS3(uri, options);
  else if (/^file:\/\//i.test(uri)) path = fileURLToPath(uri);
  else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) throw new ModelSourceError(`${what} URI ${uri}: unsupported scheme (use a path, file://, http://, https:// or s3://; pvc:// and oci:// are mounted by the operator)`);
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
