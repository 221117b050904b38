// Reading what another process answers over HTTP (a pod's Prometheus exposition, a Prometheus query's JSON):
// bounded in time and in bytes, so that a pod with a runaway label set, or a query matching far more series
// than expected, cannot fill the operator's memory.
export interface ScrapeLimits {
  timeoutMs: number;
  maxBytes: number;
}

export const DEFAULT_SCRAPE_LIMITS: ScrapeLimits = { timeoutMs: 3000, maxBytes: 8 * 1024 * 1024 };

/** The body of `url`'s answer (`what` it is, for the error) as text, with its status; fails past `limits` (time or bytes). */
export async function fetchBounded(url: string | URL, what: string, limits: ScrapeLimits): Promise<{ status: number; ok: boolean; text: string }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(limits.timeoutMs) });
  if (!response.body) return { status: response.status, ok: response.ok, text: '' };
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for await (const chunk of response.body) {
    bytes += chunk.byteLength;
    if (bytes > limits.maxBytes) {
      await response.body.cancel().catch(() => undefined);
      throw new Error(`${url} sent more than ${limits.maxBytes} bytes of ${what}`);
    }
    chunks.push(chunk);
  }
  return { status: response.status, ok: response.ok, text: Buffer.concat(chunks).toString('utf8') };
}

/** A pod's /metrics; an answer other than 2xx fails. */
export async function scrapeText(url: string, limits: ScrapeLimits = DEFAULT_SCRAPE_LIMITS): Promise<string> {
  const answer = await fetchBounded(url, 'metrics', limits);
  if (!answer.ok) throw new Error(`${url} answered ${answer.status}`);
  return answer.text;
}
