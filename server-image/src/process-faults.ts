// A promise rejection nobody handles is a bug in this program, not a reason to take a model offline: by
// default Node ends the process on one, and with it every request in flight (and, in the router, the
// model's only address). Both commands log and count it instead; each source is fixed where found, and
// the count (modelship_unhandled_rejections_total on the server's /metrics, modelship_router_unhandled_rejections_total
// on the router's) says whether any is left.
import type { Logger } from '../../contract/logger.ts';
import { excerpt } from './excerpt.ts';

let unhandledRejections = 0;

/** Unhandled rejections since the process started. */
export function unhandledRejectionCount(): number {
  return unhandledRejections;
}

/** Logs and counts every unhandled rejection instead of exiting on it; the message is cut to a bounded excerpt. */
export function logUnhandledRejections(logger: Logger): void {
  process.on('unhandledRejection', (reason) => {
    unhandledRejections++;
    const error = reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason);
    logger.error('unhandled promise rejection (a bug); the process keeps running', { error: excerpt(error, 500) });
  });
}
