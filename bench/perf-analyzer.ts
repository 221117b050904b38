// perf_analyzer's own numbers for modelship, as a Triton user would take them: the MLP served directly, and
// through the router in front of two versions of it (weights 50/50), at concurrency 1 and 64 with zero data.
// perf_analyzer 2.48.0 is set up in the cache as the conformance tests do (test/conformance/perf-analyzer.ts).
// Everything (servers, router, perf_analyzer) shares the machine: compare within one run.
//
//   node bench/perf-analyzer.ts [--measurement-interval MS] [--stability-percentage P]
import { parseArgs } from 'node:util';
import { startServer } from '../test/support/server-process.ts';
import { modelDir, modelPath } from '../test/support/model-files.ts';
import { MLP_RETRAINED, writeModel } from '../test/models/zoo.ts';
import { startRouter, writeRoutes } from '../test/router/router-process.ts';
import { perfAnalyzer, runPerfAnalyzer, type Run } from '../test/conformance/perf-analyzer.ts';

const { values } = parseArgs({
  options: {
    'measurement-interval': { type: 'string', default: '2000' },
    'stability-percentage': { type: 'string', default: '50' },
  },
});
const measurement = {
  '--input-data': 'zero',
  '--measurement-interval': values['measurement-interval'],
  '--stability-percentage': values['stability-percentage'],
};

const pa = perfAnalyzer();
const [v1, v2] = await Promise.all([
  startServer(['--model', modelPath.mlp(), '--version', '1']),
  startServer(['--model', writeModel(modelDir, 'mlp-retrained.onnx', MLP_RETRAINED.build()), '--name', 'mlp', '--version', '2']),
]);
const router = await startRouter(['--routes-file', writeRoutes({ versions: [{ name: '2', url: v2.url, weight: 50 }, { name: '1', url: v1.url, weight: 50 }] })]);

const rows: string[] = [];
try {
  for (const [path, url] of [['server (version 1)', v1.url], ['router (versions 1 and 2, 50/50)', router.url]]) {
    const run: Run = await runPerfAnalyzer(pa, url.replace(/^http:\/\//, ''), 'mlp', measurement, 600_000);
    if (run.code !== 0) throw new Error(`perf_analyzer failed against the ${path}:\n${run.output}`);
    for (const { concurrency, client } of run.levels) {
      rows.push(`| ${path} | ${concurrency} | ${client.throughput.toFixed(0)} | ${(client.p50Us / 1000).toFixed(3)} | ${(client.p99Us / 1000).toFixed(3)} |`);
    }
  }
} finally {
  await Promise.all([router.stop(), v1.stop(), v2.stop()]);
}
console.log(`perf_analyzer 2.48.0, HTTP, zero data, ${measurement['--measurement-interval']} ms windows, stable within ${measurement['--stability-percentage']}%\n`);
console.log('| path | concurrency | throughput (infer/s) | p50 ms | p99 ms |\n| --- | --- | --- | --- | --- |');
console.log(rows.join('\n'));
