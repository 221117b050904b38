// The bounded queue of admitted requests: one FIFO per priority level, served highest level first.
// Entries leave it by being taken into a batch, by timing out, or by their client going away; the last two
// are removed lazily (marked, then skipped), so cancellation is O(1).
import type { InferenceRequest } from '../protocol/request.ts';
import type { Tensor } from '../protocol/datatypes.ts';
import type { BatchTrace } from './dynamic-batcher.ts';

export type EntryState = 'queued' | 'running' | 'done';

export interface QueueEntry {
  request: InferenceRequest;
  /** 0 is the highest priority level. */
  level: number;
  enqueuedAt: number;
  state: EntryState;
  timer?: NodeJS.Timeout;
  trace?: BatchTrace;
  resolve(outputs: Map<string, Tensor>): void;
  reject(error: unknown): void;
}

class Fifo {
  items: QueueEntry[] = [];
  head = 0;

  /** Drops entries that left the queue from the front, and compacts the array now and then. */
  trim(): void {
    while (this.head < this.items.length && this.items[this.head].state !== 'queued') this.head++;
    if (this.head > 256 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

export class RequestQueue {
  private readonly levels: Fifo[];
  private liveCount = 0;
  private liveRows = 0;

  constructor(levelCount: number) {
    this.levels = Array.from({ length: levelCount }, () => new Fifo());
  }

  get size(): number {
    return this.liveCount;
  }

  get rows(): number {
    return this.liveRows;
  }

  push(entry: QueueEntry): void {
    this.levels[entry.level].items.push(entry);
    this.liveCount++;
    this.liveRows += entry.request.rows;
  }

  /** Marks a queued entry as gone (timed out or cancelled); returns false if it already left. */
  remove(entry: QueueEntry): boolean {
    if (entry.state !== 'queued') return false;
    entry.state = 'done';
    this.forget(entry);
    return true;
  }

  /** The entry that is served next: the oldest of the highest non-empty level. */
  head(): QueueEntry | undefined {
    for (const fifo of this.levels) {
      fifo.trim();
      if (fifo.head < fifo.items.length) return fifo.items[fifo.head];
    }
    return undefined;
  }

  /**
   * Takes the head and, in service order, every later entry that can share its batch (same non-batch
   * shapes) while the rows fit. Stops at the first compatible entry that does not fit, so a large request
   * is never overtaken indefinitely by small ones behind it.
   */
  takeBatch(maxRows: number): QueueEntry[] {
    const first = this.head();
    if (!first) return [];
    const batch: QueueEntry[] = [];
    let rows = 0;
    for (const fifo of this.levels) {
      for (let i = fifo.head; i < fifo.items.length; i++) {
        const entry = fifo.items[i];
        if (entry.state !== 'queued' || entry.request.batchKey !== first.request.batchKey) continue;
        if (batch.length > 0 && rows + entry.request.rows > maxRows) return this.claim(batch);
        batch.push(entry);
        rows += entry.request.rows;
        entry.state = 'running';
        if (rows >= maxRows) return this.claim(batch);
      }
    }
    return this.claim(batch);
  }

  private claim(batch: QueueEntry[]): QueueEntry[] {
    for (const entry of batch) this.forget(entry);
    return batch;
  }

  private forget(entry: QueueEntry): void {
    this.liveCount--;
    this.liveRows -= entry.request.rows;
  }
}
