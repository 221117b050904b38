// A budget in bytes for the request and response data a process holds at once, shared by the model server
// and the router. Counting requests does not bound memory (24 bodies of 60 MB are 1.4 GB); counting their
// bytes does. A request reserves what it declares (or what arrives, chunk by chunk, when it declares
// nothing) before the bytes are buffered, grows the reservation for what it produces (decoded tensors,
// the encoded answer), and releases it all when its answer has been handed to the socket. Past the budget
// the caller answers 503 at once, in its protocol's shape, instead of growing toward the container's limit.

export class ByteBudget {
  readonly limitBytes: number;
  private used = 0;
  private peak = 0;

  constructor(limitBytes: number) {
    if (!(limitBytes > 0)) throw new RangeError(`byte budget must be positive, got ${limitBytes}`);
    this.limitBytes = limitBytes;
  }

  get usedBytes(): number {
    return this.used;
  }

  /** The most bytes held at once since the process started (for metrics and tests). */
  get peakBytes(): number {
    return this.peak;
  }

  /** A reservation of `bytes`, or undefined when it would exceed the budget (nothing is reserved then). */
  reserve(bytes: number): Reservation | undefined {
    const reservation = new Reservation(this);
    return reservation.grow(bytes) ? reservation : undefined;
  }

  /** @internal Reservation's side of the accounting. */
  take(bytes: number): boolean {
    if (this.used + bytes > this.limitBytes) return false;
    this.used += bytes;
    if (this.used > this.peak) this.peak = this.used;
    return true;
  }

  /** @internal */
  give(bytes: number): void {
    this.used -= bytes;
  }
}

/** Bytes held for one request; release() is idempotent, so every exit path may call it. */
export class Reservation {
  private held = 0;
  private released = false;
  private readonly budget: ByteBudget;

  constructor(budget: ByteBudget) {
    this.budget = budget;
  }

  get bytes(): number {
    return this.held;
  }

  /** The whole budget this reservation draws on, for messages. */
  get budgetBytes(): number {
    return this.budget.limitBytes;
  }

  /** Holds `bytes` more; false (and nothing more held) when the budget cannot take them. */
  grow(bytes: number): boolean {
    if (this.released) return false;
    if (bytes <= 0) return true;
    if (!this.budget.take(bytes)) return false;
    this.held += bytes;
    return true;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.budget.give(this.held);
    this.held = 0;
  }
}

/** With no memory limit known, the budget a process gets: enough for several large requests, not for a flood. */
export const DEFAULT_BUDGET_BYTES = 512 * 1024 * 1024;

/**
 * The default budget for a container whose memory limit is `limitBytes` (undefined: none known): half of
 * it, leaving the rest to the runtime, the model and its sessions, at least 16 MiB.
 */
export function defaultBudgetBytes(limitBytes: number | undefined): number {
  if (limitBytes === undefined) return DEFAULT_BUDGET_BYTES;
  return Math.max(16 * 1024 * 1024, Math.floor(limitBytes / 2));
}
