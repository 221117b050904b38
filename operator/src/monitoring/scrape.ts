// Reading a pod's Prometheus exposition: bounded in time and in bytes, since the answer comes from another
// process (a pod with a runaway label set must not fill the operator's memory).
export interface ScrapeLimits {
  timeoutMs: number;
  maxBytes: number;
}

export const DEFAULT_SCRAPE_LIMITS: ScrapeLimits = { timeoutMs: 3000, maxBytes: 8 * 1024 * 1024 };

export async function scrapeText(url: string, limits: ScrapeLimits = DEFAULT_SCRAPE_LIMITS): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(limits.timeoutMs) });
  if (!response.ok || !response.body) throw new Error(`${url} answered ${response.status}`);
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for await (const chunk of response.body) {
    bytes += chunk.byteLength;
    if (bytes > limits.maxBytes) {
      await response.body.cancel().catch(() => undefined);
      throw new Error(`${url} sent more than ${limits.maxBytes} bytes of metrics`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
