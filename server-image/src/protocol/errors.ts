// Why a request failed, in the server's own terms: a kind that says whose fault it is and what the client
// may do about it, never an HTTP status. Each protocol edge maps kinds to its codes in one place (for HTTP:
// http/error-status.ts), so a new frontend (gRPC) maps the same kinds to its own.
export type ErrorKind =
  /** The request is malformed or does not fit the model: the client's fault. */
  | 'invalid'
  /** No such model or version. */
  | 'not_found'
  /** The body is over the size limit. */
  | 'too_large'
  /** The server has no room for it now (byte budget, full queue, loading, draining, queue timeout). */
  | 'unavailable'
  /** The client went away before its answer. */
  | 'cancelled'
  /** The server's own fault. */
  | 'internal';

export class InferenceError extends Error {
  readonly kind: ErrorKind;
  /** Why a request was turned away, for the outcome label of the request counter. */
  readonly reason: string | undefined;
  constructor(kind: ErrorKind, message: string, reason?: string) {
    super(message);
    this.name = 'InferenceError';
    this.kind = kind;
    this.reason = reason;
  }
}

export const badRequest = (message: string) => new InferenceError('invalid', message);
export const notFound = (message: string) => new InferenceError('not_found', message);
export const tooLarge = (message: string) => new InferenceError('too_large', message);
export const unavailable = (message: string, reason?: string) => new InferenceError('unavailable', message, reason);
export const cancelled = () => new InferenceError('cancelled', 'client closed the request', 'cancelled');
export const internal = (message: string) => new InferenceError('internal', message);

/** The kind of any error: anything that is not an InferenceError is the server's own fault. */
export function errorKind(error: unknown): ErrorKind {
  return error instanceof InferenceError ? error.kind : 'internal';
}
