// The server's one model slot and its lifecycle: loading -> ready -> draining. The HTTP server starts before
// the model has loaded so that liveness holds during a long download or load (a kubelet would otherwise
// kill a slow-loading pod); readiness and inference wait for `ready`. While draining, readiness is false but
// a loaded model still answers: the requests that come then are from clients whose pooled connections
// were open before the shutdown, and each answer tells them (Connection: close) to go elsewhere.
import { ServerMetrics } from '../observability/metrics.ts';
import type { ServedModel } from './served-model.ts';

export type HostState = 'loading' | 'ready' | 'draining';

export class ModelHost {
  readonly name: string;
  readonly version: string;
  readonly metrics: ServerMetrics;
  state: HostState = 'loading';
  model: ServedModel | undefined;

  constructor(name: string, version: string) {
    this.name = name;
    this.version = version;
    this.metrics = new ServerMetrics(name, version);
    this.metrics.setReady(false);
  }

  /** Ready while serving with at least one live model worker (all lost: not ready until one is replaced). */
  get ready(): boolean {
    return this.state === 'ready' && this.#hasWorker;
  }

  /** Takes inference: ready, or draining with the model loaded. */
  get serving(): boolean {
    return this.state !== 'loading' && this.#hasWorker;
  }

  get #hasWorker(): boolean {
    return (this.model?.pool.size ?? 0) > 0;
  }

  serve(model: ServedModel): void {
    this.model = model;
    this.state = 'ready';
    this.metrics.setReady(true);
  }

  drain(): void {
    this.state = 'draining';
    this.metrics.setReady(false);
  }

  matches(name: string, version: string | undefined): boolean {
    return name === this.name && (version === undefined || version === this.version);
  }

  /** Why a name/version pair is not served here, for a 404. */
  unknownMessage(name: string, version: string | undefined): string {
    return version !== undefined && name === this.name
      ? `unknown version '${version}' of model '${name}'`
      : `unknown model '${name}'`;
  }

  /** Why the model cannot answer now, for a 503. */
  unavailableMessage(): string {
    if (this.state === 'loading') return `model '${this.name}' is loading`;
    if (this.state === 'draining' && !this.model) return 'server is shutting down; the model was never loaded';
    return `model '${this.name}' has no live worker; one is being restarted`;
  }
}
