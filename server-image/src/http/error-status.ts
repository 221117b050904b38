// The one place where the server's error kinds become HTTP statuses and the Open Inference Protocol's
// error body `{"error": "..."}`. Statuses follow the protocol and Triton: 400 for anything the client got
// wrong, 404 unknown model, 413 body too large, 503 no room now (retry later), 500 only for the server's
// own faults. A client that went away gets nothing (its socket is gone); 400 if anything is still written.
import { InferenceError, errorKind, type ErrorKind } from '../protocol/errors.ts';

const STATUS: Record<ErrorKind, number> = {
  invalid: 400,
  not_found: 404,
  too_large: 413,
  unavailable: 503,
  cancelled: 400,
  internal: 500,
};

export function httpStatus(error: unknown): number {
  if (error instanceof InferenceError) return STATUS[error.kind];
  // A refusal of the HTTP framework itself (express cannot percent-decode a URL parameter) carries its 4xx.
  const status = (error as { status?: unknown } | undefined)?.status;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : STATUS[errorKind(error)];
}

export function errorBody(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return JSON.stringify({ error: message });
}
