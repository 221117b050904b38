// The local cluster's certificates, made once with openssl (Node's crypto signs but does not issue X.509):
//   ca            signs the API server's serving certificate and the client certificates below
//   apiserver     serving certificate for the gateway address, the `kubernetes` Service's IP and its names
//   kubelet-client  the API server's identity towards the kubelet (logs, exec)
//   front-proxy-ca / front-proxy-client  what the aggregator presents to aggregated APIs (the custom
//                 metrics adapter), which they verify through extension-apiserver-authentication
//   sa.key / sa.pub  ServiceAccount token signing
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { network, nodeName, paths } from './layout.ts';

export interface Pki {
  ca: string;
  apiserverCert: string;
  apiserverKey: string;
  kubeletClientCert: string;
  kubeletClientKey: string;
  frontProxyCa: string;
  frontProxyClientCert: string;
  frontProxyClientKey: string;
  saKey: string;
  saPub: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function issue(dir: string, name: string, ca: string, subject: string, extensions: string): void {
  openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-subj', subject, '-out', `${name}.csr`], dir);
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial',
    '-days', '3650', '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.crt`], dir);
}

function selfSignedCa(dir: string, name: string, subject: string): void {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-subj', subject,
    '-days', '3650', '-sha256', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-out', `${name}.crt`], dir);
}

export function ensurePki(): Pki {
  const dir = paths.pki();
  const pki: Pki = {
    ca: join(dir, 'ca.crt'),
    apiserverCert: join(dir, 'apiserver.crt'), apiserverKey: join(dir, 'apiserver.key'),
    kubeletClientCert: join(dir, 'kubelet-client.crt'), kubeletClientKey: join(dir, 'kubelet-client.key'),
    frontProxyCa: join(dir, 'front-proxy-ca.crt'),
    frontProxyClientCert: join(dir, 'front-proxy-client.crt'), frontProxyClientKey: join(dir, 'front-proxy-client.key'),
    saKey: join(dir, 'sa.key'), saPub: join(dir, 'sa.pub'),
  };
  if (Object.values(pki).every((file) => existsSync(file))) return pki;
  mkdirSync(dir, { recursive: true });
  selfSignedCa(dir, 'ca', '/CN=modelship-local-ca');
  const names = ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', `kubernetes.default.svc.${network.clusterDomain}`, 'localhost', nodeName()];
  const ips = [network.gateway, network.apiServiceIp, '127.0.0.1'];
  issue(dir, 'apiserver', 'ca', '/CN=kube-apiserver', [
    'basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=serverAuth',
    `subjectAltName=${[...names.map((n) => `DNS:${n}`), ...ips.map((ip) => `IP:${ip}`)].join(',')}`, '',
  ].join('\n'));
  issue(dir, 'kubelet-client', 'ca', '/O=system:masters/CN=kube-apiserver-kubelet-client', [
    'basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=clientAuth', '',
  ].join('\n'));
  selfSignedCa(dir, 'front-proxy-ca', '/CN=modelship-front-proxy-ca');
  issue(dir, 'front-proxy-client', 'front-proxy-ca', '/CN=front-proxy-client', [
    'basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=clientAuth', '',
  ].join('\n'));
  openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'sa.key'], dir);
  openssl(['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
  return pki;
}
