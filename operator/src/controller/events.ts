// Events as client-go's recorder writes them: the same Event again (same object, type, reason and message)
// raises the count and lastTimestamp of the Event already written instead of adding one more, so a
// condition that repeats is one line in `kubectl describe` that says how often, not a flood of objects.
// What was written is remembered for a bounded number of Events (least recently used go first); an Event
// the API server has expired meanwhile is created anew.
import { CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { EventRecord, ModelDeployment } from '../api/types.ts';
import { isNotFound } from './api-errors.ts';

interface Written {
  name: string;
  namespace: string;
  count: number;
}

export class EventRecorder {
  private readonly core: CoreV1Api;
  private readonly component: string;
  private readonly capacity: number;
  /** By object, type, reason and message; Map order is recency of use. */
  private readonly written = new Map<string, Written>();
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(core: CoreV1Api, component: string, capacity = 4096) {
    this.core = core;
    this.component = component;
    this.capacity = capacity;
  }

  async record(mdep: ModelDeployment, event: EventRecord): Promise<void> {
    const namespace = mdep.metadata.namespace ?? 'default';
    const key = JSON.stringify([mdep.metadata.uid ?? `${namespace}/${mdep.metadata.name}`, event.type, event.reason, event.message]);
    // One write at a time per Event: a repeat told while the first is being created raises its count.
    const before = this.inFlight.get(key) ?? Promise.resolve();
    const write = before.catch(() => undefined).then(() => this.write(key, namespace, mdep, event));
    this.inFlight.set(key, write);
    try {
      await write;
    } finally {
      if (this.inFlight.get(key) === write) this.inFlight.delete(key);
    }
  }

  private async write(key: string, namespace: string, mdep: ModelDeployment, event: EventRecord): Promise<void> {
    const now = new Date();
    const seen = this.written.get(key);
    if (seen) {
      this.written.delete(key);
      try {
        await this.core.patchNamespacedEvent(
          { name: seen.name, namespace: seen.namespace, body: { count: seen.count + 1, lastTimestamp: now } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
        this.remember(key, { ...seen, count: seen.count + 1 });
        return;
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    }
    const created = await this.core.createNamespacedEvent({
      namespace,
      body: {
        metadata: { generateName: `${mdep.metadata.name}.`, namespace },
        involvedObject: { apiVersion: mdep.apiVersion, kind: mdep.kind, name: mdep.metadata.name, namespace, uid: mdep.metadata.uid },
        type: event.type,
        reason: event.reason,
        message: event.message,
        source: { component: this.component },
        reportingComponent: this.component,
        reportingInstance: this.component,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    });
    this.remember(key, { name: created.metadata!.name!, namespace, count: 1 });
  }

  private remember(key: string, written: Written): void {
    this.written.set(key, written);
    if (this.written.size > this.capacity) this.written.delete(this.written.keys().next().value!);
  }
}
