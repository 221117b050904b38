// Resolves `--model` to a local file: a plain path, a file:// URI, or an http(s):// URL downloaded into the
// model cache. When a SHA-256 is given it is verified before ONNX Runtime ever sees the file.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';

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

async function download(url: string, cacheDir: string): Promise<string> {
  await mkdir(cacheDir, { recursive: true });
  const target = join(cacheDir, `${createHash('sha256').update(url).digest('hex').slice(0, 16)}-${modelFileName(url)}`);
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new ModelSourceError(`cannot download model ${url}: ${(error as Error).cause ?? (error as Error).message}`);
  }
  if (!response.ok || !response.body) throw new ModelSourceError(`cannot download model ${url}: HTTP ${response.status}`);
  // Write beside the target and rename, so a half-written file is never taken for the model.
  const partial = `${target}.partial`;
  try {
    await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), createWriteStream(partial));
    await rename(partial, target);
  } catch (error) {
    await rm(partial, { force: true });
    throw new ModelSourceError(`cannot download model ${url}: ${(error as Error).message}`);
  }
  return target;
}

export async function resolveModel(uri: string, cacheDir: string, expectedSha256?: string): Promise<string> {
  let path: string;
  if (/^https?:\/\//i.test(uri)) path = await download(uri, cacheDir);
  else if (/^file:\/\//i.test(uri)) path = fileURLToPath(uri);
  else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) throw new ModelSourceError(`model URI ${uri}: unsupported scheme (use a path, file://, http:// or https://)`);
  else path = uri;

  try {
    const info = await stat(path);
    if (!info.isFile()) throw new ModelSourceError(`model ${path} is not a file`);
  } catch (error) {
    if (error instanceof ModelSourceError) throw error;
    throw new ModelSourceError(`model ${path} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (expectedSha256) {
    const actual = await sha256Of(path);
    if (actual !== expectedSha256.toLowerCase()) {
      throw new ModelSourceError(`model ${uri}: SHA-256 mismatch, expected ${expectedSha256.toLowerCase()} but the file has ${actual}`);
    }
  }
  return path;
}
