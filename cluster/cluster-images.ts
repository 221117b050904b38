// The images the real local cluster runs, built here (cluster/images.ts) and imported into its containerd.
import { fileURLToPath } from 'node:url';
import { basename } from 'node:path';
import { paths } from './layout.ts';
import { buildDockerfileImage, buildStaticBinaryImage, ensureNodeBaseImage, ensurePauseImage, IMAGE_PREFIX, importIntoContainerd } from './images.ts';
import { COREDNS_VERSION, PROMETHEUS_ADAPTER_VERSION } from './addon-binaries.ts';
import { PROMETHEUS_VERSION, prometheusRelease } from './upstream-binaries.ts';

export interface ClusterImages {
  /** The Node 24 base the Dockerfiles were built FROM (NODE_IMAGE). */
  nodeBase: string;
  server: string;
  operator: string;
  coredns: string;
  prometheus: string;
  prometheusAdapter: string;
}

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

export function buildClusterImages(binaries: { coredns: string; prometheusAdapter: string; prometheus: string }, log: (line: string) => void): ClusterImages {
  const nodeBase = ensureNodeBaseImage(log);
  const images: ClusterImages = {
    nodeBase,
    server: buildDockerfileImage(REPO_ROOT, {
      name: `${IMAGE_PREFIX}-server`, dockerfile: 'server-image/Dockerfile',
      buildArgs: { NODE_IMAGE: nodeBase, VARIANT: 'cpu' },
      inputs: ['package.json', 'package-lock.json', '.npmrc', '.dockerignore', 'server-image/bin', 'server-image/src', 'contract'],
    }, log),
    operator: buildDockerfileImage(REPO_ROOT, {
      name: `${IMAGE_PREFIX}-operator`, dockerfile: 'operator/Dockerfile',
      buildArgs: { NODE_IMAGE: nodeBase },
      inputs: ['package.json', 'package-lock.json', '.npmrc', '.dockerignore', 'operator/api', 'operator/src', 'operator/bin', 'contract'],
    }, log),
    coredns: buildStaticBinaryImage(`${IMAGE_PREFIX}-coredns:${COREDNS_VERSION}`, binaries.coredns, [`/bin/${basename(binaries.coredns)}`], log),
    prometheus: buildStaticBinaryImage(`${IMAGE_PREFIX}-prometheus:${prometheusRelease()}-${PROMETHEUS_VERSION}`, binaries.prometheus, ['/bin/prometheus'], log),
    prometheusAdapter: buildStaticBinaryImage(`${IMAGE_PREFIX}-prometheus-adapter:${PROMETHEUS_ADAPTER_VERSION}`, binaries.prometheusAdapter, [`/bin/${basename(binaries.prometheusAdapter)}`], log),
  };
  for (const image of [ensurePauseImage(log), ...Object.values(images).slice(1)]) importIntoContainerd(image, paths.containerdSocket(), log);
  return images;
}
