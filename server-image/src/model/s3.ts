// s3://bucket/key models: the object's GET request, signed with AWS Signature V4 (AWS's own signer,
// @smithy/signature-v4), for AWS S3 or any S3-compatible store at an endpoint. The download itself is
// download.ts's (timeouts, size cap, progress, partial-file cleanup); this file only says what to ask and how
// to read a refusal. Credentials come from the standard AWS environment (credentials.ts).
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentials } from './credentials.ts';
import type { DownloadRequest } from './download.ts';

export interface S3Location {
  bucket: string;
  key: string;
}

export interface S3Settings {
  /** e.g. http://minio.storage:9000; unset: AWS S3 in `region`. */
  endpoint?: string;
  region: string;
  /** endpoint/bucket/key rather than bucket.endpoint/key (most S3-compatible stores want this). */
  pathStyle: boolean;
}

export class S3UriError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'S3UriError';
  }
}

/** S3's bucket naming rules (the ones that matter for addressing): 3-63 of a-z 0-9 . - , no leading or trailing dot or dash. */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export function parseS3Uri(uri: string): S3Location {
  const match = /^s3:\/\/([^/]*)\/(.*)$/i.exec(uri);
  if (!match) throw new S3UriError(`model URI ${uri}: an S3 model is s3://bucket/key`);
  const [, bucket, key] = match;
  if (!BUCKET.test(bucket!)) throw new S3UriError(`model URI ${uri}: "${bucket}" is not an S3 bucket name (3-63 characters of a-z, 0-9, "." and "-")`);
  if (!key) throw new S3UriError(`model URI ${uri}: the object key is empty (s3://bucket/key)`);
  return { bucket: bucket!, key: key! };
}

/** S3 keys are signed as sent: each segment percent-encoded the RFC 3986 way, slashes kept. */
const encodeKey = (key: string) => key.split('/').map((segment) =>
  encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)).join('/');

/** The object's URL: path-style or virtual-hosted, at the endpoint or at AWS S3 in the region. */
export function objectUrl(location: S3Location, settings: S3Settings): URL {
  const base = new URL(settings.endpoint ?? `https://s3.${settings.region}.amazonaws.com`);
  const prefix = base.pathname.replace(/\/+$/, '');
  if (settings.pathStyle) {
    base.pathname = `${prefix}/${location.bucket}/${encodeKey(location.key)}`;
  } else {
    base.hostname = `${location.bucket}.${base.hostname}`;
    base.pathname = `${prefix}/${encodeKey(location.key)}`;
  }
  return base;
}

/** The headers of a signed GET of `url` (none without credentials: a public object). */
export async function signedHeaders(url: URL, region: string, credentials: AwsCredentials | undefined, now = new Date()): Promise<Record<string, string>> {
  if (!credentials) return {};
  // The body is streamed to disk and its SHA-256 checked there (spec.model.sha256), so it is not hashed twice.
  const headers: Record<string, string> = { host: url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' };
  const signer = new SignatureV4({ service: 's3', region, credentials, sha256: Hash.bind(null, 'sha256'), uriEscapePath: false, applyChecksum: false });
  const signed = await signer.sign({
    method: 'GET', protocol: url.protocol, hostname: url.hostname, port: url.port ? Number(url.port) : undefined,
    path: url.pathname, query: {}, headers,
  }, { signingDate: now });
  // undici sets Host itself from the URL.
  const { host: _host, ...rest } = signed.headers;
  return rest;
}

/** A value of an S3 error document (<Error><Code>...</Code>...), or undefined; the excerpt is untrusted and bounded. */
function errorField(document: string, field: 'Code' | 'Message'): string | undefined {
  const value = new RegExp(`<${field}>([^<]{1,256})</${field}>`).exec(document)?.[1];
  return value?.replace(/[^\x20-\x7e]/g, '?');
}

/** Why the store refused, in words: its error code (SignatureDoesNotMatch, NoSuchKey, ...) and message. */
export function describeRefusal(status: number, excerpt: string): string {
  const code = errorField(excerpt, 'Code');
  const message = errorField(excerpt, 'Message');
  const hint = code === 'SignatureDoesNotMatch' || code === 'InvalidAccessKeyId'
    ? ' (check the access key and secret key the server was given)'
    : code === 'NoSuchKey' || code === 'NoSuchBucket' ? ' (check spec.model.uri)' : '';
  return `HTTP ${status}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''}${hint}`;
}

/** What download.ts needs to fetch an S3 object: its URL, signed headers, its s3:// name, its refusals. */
export async function s3Download(uri: string, settings: S3Settings, credentials: AwsCredentials | undefined): Promise<{ url: string; request: DownloadRequest }> {
  const location = parseS3Uri(uri);
  const url = objectUrl(location, settings);
  return {
    url: url.href,
    request: {
      headers: await signedHeaders(url, settings.region, credentials),
      shown: `s3://${location.bucket}/${location.key}${settings.endpoint ? ` at ${new URL(settings.endpoint).origin}` : ''}`,
      refusal: describeRefusal,
    },
  };
}
