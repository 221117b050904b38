// A real S3-compatible store for the s3:// model tests: SeaweedFS (`weed mini`: master, volume server, filer
// and S3 gateway in one process), built from the Go module proxy once into the cache like the cluster's
// add-ons, and run as its own process on free loopback ports. Its S3 gateway verifies AWS Signature V4
// against the identities of its -s3.config, so a wrong secret key is refused by the store itself.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { request } from 'undici';
import { buildInModuleCopy } from '../../cluster/addon-binaries.ts';
import { cacheRoot } from '../../cluster/upstream-binaries.ts';
import { eventually } from './eventually.ts';
import { freePort } from './free-port.ts';

/** The SeaweedFS the Go proxy serves (its module has no release tags; this is a pseudo-version of main). */
export const SEAWEEDFS_VERSION = 'v0.0.0-20261109003541-7506e5f91cd6';

export function ensureSeaweedfs(log: (line: string) => void = (l) => console.log(l)): string {
  const output = join(cacheRoot(), 'stores', 'bin', `weed-${SEAWEEDFS_VERSION}`);
  buildInModuleCopy({ module: 'github.com/seaweedfs/seaweedfs', version: SEAWEEDFS_VERSION, pkg: './weed', output, ldflags: '', log });
  return output;
}

export interface S3Store {
  /** The S3 gateway, e.g. http://127.0.0.1:41234 */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** A bucket created at start. */
  bucket: string;
  /** PUTs an object, signed with the store's credentials. */
  put(key: string, body: Uint8Array): Promise<void>;
  stop(): Promise<void>;
}

export async function startSeaweedfs(): Promise<S3Store> {
  const weed = ensureSeaweedfs();
  const dir = mkdtempSync(join(tmpdir(), 'modelship-seaweedfs-'));
  const accessKeyId = 'modelship-test-key';
  const secretAccessKey = 'modelship-test-secret-0123456789';
  const bucket = 'models';
  const region = 'us-east-1';
  writeFileSync(join(dir, 's3.json'), JSON.stringify({
    identities: [{ name: 'tester', credentials: [{ accessKey: accessKeyId, secretKey: secretAccessKey }], actions: ['Admin', 'Read', 'Write', 'List'] }],
  }));
  mkdirSync(join(dir, 'data'));
  const ports: Record<string, number> = {};
  for (const name of ['master.port', 'master.port.grpc', 'volume.port', 'volume.port.grpc', 'filer.port', 'filer.port.grpc', 's3.port']) ports[name] = await freePort();
  const child: ChildProcess = spawn(weed, [
    'mini', '-ip=127.0.0.1', '-ip.bind=127.0.0.1', `-dir=${join(dir, 'data')}`, `-s3.config=${join(dir, 's3.json')}`, `-bucket=${bucket}`,
    ...Object.entries(ports).map(([name, port]) => `-${name}=${port}`),
    '-s3.port.iceberg=0', '-s3.port.lance=0', '-webdav=false', '-admin.ui=false', '-master.telemetry=false',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output = (output + d).slice(-20_000)));
  child.stderr!.on('data', (d) => (output = (output + d).slice(-20_000)));
  const exited = once(child, 'exit');
  const endpoint = `http://127.0.0.1:${ports['s3.port']}`;
  const signer = new SignatureV4({ service: 's3', region, credentials: { accessKeyId, secretAccessKey }, sha256: Hash.bind(null, 'sha256'), uriEscapePath: false });

  const put = async (key: string, body: Uint8Array) => {
    const url = new URL(`${endpoint}/${bucket}/${key}`);
    const signed = await signer.sign({
      method: 'PUT', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: url.pathname, query: {},
      headers: { host: url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-length': String(body.length) },
    });
    const { host: _host, ...headers } = signed.headers;
    const response = await request(url, { method: 'PUT', headers, body });
    const text = await response.body.text();
    if (response.statusCode !== 200) throw new Error(`PUT ${url}: HTTP ${response.statusCode} ${text}`);
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // Ready once the bucket made at start takes a signed object (the gateway waits for the filer and volumes).
    await eventually('SeaweedFS to take objects', async () => {
      if (child.exitCode !== null) throw new Error('exited');
      await put('.ready', new Uint8Array([1]));
      return true;
    }, { timeoutMs: 120_000, intervalMs: 500, context: () => output });
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoint, region, accessKeyId, secretAccessKey, bucket, put, stop };
}
