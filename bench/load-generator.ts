// A closed-loop load generator: `concurrency` clients, each sending its next request as soon as the previous
// one is answered, over keep-alive connections on loopback. Requests are issued until the duration has
// passed; those still in flight then are awaited and counted, so the run ends with the server idle and its
// metrics cover exactly the requests counted here.
import { request, type Agent, type IncomingHttpHeaders } from 'node:http';
import type { OutgoingRequest } from './oip-requests.ts';

export interface LoadTarget {
  port: number;
  path: string;
  /** Keep-alive agent with maxSockets = concurrency; shared by the warm-up and the measured run. */
  agent: Agent;
  concurrency: number;
  makeRequest(): OutgoingRequest;
  /** Why a response does not count as a success, or undefined. */
  problem(status: number, headers: IncomingHttpHeaders): string | undefined;
}

export interface LoadResult {
  /** Requests answered, successfully or not. */
  requests: number;
  errors: number;
  /** The first few distinct error reasons, for the report. */
  errorSamples: string[];
  seconds: number;
  /** Successful requests per second. */
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

/** A request that hangs this long is failed rather than stalling the whole benchmark. */
const REQUEST_TIMEOUT_MS = 30_000;
const MAX_ERROR_SAMPLES = 5;

function send(target: LoadTarget, outgoing: OutgoingRequest): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port: target.port, path: target.path, method: 'POST', agent: target.agent, headers: outgoing.headers },
      (res) => {
        const problem = target.problem(res.statusCode ?? 0, res.headers);
        const chunks: Buffer[] = [];
        // The body is read to the end either way (the connection is reused); kept only to explain an error.
        res.on('data', (chunk: Buffer) => {
          if (problem) chunks.push(chunk);
        });
        res.on('end', () => resolve(problem && `${problem}: ${Buffer.concat(chunks).toString('utf8', 0, 200)}`));
        res.on('error', (error) => resolve(error.message));
      },
    );
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', (error) => resolve(error.message));
    req.end(outgoing.body);
  });
}

/** Nearest-rank percentile of an ascending array. */
function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)];
}

export async function runClosedLoop(target: LoadTarget, durationMs: number): Promise<LoadResult> {
  const latencies: number[] = [];
  const errorSamples = new Set<string>();
  let errors = 0;
  const started = performance.now();
  const deadline = started + durationMs;

  const client = async () => {
    while (performance.now() < deadline) {
      // Built before the clock starts: the body's encoding is the client's cost, not the server's latency.
      const outgoing = target.makeRequest();
      const sent = performance.now();
      const problem = await send(target, outgoing);
      latencies.push(performance.now() - sent);
      if (problem) {
        errors++;
        if (errorSamples.size < MAX_ERROR_SAMPLES) errorSamples.add(problem);
      }
    }
  };
  await Promise.all(Array.from({ length: target.concurrency }, client));

  const seconds = (performance.now() - started) / 1000;
  const sorted = Float64Array.from(latencies).sort();
  return {
    requests: latencies.length,
    errors,
    errorSamples: [...errorSamples],
    seconds,
    requestsPerSec: (latencies.length - errors) / seconds,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
  };
}
