// `modelship`: the operator's command line. `validate` checks ModelDeployments with the CRD's own schema
// and rules (same messages as admission); `render` prints the objects the operator would apply, like
// `helm template`. The operator itself (`modelship operator`) comes with the reconciler.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseAllDocuments, stringify } from 'yaml';
import { OPERATOR_HEALTH_PORT } from '../../contract/ports.ts';
import { validateModelDeployment } from './api/validate.ts';
import { renderDesiredState } from './render/desired-state.ts';
import { DEFAULT_SETTINGS, type OperatorSettings } from './render/settings.ts';
import { runOperator } from './operator.ts';

const USAGE = `Usage: modelship <command> [options]

Commands:
  validate -f FILE   Check ModelDeployments (FILE may hold several; - reads stdin)
  render -f FILE     Print the Kubernetes objects each ModelDeployment produces
  operator           Run the operator (--kubeconfig FILE, --workers N, --health-port N, --resync-ms N,
                     --log-level LEVEL, --no-leader-elect, --lease-namespace NS, --lease-duration-ms N,
                     --router-metrics NS/NAME=URL[,URL] (read that ModelDeployment's router metrics
                     there instead of from its pods: for an operator outside the cluster; repeatable),
                     --server-metrics NS/NAME/VERSION=URL[,URL] (the same for one version's model servers),
                     --watch-namespaces NS[,NS] (only these namespaces: what a namespaced install's
                     Roles allow; default all), and the render options below)

Render and operator options:
  --mig-strategy mixed|single        how the NVIDIA device plugin exposes MIG (default ${DEFAULT_SETTINGS.migStrategy})
  --time-slicing renamed|unrenamed   time-sliced GPUs as nvidia.com/gpu.shared or nvidia.com/gpu (default ${DEFAULT_SETTINGS.timeSlicing})
  --server-image IMAGE               CPU server image (default ${DEFAULT_SETTINGS.serverImage.cpu})
  --server-image-cuda IMAGE          CUDA server image (default ${DEFAULT_SETTINGS.serverImage.cuda})
  --prometheus-url URL               for KEDA's Prometheus trigger (default ${DEFAULT_SETTINGS.prometheusUrl})
  --gpu-pods-run-on-cpu              GPU-mode pods keep their GPU requests but run the CPU image on CPU
                                     (clusters whose GPUs containers cannot use; default off)`;

const SETTINGS_FLAGS = {
  'mig-strategy': { type: 'string' },
  'time-slicing': { type: 'string' },
  'server-image': { type: 'string' },
  'server-image-cuda': { type: 'string' },
  'prometheus-url': { type: 'string' },
  'gpu-pods-run-on-cpu': { type: 'boolean' },
} as const;

async function operator(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        kubeconfig: { type: 'string' },
        workers: { type: 'string', default: '4' },
        'resync-ms': { type: 'string', default: '600000' },
        'health-port': { type: 'string', default: String(OPERATOR_HEALTH_PORT) },
        'log-level': { type: 'string', default: 'info' },
        'no-leader-elect': { type: 'boolean', default: false },
        'lease-namespace': { type: 'string', default: process.env.POD_NAMESPACE ?? 'modelship-system' },
        'lease-duration-ms': { type: 'string', default: '15000' },
        'router-metrics': { type: 'string', multiple: true, default: [] },
        'server-metrics': { type: 'string', multiple: true, default: [] },
        'watch-namespaces': { type: 'string' },
        ...SETTINGS_FLAGS,
      },
    }));
    const number = (flag: string, value: string, min: number) => {
      const n = Number(value);
      if (!Number.isInteger(n) || n < min) throw new Error(`--${flag}: must be an integer >= ${min}`);
      return n;
    };
    return await runOperator({
      kubeconfig: values.kubeconfig,
      settings: settingsFrom(values),
      workers: number('workers', values.workers, 1),
      resyncMs: number('resync-ms', values['resync-ms'], 1000),
      healthPort: number('health-port', values['health-port'], 0),
      logLevel: values['log-level'],
      routerMetrics: metricsUrlsFrom('router-metrics', values['router-metrics'], /^([a-z0-9-]+\/[a-z0-9.-]+)=(.+)$/, 'namespace/name'),
      serverMetrics: metricsUrlsFrom('server-metrics', values['server-metrics'], /^([a-z0-9-]+\/[a-z0-9.-]+\/[A-Za-z0-9][A-Za-z0-9_.-]*)=(.+)$/, 'namespace/name/version'),
      watchNamespaces: watchNamespacesFrom(values['watch-namespaces']),
      lease: values['no-leader-elect'] ? undefined : {
        namespace: values['lease-namespace'],
        name: 'modelship-operator',
        durationMs: number('lease-duration-ms', values['lease-duration-ms'], 1000),
      },
    });
  } catch (error) {
    console.error(`modelship operator: ${(error as Error).message}`);
    return 2;
  }
}

/** --router-metrics and --server-metrics: `key=url[,url]` entries, the key matched by `entry`'s first group. */
function metricsUrlsFrom(flag: string, entries: string[], entry: RegExp, keyShape: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const text of entries) {
    const match = entry.exec(text);
    if (!match) throw new Error(`--${flag}: '${text}' must look like ${keyShape}=http://host:port/metrics`);
    const urls = match[2].split(',');
    for (const url of urls) if (!/^https?:\/\//.test(url)) throw new Error(`--${flag}: '${url}' is not an http(s) URL`);
    map.set(match[1], urls);
  }
  return map;
}

/** `a,b` -> ['a', 'b']; unset or empty -> undefined (every namespace). */
export function watchNamespacesFrom(value: string | undefined): string[] | undefined {
  const namespaces = [...new Set((value ?? '').split(',').map((n) => n.trim()).filter(Boolean))];
  for (const namespace of namespaces) {
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(namespace)) throw new Error(`--watch-namespaces: '${namespace}' is not a namespace name`);
  }
  return namespaces.length > 0 ? namespaces : undefined;
}

function readDocuments(file: string): unknown[] {
  const text = readFileSync(file === '-' ? 0 : file, 'utf8');
  return parseAllDocuments(text).map((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`${file}: document ${i + 1}: ${doc.errors[0].message}`);
    return doc.toJS();
  }).filter((doc) => doc !== null && doc !== undefined);
}

function settingsFrom(values: { [flag in keyof typeof SETTINGS_FLAGS]?: (typeof SETTINGS_FLAGS)[flag]['type'] extends 'boolean' ? boolean : string }): OperatorSettings {
  const choice = <T extends string>(flag: string, value: string | undefined, allowed: readonly T[], fallback: T): T => {
    if (value === undefined) return fallback;
    if (!allowed.includes(value as T)) throw new Error(`--${flag}: must be one of ${allowed.join(', ')}`);
    return value as T;
  };
  return {
    migStrategy: choice('mig-strategy', values['mig-strategy'], ['mixed', 'single'], DEFAULT_SETTINGS.migStrategy),
    timeSlicing: choice('time-slicing', values['time-slicing'], ['renamed', 'unrenamed'], DEFAULT_SETTINGS.timeSlicing),
    serverImage: {
      cpu: values['server-image'] ?? DEFAULT_SETTINGS.serverImage.cpu,
      cuda: values['server-image-cuda'] ?? DEFAULT_SETTINGS.serverImage.cuda,
    },
    prometheusUrl: values['prometheus-url'] ?? DEFAULT_SETTINGS.prometheusUrl,
    gpuPodsRunOnCpu: values['gpu-pods-run-on-cpu'] ?? DEFAULT_SETTINGS.gpuPodsRunOnCpu,
  };
}

export function main(argv: string[]): number | Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'operator') return operator(rest);
  if (command !== 'validate' && command !== 'render') {
    (command === undefined || command === '--help' ? console.log : console.error)(USAGE);
    return command === '--help' ? 0 : 2;
  }
  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        file: { type: 'string', short: 'f' },
        ...SETTINGS_FLAGS,
      },
    }));
    if (!values.file) throw new Error('-f FILE is required');
  } catch (error) {
    console.error(`modelship ${command}: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  try {
    const settings = settingsFrom(values);
    const documents = readDocuments(values.file!);
    let failed = false;
    const rendered: unknown[] = [];
    for (const [i, document] of documents.entries()) {
      const { object, errors } = validateModelDeployment(document);
      const name = `${object?.metadata?.name ?? `document ${i + 1}`}`;
      if (errors.length > 0) {
        failed = true;
        console.error(`${name}: invalid\n${errors.map((e) => `  ${e}`).join('\n')}`);
        continue;
      }
      if (command === 'validate') console.log(`${name}: valid`);
      else rendered.push(...renderDesiredState(object, settings));
    }
    if (command === 'render') process.stdout.write(rendered.map((o) => stringify(o, { lineWidth: 0 })).join('---\n'));
    return failed ? 1 : 0;
  } catch (error) {
    console.error(`modelship ${command}: ${(error as Error).message}`);
    return 2;
  }
}
