// `make demo` on a real single-node Kubernetes (when this machine can run one): `helm install` of the operator
// from images built here, the example ModelDeployments on real pods serving real models, inference from the
// host through kube-proxy, the HPA scaling a version on queue depth under load and back, a shadow-then-canary
// rollout with clients sending requests all along, a bad candidate rolled back, input drift detected as the
// clients' data moves away from the baseline, and a rolling restart under load, the last four at once. Ends
// with a summary: nodes, pods per version, the HPA's replica history, the rollout and drift timelines.
import { MLP, randomRows } from '../test/models/zoo.ts';
import { startClientLoad, type Answer } from '../test/control-plane/local-traffic.ts';
import { clusterUp } from '../cluster/up.ts';
import { deployModelStore, installOperator, kubectl as kubectlWith, kubectlAsync, OPERATOR_NAMESPACE } from '../cluster/install.ts';
import { apply, describeDrift, driftView, exampleSecrets, followRollout, inferRow, localExamples, replicaHistory, serviceUrl, waitUntilServing, watchHpa, type DriftView } from '../cluster/scenario.ts';
import { DRIFTED_FEATURES, drifted, EXAMPLE_BASELINE, REFERENCE_ROWS } from './models/reference-data.ts';
import { objectName } from '../operator/src/render/names.ts';
import { unableReason } from '../cluster/host.ts';

const unable = unableReason();
if (unable) {
  console.log(`\nno real cluster on this machine (${unable}): the operator and rollouts run on a simulated cluster instead`);
  await import('./operator-demo.ts');
  await import('./rollout-demo.ts');
} else {
  await realClusterDemo();
}

async function realClusterDemo(): Promise<void> {
  const NS = 'ml';
  const started = Date.now();
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)} s`;
  const stage = (title: string) => console.log(`\n== ${title} (${elapsed()})`);

  stage('a real single-node cluster (make cluster-up)');
  const cluster = await clusterUp((line) => console.log(`  ${line}`));
  const tools = { kubectl: cluster.kubectl, helm: cluster.helm };
  const kubectl = (args: string[], input?: string) => kubectlWith(tools, args, input);
  console.log(kubectl(['get', 'nodes', '-o', 'wide']));

  stage('helm install modelship (operator image built here; GPU-mode pods run the CPU image on this GPU-less node)');
  installOperator(tools, cluster.images);
  console.log(kubectl(['get', 'pods', '-n', OPERATOR_NAMESPACE]));

  stage('the example ModelDeployments, their models served by an in-cluster model store');
  // A previous run's ModelDeployments (the demo removes them at its end, unless it was interrupted).
  kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=true', '--timeout=180s']);
  apply(tools, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }]);
  const store = deployModelStore(tools, NS, ['mlp.onnx', 'mlp-retrained.onnx', 'wide.onnx', EXAMPLE_BASELINE], cluster.images.nodeBase, (line) => console.log(`  ${line}`));
  const examples = localExamples(store, NS);
  // One router pod per example instead of two: on two cores every pod's start counts, and no router is
  // restarted here. (The examples keep two, for a node's or a pod's loss.)
  for (const mdep of examples) mdep.spec.rollout = { ...mdep.spec.rollout, routing: { ...mdep.spec.rollout?.routing, replicas: 1 } };
  // The demo's HPA scales down 15 s after the load stops (the chart keeps Kubernetes' 5-minute default), and
  // the fraud classifier's pods get a quarter of a core each, so that a modest load fills their queues.
  const fraud = examples.find((m) => m.metadata.name === 'fraud-classifier')!;
  fraud.spec.resources.limits = { ...fraud.spec.resources.limits, cpu: '250m' };
  fraud.spec.scaling = { ...fraud.spec.scaling, behavior: { scaleDown: { stabilizationWindowSeconds: 15 } } };
  // The ranker measures drift against the MLP's baseline over a 20-second window (the example's is 5 minutes).
  const ranker = examples.find((m) => m.metadata.name === 'ranker')!;
  ranker.spec.monitoring.drift = { ...ranker.spec.monitoring.drift, windowSeconds: 20, minRows: 500 };
  console.log(`$ kubectl apply -n ${NS} -f examples/modeldeployments/   # uri and sha256 pointing at the model store`);
  apply(tools, exampleSecrets(NS));
  console.log(apply(tools, examples));
  kubectl(['wait', '-n', NS, '--for=condition=Ready', 'mdep', '--all', '--timeout=300s']);
  console.log(kubectl(['get', 'mdep', '-n', NS]));
  console.log(kubectl(['get', 'pods', '-n', NS, '-o', 'custom-columns=POD:.metadata.name,READY:.status.containerStatuses[0].ready,IP:.status.podIP,GPU:.spec.containers[0].resources.limits']));

  stage('inference from the host through the routers\' ClusterIPs (kube-proxy)');
  const rows = randomRows(64, MLP.features, 11);
  for (const mdep of examples.filter((m) => !m.spec.model.uri.endsWith('wide.onnx'))) {
    const url = serviceUrl(tools, NS, mdep.metadata.name);
    const row = rows[0];
    await waitUntilServing(url, mdep.metadata.name, row);
    const answer = await inferRow(url, mdep.metadata.name, row);
    const expected = MLP.reference(row);
    const worst = Math.max(...expected.map((v, i) => Math.abs(v - (answer.data?.[i] ?? NaN))));
    console.log(`  ${url.padEnd(20)} ${mdep.metadata.name.padEnd(18)} HTTP ${answer.status} version ${answer.version}  max |answer - reference| ${worst.toExponential(1)}`);
  }

  // The autoscaling, the rollouts, the drift and the restart each touch their own ModelDeployment, so they
  // run at once, as they would on a cluster; each line says which it belongs to.
  stage('at once: fraud-classifier scaled by the HPA on modelship_queue_depth under load, churn-classifier rolled out to a new build with clients sending requests, ranker\'s clients drifting from its baseline, and recommender\'s pods restarted under load');
  const say = (part: string) => (line: string) => console.log(`  [${part}] ${line}`);

  const autoscaling = async () => {
    const log = say('autoscaling');
    const hpa = watchHpa(tools, NS, objectName(['fraud-classifier', fraud.spec.model.version]));
    // Eight rows a request, so that the model server (a quarter core) and not its router or these clients,
    // which share the node's two cores with everything else running at once, is what runs out of CPU.
    const heavy = startClientLoad(serviceUrl(tools, NS, 'fraud-classifier'), 'fraud-classifier', rows, 48, 8);
    log('48 clients sending 8 rows a request to fraud-classifier (1 to 4 pods, target queue depth 8 per pod, a quarter core each)');
    const scaledUp = await until(() => (hpa.samples.at(-1)?.current ?? 0) >= 2, 150_000);
    log(`the HPA ${scaledUp ? `added pods: ${hpa.samples.at(-1)?.current} running` : 'added no pod in 150 s'}; the clients stop in 10 s`);
    await new Promise((r) => setTimeout(r, 10_000));
    await heavy.stop();
    const scaledDown = await until(() => (hpa.samples.at(-1)?.current ?? 99) <= 1, 150_000);
    hpa.stop();
    log(`${scaledDown ? 'back to one pod' : 'still more than one pod after 150 s'}; ${heavy.answers.length} requests, ${failures(heavy.answers)} failed`);
    return { hpa, heavy, scaledUp, scaledDown };
  };

  const churn = examples.find((m) => m.metadata.name === 'churn-classifier')!;
  const load = startClientLoad(serviceUrl(tools, NS, 'churn-classifier'), 'churn-classifier', rows, 3);
  const timeline: string[] = [];
  const rollouts = async () => {
    const log = say('rollout');
    let last = '';
    const follow = (done: (r: Record<string, any>) => boolean) => followRollout(tools, NS, 'churn-classifier', done, (line) => {
      // The second rollout's first reading is where the first one ended.
      if (line === last) return;
      last = line;
      const text = `+${elapsed().padStart(6)}  ${line}`;
      timeline.push(text);
      log(text);
    });
    // Shorter phases than the example's (minutes), so the demo shows all of them; two canary steps instead of
    // four; and a latency limit for a 2-core node running some 20 pods, with no ratio to the stable version's
    // p99 (null removes it): a candidate's cold pods measured 20 to 50 times the warm stable's in a 4 s window.
    const quick = {
      shadow: { ...churn.spec.rollout.shadow, duration: '8s', minComparisons: 30 }, steps: [20, 100], stepInterval: '4s',
      analysis: { ...churn.spec.rollout.analysis, minRequests: 10, maxLatencyP99Ms: 5000, maxLatencyP99Ratio: null },
    };
    const patch = (model: string, version: string) => kubectl(['-n', NS, 'patch', 'mdep', 'churn-classifier', '--type', 'merge', '-p', JSON.stringify({
      spec: { model: { uri: store.url(model), sha256: store.sha256(model), version }, rollout: quick },
    })]);
    log('$ kubectl patch mdep churn-classifier ... version 2024-08-01   # the same classifier, a new build');
    patch('mlp.onnx', '2024-08-01');
    await follow((r) => r.phase === 'Succeeded' && r.stable?.version === '2024-08-01');
    log('$ kubectl patch mdep churn-classifier ... version 2024-09-01   # a retrained model that disagrees');
    patch('mlp-retrained.onnx', '2024-09-01');
    await follow((r) => r.phase === 'RolledBack');
  };
  const driftTimeline: string[] = [];
  const drift = async () => {
    const log = say('drift');
    const note = (line: string) => {
      const text = `+${elapsed().padStart(6)}  ${line}`;
      driftTimeline.push(text);
      log(text);
    };
    // The clients read this array on every request: replacing its rows changes what they send.
    const rowsSent = REFERENCE_ROWS.slice(0, 500);
    const clients = startClientLoad(serviceUrl(tools, NS, 'ranker'), 'ranker', rowsSent, 3, 10);
    note('3 clients send ranker 10 rows a request, like its reference data');
    let falseAlarm = false;
    const calm = await watchDrift(() => driftView(tools, NS, 'ranker'), (v) => {
      falseAlarm ||= v.condition?.status === 'True';
      return v.condition?.reason === 'NoDrift';
    }, note, 90_000) && !falseAlarm;
    rowsSent.splice(0, rowsSent.length, ...drifted(REFERENCE_ROWS.slice(0, 500)));
    note(`the clients' features ${DRIFTED_FEATURES.join(', ')} move down by 0.8 (of their [-1, 1) range)`);
    const detected = await watchDrift(() => driftView(tools, NS, 'ranker'), (v) => v.condition?.status === 'True', note, 120_000);
    await clients.stop();
    return { calm, detected, clients };
  };
  const restart = async () => {
    const log = say('restart');
    const recommender = examples.find((m) => m.metadata.name === 'recommender')!;
    const deployment = `deployment/${objectName(['recommender', recommender.spec.model.version])}`;
    const clients = startClientLoad(serviceUrl(tools, NS, 'recommender'), 'recommender', rows, 3);
    await new Promise((r) => setTimeout(r, 2000));
    log(`$ kubectl rollout restart ${deployment}   # its 2 pods replaced one by one while 3 clients send requests`);
    await kubectlAsync(tools, ['rollout', 'restart', '-n', NS, deployment]);
    await kubectlAsync(tools, ['rollout', 'status', '-n', NS, deployment, '--timeout=180s']);
    // Requests still in flight to the last old pod finish during its drain.
    await new Promise((r) => setTimeout(r, 3000));
    await clients.stop();
    log(`restarted: ${clients.answers.length} requests, ${failures(clients.answers)} failed`);
    return clients;
  };
  const [{ hpa, heavy, scaledUp, scaledDown }, , driftResult, restarted] = await Promise.all([autoscaling(), rollouts(), drift(), restart()]);
  await load.stop();

  stage('summary');
  console.log(kubectl(['get', 'nodes']));
  console.log(kubectl(['get', 'pods', '-n', NS, '-L', 'serving.modelship.dev/version']));
  console.log(`HPA replica history under load (fraud-classifier; ${heavy.answers.length} requests, ${failures(heavy.answers)} failed):`);
  for (const line of replicaHistory(hpa.samples)) console.log(`  ${line}`);
  console.log('rollout timeline (churn-classifier):');
  for (const line of timeline) console.log(`  ${line}`);
  console.log(`clients during the rollouts: ${load.answers.length} requests, ${failures(load.answers)} failed, ${load.answers.filter((a) => a.version === '2024-09-01').length} answered by the rejected 2024-09-01`);
  console.log(`clients during the rolling restart (recommender): ${restarted.answers.length} requests, ${failures(restarted.answers)} failed`);
  console.log(`drift (ranker; ${driftResult.clients.answers.length} requests, ${failures(driftResult.clients.answers)} failed):`);
  for (const line of driftTimeline) console.log(`  ${line}`);
  console.log(`demo on the real cluster took ${elapsed()}; the cluster keeps running (make cluster-down stops it)`);
  // The demo's namespace goes; its pods get a second, not their drain (nothing sends them requests any
  // more), so that a demo run right after this one does not wait for them.
  kubectl(['delete', 'namespace', NS, '--wait=false']);
  kubectl(['delete', 'pods', '--all', '-n', NS, '--grace-period=1', '--wait=false']);
  if (!scaledUp || !scaledDown || !driftResult.calm || !driftResult.detected || failures(load.answers) + failures(heavy.answers) + failures(restarted.answers) > 0) process.exitCode = 1;
}

function failures(answers: Answer[]): number {
  return answers.filter((a) => a.status !== 200).length;
}

async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return false;
}

/** Prints the drift the pods report and the operator's condition whenever either changes, until `done`. */
async function watchDrift(read: () => Promise<DriftView>, done: (view: DriftView) => boolean, note: (line: string) => void, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const view = await read().catch(() => undefined);
    if (view) {
      const line = describeDrift(view);
      if (line !== last) note(line);
      last = line;
      if (done(view)) return true;
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
  return false;
}
