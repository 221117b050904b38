// Failed Kubernetes API calls, as @kubernetes/client-node reports them (ApiException: code, body, headers).
export const apiStatus = (error: unknown): number | undefined => (error as { code?: number }).code;

export const isNotFound = (error: unknown): boolean => apiStatus(error) === 404;

const MAX_DESCRIPTION = 1000;

/**
 * What went wrong, for status and Events: the API server's own Status (code, reason, message), never the
 * client's whole error text, which carries response headers (audit-id, date) that differ on every attempt
 * and so would make every retry a new status and a new Event.
 */
export function describeApiError(error: unknown): string {
  const code = apiStatus(error);
  if (typeof code !== 'number') return String((error as Error)?.message ?? error).split('\n')[0].slice(0, MAX_DESCRIPTION);
  let body = (error as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      // Not a Status (a proxy's HTML page, say): the code alone says enough.
    }
  }
  const status = typeof body === 'object' && body !== null ? body as { reason?: unknown; message?: unknown } : {};
  const reason = typeof status.reason === 'string' ? ` ${status.reason}` : '';
  const message = typeof status.message === 'string' ? `: ${status.message}` : '';
  return `HTTP ${code}${reason}${message}`.slice(0, MAX_DESCRIPTION);
}
