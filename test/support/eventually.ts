// Polling for a state that another process reaches in its own time: the test asserts the state, and a
// loaded machine only makes it slower, never wrong.
export interface EventuallyOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** More to say when it times out (recent logs of the processes involved). */
  context?: () => string;
}

/** Resolves with the probe's first defined value; probe errors count as "not yet". */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, options: EventuallyOptions = {}): Promise<T> {
  const { timeoutMs = 30_000, intervalMs = 100, context } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${context ? `\n${context()}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** The same for a yes/no condition. */
export async function waitFor(what: string, condition: () => Promise<boolean>, options: EventuallyOptions = {}): Promise<void> {
  await eventually(what, async () => ((await condition()) ? true : undefined), options);
}
