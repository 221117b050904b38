// Where prediction records go. stdout: one JSON object per line (`"kind":"prediction"`), beside the server's
// own logs, for any log pipeline to pick up. http(s): CloudEvents in binary mode, as KServe's payload logger
// sends them, so collectors built for KServe work unchanged: for each prediction an event of type
// org.kubeflow.serving.inference.request (data: the Open Inference Protocol request) and one of type
// ...inference.response (data: the response), both with ce-id = the request id. Every call to the collector
// is bounded in time (each phase by the agent, each batch by a deadline); an answer other than 2xx, or none
// in time, fails the record.
import { Agent, request } from 'undici';
import type { PredictionRecord, PredictionSink } from './prediction-log.ts';

export const CLOUDEVENT_TYPES = {
  request: 'org.kubeflow.serving.inference.request',
  response: 'org.kubeflow.serving.inference.response',
} as const;

/** How long the collector may take to connect, answer or send its body, per event. */
const SINK_TIMEOUT_MS = 5_000;
/** How long one batch of events (SEND_BATCH records, two events each) may take in all. */
const BATCH_TIMEOUT_MS = 15_000;
/** Events in flight to the collector at once. */
const SINK_CONNECTIONS = 4;

export class StdoutSink implements PredictionSink {
  private readonly out: NodeJS.WritableStream;

  constructor(out: NodeJS.WritableStream = process.stdout) {
    this.out = out;
  }

  async send(records: PredictionRecord[]): Promise<number> {
    let text = '';
    for (const r of records) text += `${JSON.stringify({ kind: 'prediction', ...r })}\n`;
    // A full pipe is waited for here, in the logging loop, never in a request.
    if (!this.out.write(text)) await new Promise((resolve) => this.out.once('drain', resolve));
    return 0;
  }
}

/** The two events of one prediction: the ce-* headers and the JSON body of each. */
export function cloudEvents(record: PredictionRecord): Array<{ headers: Record<string, string>; body: string }> {
  const common = {
    'content-type': 'application/json',
    'ce-specversion': '1.0',
    'ce-id': record.id,
    'ce-source': `/v2/models/${encodeURIComponent(record.model)}/versions/${encodeURIComponent(record.version)}`,
    'ce-time': record.time,
    'ce-inferenceservicename': record.model,
    'ce-component': 'predictor',
    'ce-endpoint': record.version,
  };
  return [
    { headers: { ...common, 'ce-type': CLOUDEVENT_TYPES.request }, body: JSON.stringify({ id: record.id, inputs: record.inputs }) },
    {
      headers: { ...common, 'ce-type': CLOUDEVENT_TYPES.response },
      body: JSON.stringify({ model_name: record.model, model_version: record.version, id: record.id, outputs: record.outputs }),
    },
  ];
}

export class CloudEventsSink implements PredictionSink {
  private readonly url: string;
  private readonly agent = new Agent({
    connections: SINK_CONNECTIONS, connect: { timeout: SINK_TIMEOUT_MS }, headersTimeout: SINK_TIMEOUT_MS, bodyTimeout: SINK_TIMEOUT_MS,
  });

  constructor(url: string) {
    this.url = url;
  }

  private async post(event: { headers: Record<string, string>; body: string }, signal: AbortSignal): Promise<boolean> {
    try {
      const response = await request(this.url, { method: 'POST', headers: event.headers, body: event.body, dispatcher: this.agent, signal });
      await response.body.dump({ limit: 64 * 1024 }); // the answer is not read, only let go of
      return response.statusCode >= 200 && response.statusCode < 300;
    } catch {
      return false;
    }
  }

  async send(records: PredictionRecord[]): Promise<number> {
    // One deadline for the batch, beside the agent's per-phase timeouts: a timer per event cost a fifth of
    // the CPU of an event (120 against 92 us per POST, measured on loopback).
    const signal = AbortSignal.timeout(BATCH_TIMEOUT_MS);
    const results = await Promise.all(records.map(async (record) => {
      const sent = await Promise.all(cloudEvents(record).map((event) => this.post(event, signal)));
      return sent.every(Boolean);
    }));
    return results.filter((ok) => !ok).length;
  }

  /** Shutdown: events still in flight after the flush are given up. */
  close(): Promise<void> {
    return this.agent.destroy();
  }
}
