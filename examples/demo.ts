// `make demo`: serve the example wide MLP with modelship-server, send a short burst of concurrent requests
// as a client would, print what came of it (throughput, latency percentiles, how batches formed), and
// stop the server the way Kubernetes does (SIGTERM, drain, exit 0).
import { Agent } from 'node:http';
import { fileURLToPath } from 'node:url';
import { WIDE } from '../test/models/zoo.ts';
import { ServerProcess, httpGet } from '../bench/server-process.ts';
import { runClosedLoop } from '../bench/load-generator.ts';
import { requestFactory, responseProblem } from '../bench/oip-requests.ts';
import { meanBatchSize, scrapeBatchTotals } from '../bench/batch-metrics.ts';

const SERVER = fileURLToPath(new URL('../server-image/bin/modelship-server.js', import.meta.url));
const MODEL = fileURLToPath(new URL('./models/wide.onnx', import.meta.url));
const CLIENTS = [1, 16, 64];
const BURST_MS = 1000;

const server = await ServerProcess.start('modelship-server', SERVER, (port) => [
  'serve', '--model', MODEL, '--name', 'wide', '--host', '127.0.0.1', '--port', String(port), '--log-level', 'warn',
], 60_000);
console.log(`modelship-server is serving examples/models/wide.onnx (${WIDE.features} features -> ${WIDE.classes} logits) on port ${server.port}`);
const metadata = JSON.parse((await httpGet(server.port, '/v2/models/wide')).body);
console.log(`GET /v2/models/wide -> inputs ${JSON.stringify(metadata.inputs)}\n`);

console.log('| clients | requests | req/s | p50 ms | p99 ms | mean batch | errors |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
try {
  for (const concurrency of CLIENTS) {
    const before = await scrapeBatchTotals(server.port);
    const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
    const result = await runClosedLoop({
      port: server.port,
      path: '/v2/models/wide/infer',
      agent,
      concurrency,
      makeRequest: requestFactory('input', WIDE.features, 'json'),
      problem: (status, headers) => responseProblem('json', status, headers),
    }, BURST_MS);
    agent.destroy();
    const batch = meanBatchSize(before, await scrapeBatchTotals(server.port));
    console.log(`| ${concurrency} | ${result.requests} | ${result.requestsPerSec.toFixed(0)} | ${result.p50Ms.toFixed(2)} | ${result.p99Ms.toFixed(2)} | ${batch.toFixed(1)} | ${result.errors} |`);
    if (result.errors > 0) console.log(`  errors: ${result.errorSamples.join('; ')}`);
  }
} finally {
  const exit = await server.stop();
  console.log(`\nSIGTERM -> the server drained and exited with code ${exit.code}`);
}
