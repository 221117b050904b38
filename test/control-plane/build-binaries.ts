// `make kube-binaries`: builds (once, cached outside the repo) the upstream programs the control-plane
// tests run, Prometheus included, and SeaweedFS (the S3-compatible store of the s3:// model tests), and
// fetches the Gateway API CRDs they install, printing progress, so `make test` does not sit silent inside a
// test hook on a cold machine.
import { dirname } from 'node:path';
import { ensureKubeBinaries, ensurePrometheus, ensurePromtool, GATEWAY_API_VERSION, prometheusRelease } from '../../cluster/upstream-binaries.ts';
import { ensureSeaweedfs } from '../support/seaweedfs.ts';

const binaries = ensureKubeBinaries();
console.log(`Kubernetes programs ready in ${binaries.kubectl.replace(/\/kubectl$/, '')}`);
console.log(`Gateway API ${GATEWAY_API_VERSION} CRDs (standard channel) in ${dirname(binaries.gatewayApiCrds[0])}`);
console.log(`Prometheus ${prometheusRelease()} ready: ${ensurePrometheus()}, ${ensurePromtool()}`);
console.log(`SeaweedFS (the S3-compatible store of the s3:// model tests) ready: ${ensureSeaweedfs()}`);
