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

/**
 * The router's series the operator reads (requests: `version`, `route`, `code`; shadow copies: `version`,
 * `code`; shadow pairs: `primary`, `shadow`, and for comparisons `result`).
 */
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

/**
 * The `route` label of ROUTER_METRICS.requests and requestDuration: how the router chose the version.
 * weighted: an inference request routed by the table's weights (or the sticky header), the traffic a
 * canary's gates judge; pinned: a request to an explicit /versions/{v}/ path, the client's choice; other:
 * metadata and everything else the router passes on, and requests it refused before choosing.
 */
export const ROUTER_ROUTES = ['weighted', 'pinned', 'other'] as const;
export type RouterRoute = (typeof ROUTER_ROUTES)[number];
/** The only requests rollout gates count: a client that pins a version or asks for metadata cannot move them. */
export const GATED_ROUTE: RouterRoute = 'weighted';

/**
 * The `result` label of ROUTER_METRICS.shadowComparisons. compared: both answers decoded and lined up;
 * mismatch: the shadow's outputs differ in names, shapes or kind; invalid: the shadow's answer could not
 * be decoded or was too large; skipped: nothing to compare (either side not 200, or the primary's answer
 * unusable).
 */
export const SHADOW_RESULTS = ['compared', 'mismatch', 'invalid', 'skipped'] as const;
export type ShadowResult = (typeof SHADOW_RESULTS)[number];
/** Results that are the shadow version's fault: any of them fails a shadow analysis. */
export const SHADOW_FAULT_RESULTS: readonly ShadowResult[] = ['mismatch', 'invalid'];

/**
 * The model server's response cache, counted in rows (a batched request of four rows is four lookups).
 * Evictions by `reason` (CACHE_EVICTION_REASONS), errors by `kind` (CACHE_ERROR_KINDS); `bytes` is what the
 * in-process store holds (a Redis store's memory is Redis's to report).
 */
export const CACHE_METRICS = {
  hits: 'modelship_cache_hits_total',
  misses: 'modelship_cache_misses_total',
  evictions: 'modelship_cache_evictions_total',
  errors: 'modelship_cache_errors_total',
  bytes: 'modelship_cache_bytes',
} as const;

/** size: the byte bound pushed out the least recently used answer; expired: its TTL passed. */
export const CACHE_EVICTION_REASONS = ['size', 'expired'] as const;
export type CacheEvictionReason = (typeof CACHE_EVICTION_REASONS)[number];

/**
 * unavailable: the store was not connected (or backing off after failures), so the lookup was skipped;
 * timeout: it did not answer in time; failed: it answered with an error or the connection dropped;
 * invalid: a stored answer could not be decoded or was not for its key (treated as a miss);
 * overloaded: answers not written because too many writes were already waiting for the store.
 */
export const CACHE_ERROR_KINDS = ['unavailable', 'timeout', 'failed', 'invalid', 'overloaded'] as const;
export type CacheErrorKind = (typeof CACHE_ERROR_KINDS)[number];
