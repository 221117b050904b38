// The Prometheus series the operator reads from the processes it runs: the model server's (autoscaling,
// the prometheus analysis provider) and the router's (the router analysis provider). The server and the
// router register their metrics under these names; the operator builds its queries from them. Change a
// name or a label only here, and both halves follow.

/** The model server's series the operator reads. */
export const SERVER_METRICS = {
  /** Counter by `outcome` (SERVER_OUTCOMES). */
  inferenceRequests: 'modelship_inference_requests_total',
  /** Histogram of successful requests' end-to-end time. */
  requestDuration: 'modelship_request_duration_seconds',
  /** Gauge: requests waiting in the batching queue, the autoscaling signal. */
  queueDepth: 'modelship_queue_depth',
} as const;

/** The `outcome` label values of SERVER_METRICS.inferenceRequests. */
export const SERVER_OUTCOMES = ['success', 'bad_request', 'not_found', 'rejected', 'timeout', 'cancelled', 'unavailable', 'error'] as const;
export type ServerOutcome = (typeof SERVER_OUTCOMES)[number];

/** Outcomes that count against a version in rollout analysis: its failures, not its clients'. */
export const SERVER_ERROR_OUTCOMES: readonly ServerOutcome[] = ['error', 'unavailable', 'timeout', 'rejected'];

/** The router's series the operator reads (labels: `version`, `code`; shadow pairs: `primary`, `shadow`). */
export const ROUTER_METRICS = {
  requests: 'modelship_router_requests_total',
  requestDuration: 'modelship_router_request_duration_seconds',
  shadowRequests: 'modelship_router_shadow_requests_total',
  shadowRequestDuration: 'modelship_router_shadow_request_duration_seconds',
  shadowComparisons: 'modelship_router_shadow_comparisons_total',
  shadowTop1Rows: 'modelship_router_shadow_top1_rows_total',
  shadowTop1Agreements: 'modelship_router_shadow_top1_agreements_total',
  shadowMaxAbsDiff: 'modelship_router_shadow_max_abs_diff',
} as const;

/** Every router series starts with this (the analysis keeps only these from a scrape). */
export const ROUTER_METRIC_PREFIX = 'modelship_router_';
