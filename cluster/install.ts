// modelship on the real local cluster, as a user installs it: `helm install` of charts/modelship with the
// images built here, and the demo's in-cluster model store serving the example models. Shared by
// `make demo` and the end-to-end tests.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PROMETHEUS_SERVICE } from './addons.ts';
import type { ClusterImages } from './cluster-images.ts';
import { buildDockerfileImage, IMAGE_PREFIX, importIntoContainerd } from './images.ts';
import { kubeconfigPath, paths } from './layout.ts';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);
export const OPERATOR_NAMESPACE = 'modelship-system';

export interface Tools {
  kubectl: string;
  helm: string;
}

export function kubectl(tools: Tools, args: string[], input?: string): string {
  return execFileSync(tools.kubectl, ['--kubeconfig', kubeconfigPath(), ...args], { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
}

/** The same without blocking the event loop, for watchers that run beside client load. */
export async function kubectlAsync(tools: Tools, args: string[]): Promise<string> {
  return (await run(tools.kubectl, ['--kubeconfig', kubeconfigPath(), ...args], { encoding: 'utf8', maxBuffer: 64 << 20 })).stdout;
}

/**
 * The chart's values for this cluster: the local images (never pulled), GPU-mode pods on the CPU image (the
 * node's GPUs are advertised, not real), the in-cluster Prometheus, one operator replica on two cores, with
 * a worker for each of the demo's seven ModelDeployments: their first reconciles (a dozen applies each, slow
 * while the node starts their pods) then run at once instead of three waiting for the first four.
 */
export function localChartValues(images: ClusterImages): Record<string, unknown> {
  const [repository, tag] = images.operator.split(':');
  return {
    image: { repository, tag, pullPolicy: 'Never' },
    replicas: 1,
    workers: 8,
    serverImage: { cpu: images.server, cuda: images.server },
    gpu: { podsRunOnCpu: true },
    prometheusUrl: PROMETHEUS_SERVICE,
    resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '512Mi' } },
  };
}

/**
 * `helm upgrade --install` of the chart in the repository, waiting for the operator to be ready. Helm
 * installs a chart's crds/ only on first install and never upgrades them, so the CRD is applied first,
 * as the README tells users to do on every upgrade.
 */
export function installOperator(tools: Tools, images: ClusterImages): void {
  kubectl(tools, ['apply', '--server-side', '--force-conflicts', '-f', `${REPO_ROOT}/charts/modelship/crds/`]);
  kubectl(tools, ['wait', '--for=condition=Established', '--timeout=60s', '-f', `${REPO_ROOT}/charts/modelship/crds/`]);
  execFileSync(tools.helm, [
    'upgrade', '--install', 'modelship', `${REPO_ROOT}/charts/modelship`, '--namespace', OPERATOR_NAMESPACE, '--create-namespace',
    '--kubeconfig', kubeconfigPath(), '--values', '-', '--wait', '--timeout', '180s',
  ], { input: JSON.stringify(localChartValues(images)), encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

export interface ModelStore {
  /** The model's URL inside the cluster. */
  url(file: string): string;
  sha256(file: string): string;
}

/**
 * The model store: an image with the example models (built by `make models` into examples/models) and a
 * small file server, as a Deployment and Service `model-store` in the namespace.
 */
export function deployModelStore(tools: Tools, namespace: string, files: string[], nodeBase: string, log: (line: string) => void): ModelStore {
  const image = buildDockerfileImage(REPO_ROOT, {
    name: `${IMAGE_PREFIX}-model-store`, dockerfile: 'examples/model-store/Dockerfile', context: 'examples',
    buildArgs: { NODE_IMAGE: nodeBase },
    inputs: ['examples/model-store', ...files.map((file) => `examples/models/${file}`)],
  }, log);
  importIntoContainerd(image, paths.containerdSocket(), log);
  const labels = { 'app.kubernetes.io/name': 'model-store' };
  const objects = [
    {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'model-store', namespace, labels },
      spec: {
        replicas: 1, selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            securityContext: { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [{
              name: 'store', image, imagePullPolicy: 'Never', ports: [{ name: 'http', containerPort: 8080 }],
              // A node starting a score of model servers at once is busy for a minute, and they all download
              // from here: a CPU share like theirs and a probe that allows for the wait, so that the store
              // does not drop out of its Service while they start.
              readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 2, timeoutSeconds: 5 },
              resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
            }],
          },
        },
      },
    },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'model-store', namespace }, spec: { selector: labels, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } },
  ];
  kubectl(tools, ['apply', '--server-side', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
  kubectl(tools, ['rollout', 'status', '-n', namespace, 'deployment/model-store', '--timeout=120s']);
  return {
    url: (file) => `http://model-store.${namespace}.svc/${file}`,
    sha256: (file) => createHash('sha256').update(readFileSync(`${REPO_ROOT}/examples/models/${file}`)).digest('hex'),
  };
}
