// Every failure the server answers with carries its HTTP status; the body is the protocol's
// `{"error": "..."}` shape. Statuses follow the Open Inference Protocol and Triton:
// 400 bad request, 404 unknown model, 413 body too large, 503 unavailable (queue full, draining, timed out),
// 500 for faults of the server itself.
export class InferenceError extends Error {
  readonly status: number;
  /** Why a request was turned away, for the outcome label of the request counter. */
  readonly reason: string | undefined;
  constructor(status: number, message: string, reason?: string) {
    super(message);
    this.name = 'InferenceError';
    this.status = status;
    this.reason = reason;
  }
}

export const badRequest = (message: string) => new InferenceError(400, message);
export const notFound = (message: string) => new InferenceError(404, message);
export const unavailable = (message: string, reason?: string) => new InferenceError(503, message, reason);

export function errorStatus(error: unknown): number {
  return error instanceof InferenceError ? error.status : 500;
}

export function errorBody(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return JSON.stringify({ error: message });
}
