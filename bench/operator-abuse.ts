// What a bad spec and a flood of watch events cost the operator, against a real API server (not part of
// `make test` or `make bench`: run it by hand, e.g. to compare two checkouts on one machine):
//   node bench/operator-abuse.ts [--operator-root=DIR] [--window=20] [--events=1000] [--resync-ms=2000]
// --operator-root runs another checkout's operator and CRD (say, an export of main) with this harness.
// (a) For each spec that admission accepts but the API refuses to apply: failed reconciles, PATCH requests,
//     status writes (watch MODIFIED events of the object) and Events (objects, and their summed count) in
//     one window. A spec that admission refuses is reported as refused.
// (b) Reconciles per minute of an idle operator after `--events` annotations of one object.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions, Watch } from '@kubernetes/client-node';
import { startLocalCluster } from '../test/control-plane/local-cluster.ts';
import { freePort } from '../test/support/free-port.ts';

const arg = (name: string, fallback: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const root = resolve(arg('operator-root', new URL('..', import.meta.url).pathname));
const windowSeconds = Number(arg('window', '20'));
const annotations = Number(arg('events', '1000'));
const resyncMs = Number(arg('resync-ms', '2000'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const NS = 'bench';
const API = { group: 'serving.modelship.dev', version: 'v1alpha1', plural: 'modeldeployments' };

const UNAPPLIABLE: Record<string, Record<string, unknown>> = {
  // The case: tolerations were preserve-unknown-fields, so admission let the string through.
  'toleration-forever': { gpu: { mode: 'none', tolerations: [{ key: 'maintenance', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 'forever' }] } },
  // Requests above limits: once refused only by the Deployment's validation, now at admission (CEL quantity()).
  'requests-above-limits': { resources: { requests: { cpu: '2' }, limits: { cpu: '1' } } },
};

const mdep = (name: string, spec: Record<string, unknown>) => JSON.stringify({
  apiVersion: `${API.group}/${API.version}`, kind: 'ModelDeployment', metadata: { name, namespace: NS },
  spec: { model: { uri: 'https://models.example.com/m.onnx', version: 'v1' }, ...spec },
});

console.error(`operator from ${root}; window ${windowSeconds} s, ${annotations} annotations, resync ${resyncMs} ms`);
const cluster = await startLocalCluster({ crds: [resolve(root, 'crds/modeldeployment.yaml')] });
const port = await freePort();
const operator = spawn(process.execPath, [resolve(root, 'operator/bin/modelship.js'), 'operator', '--kubeconfig', cluster.kubeconfig, '--no-leader-elect',
  '--health-port', String(port), '--log-level', 'error', '--resync-ms', String(resyncMs)], { stdio: ['ignore', 'ignore', 'inherit'] });
const results: Record<string, unknown> = { operatorRoot: root, windowSeconds, annotations, resyncMs };
try {
  await cluster.kubectl(['create', 'namespace', NS]);
  const config = new KubeConfig();
  config.loadFromFile(cluster.kubeconfig);
  const custom = config.makeApiClient(CustomObjectsApi);
  const scrape = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const metric = (text: string, series: string) => Number(text.split('\n').find((l) => l.startsWith(`${series} `))?.slice(series.length + 1) ?? 0);
  const counters = async () => {
    const text = await scrape();
    return {
      errors: metric(text, 'modelship_operator_reconciles_total{result="error"}'),
      successes: metric(text, 'modelship_operator_reconciles_total{result="success"}'),
      patches: metric(text, 'modelship_operator_api_requests_total{method="PATCH"}'),
      posts: metric(text, 'modelship_operator_api_requests_total{method="POST"}'),
    };
  };
  for (let i = 0; i < 100 && !(await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false)); i++) await sleep(100);

  // (a) One unappliable spec at a time, each for one window.
  for (const [name, spec] of Object.entries(UNAPPLIABLE)) {
    try {
      await cluster.kubectl(['apply', '-f', '-'], mdep(name, spec));
    } catch (error) {
      const lines = String((error as Error).message).split('\n');
      results[name] = { refusedAtAdmission: lines.find((l) => l.includes('spec.')) ?? lines.at(-1) };
      continue;
    }
    let statusWrites = 0;
    const watch = await new Watch(config).watch(`/apis/${API.group}/${API.version}/namespaces/${NS}/${API.plural}`, { fieldSelector: `metadata.name=${name}` },
      (type) => { if (type === 'MODIFIED') statusWrites++; }, () => undefined);
    const before = await counters();
    await sleep(windowSeconds * 1000);
    const after = await counters();
    watch.abort();
    const events = JSON.parse(await cluster.kubectl(['get', 'events', '-n', NS, '--field-selector', `involvedObject.name=${name}`, '-o', 'json'])).items as Array<{ count?: number }>;
    const status = JSON.parse(await cluster.kubectl(['get', 'mdep', '-n', NS, name, '-o', 'json'])).status;
    results[name] = {
      failedReconciles: after.errors - before.errors,
      patches: after.patches - before.patches,
      statusWrites,
      eventObjects: events.length,
      eventCount: events.reduce((sum, e) => sum + (e.count ?? 1), 0),
      degradedMessage: status?.conditions?.find((c: { type: string }) => c.type === 'Degraded')?.message?.slice(0, 300),
    };
    await cluster.kubectl(['delete', 'mdep', '-n', NS, name, '--wait=true']);
  }

  // (b) Idle cost after many watch events on one object.
  await cluster.kubectl(['apply', '-f', '-'], mdep('busy', {}));
  for (let i = 0; i < 100 && !JSON.parse(await cluster.kubectl(['get', 'mdep', '-n', NS, 'busy', '-o', 'json'])).status?.phase; i++) await sleep(200);
  for (let i = 0; i < annotations; i++) {
    await custom.patchNamespacedCustomObject({ ...API, namespace: NS, name: 'busy', body: { metadata: { annotations: { touched: String(i) } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  }
  await sleep(3 * resyncMs);
  const idleBefore = await counters();
  await sleep(windowSeconds * 1000);
  const idleAfter = await counters();
  results.idle = {
    reconcilesPerMinute: Math.round((idleAfter.successes - idleBefore.successes) * 60 / windowSeconds),
    expectedPerMinute: Math.round(60_000 / resyncMs),
  };
} finally {
  operator.kill('SIGKILL');
  await cluster.stop();
}
console.log(JSON.stringify(results, null, 2));
