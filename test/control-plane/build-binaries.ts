// `make kube-binaries`: builds (once, cached outside the repo) the upstream programs the control-plane
// tests run, printing progress, so `make test` does not sit silent inside a test hook on a cold machine.
import { ensureKubeBinaries } from './kube-binaries.ts';

const binaries = ensureKubeBinaries();
console.log(`Kubernetes programs ready in ${binaries.kubectl.replace(/\/kubectl$/, '')}`);
