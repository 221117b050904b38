// `make cluster-up`: a real single-node Kubernetes on this machine (containerd + runc, the kubelet,
// kube-proxy, CoreDNS, Prometheus and prometheus-adapter), with modelship's images built and imported.
// Idempotent: what already runs is left running. Prints the admin kubeconfig's path (cluster/layout.ts).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ensureAddonBinaries } from './addon-binaries.ts';
import { applyAddons } from './addons.ts';
import { startContainerd, startControlPlane, startNode, waitFor } from './control-plane.ts';
import { ensurePackages, prepareNetwork, unableReason } from './host.ts';
import { buildClusterImages, type ClusterImages } from './cluster-images.ts';
import { clusterDir, DAEMONS, kubeconfigPath, nodeName } from './layout.ts';
import { ensurePki } from './pki.ts';
import { kubectl as kubectlWith } from './install.ts';
import { ensureKubeBinaries, ensureNodeBinaries, ensurePrometheus } from './upstream-binaries.ts';
import { advertiseFakeGpus } from './fake-gpus.ts';
import { join } from 'node:path';

export interface RunningCluster {
  kubeconfig: string;
  kubectl: string;
  helm: string;
  images: ClusterImages;
}

export async function clusterUp(log: (line: string) => void = (l) => console.log(l)): Promise<RunningCluster> {
  const started = performance.now();
  const unable = unableReason();
  if (unable) throw new Error(`cannot run a real cluster here: ${unable}`);
  ensurePackages(log);
  const kube = ensureKubeBinaries(log);
  const node = ensureNodeBinaries(log);
  const addonBinaries = { ...ensureAddonBinaries(log), prometheus: ensurePrometheus(log) };
  prepareNetwork();
  const pki = ensurePki();

  await startContainerd(log);
  const images = buildClusterImages(addonBinaries, log);
  await startControlPlane(kube, pki, log);
  startNode(node, pki, log);
  const kubectl = (args: string[], input?: string) => kubectlWith({ kubectl: kube.kubectl, helm: kube.helm }, args, input);
  await waitFor(`node ${nodeName()} to be Ready`, [...DAEMONS], () => {
    try {
      return kubectl(['get', 'node', nodeName(), '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']) === 'True';
    } catch {
      return false;
    }
  }, 120_000);
  advertiseFakeGpus(kubectl);
  await waitFor('the default ServiceAccount', ['kube-controller-manager'], () => {
    try {
      kubectl(['get', 'serviceaccount', 'default', '-n', 'default']);
      return true;
    } catch {
      return false;
    }
  }, 60_000);
  await applyAddons(kubectl, images, log);
  writeFileSync(join(clusterDir(), 'images.json'), JSON.stringify(images, null, 2));
  log(`cluster up in ${((performance.now() - started) / 1000).toFixed(0)} s; kubeconfig: ${kubeconfigPath()}`);
  return { kubeconfig: kubeconfigPath(), kubectl: kube.kubectl, helm: kube.helm, images };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    await clusterUp();
    console.log(`\nexport KUBECONFIG=${kubeconfigPath()}`);
  } catch (error) {
    console.error(`cluster-up: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}
