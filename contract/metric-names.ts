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

/**
 * The operator's own series by ModelDeployment (`namespace`, `name`) that the chart's alerts and dashboard
 * read. Each ModelDeployment has its series from its first reconcile (the rollbacks counter at 0, so that
 * the first rollback is an increase) until it is deleted.
 */
export const OPERATOR_METRICS = {
  /** Counter: candidates rolled back by a failed check. */
  rollbacks: 'modelship_operator_rollbacks_total',
  /** State-set gauge by `phase` (ROLLOUT_PHASES): 1 for the rollout's phase, 0 for each other one. */
  rolloutPhase: 'modelship_operator_rollout_phase',
  /** Info gauge, always 1, by `stable` and `candidate` (the versions; "" while there is no candidate). */
  rolloutInfo: 'modelship_operator_rollout_info',
  /** Gauge: the candidate's share of real traffic, in percent. */
  rolloutCanaryWeight: 'modelship_operator_rollout_canary_weight_percent',
  /** Gauge: the share of requests copied to the candidate while it shadows, in percent (0 otherwise). */
  rolloutShadowPercent: 'modelship_operator_rollout_shadow_percent',
  /** Gauge: failed checks of the current candidate (failureThreshold of them roll it back). */
  rolloutFailedChecks: 'modelship_operator_rollout_failed_checks',
} as const;

/** The `phase` label values of OPERATOR_METRICS.rolloutPhase: the rollout's phases (status.rollout.phase). */
export const ROLLOUT_PHASES = ['Initialized', 'Progressing', 'Shadowing', 'Promoting', 'Succeeded', 'RolledBack', 'Aborted', 'ABTesting'] as const;

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

/**
 * The model server's drift series (with `serve --baseline`), one family per side: `input` (label `feature`,
 * e.g. `input[3]`) and `prediction` (label `output`: a classifier output's name, or `tensor[index]`). Per
 * column, `bin` counters and the baseline's share of each bin (a gauge that never changes) let PromQL or the
 * operator compute PSI over any window and any set of pods; the `psi` gauges are this pod's sliding window.
 * Only the first `driftMaxFeatures` columns of a side are labelled one by one; the `psi_worst`/`psi_mean`
 * gauges cover every column, and the quality counters of the rest are summed under DRIFT_OTHER_COLUMN.
 */
export const DRIFT_METRICS = {
  /** Counter: rows counted into the bins. */
  rows: 'modelship_drift_rows_total',
  /** Counter: rows not counted because the binning fell too far behind (never the requests themselves). */
  droppedRows: 'modelship_drift_dropped_rows_total',
  /** Counter: rows left uncounted by the drift budget (driftMaxRowsPerSecond): a sample in time, not a loss. */
  budgetSkippedRows: 'modelship_drift_budget_skipped_rows_total',
  input: {
    /** Counter by `feature`, `bin` ("0".."n-1"): rows whose value fell in the bin. */
    bins: 'modelship_drift_input_bin_total',
    /** Gauge by `feature`, `bin`: the reference share of the bin, from the baseline. */
    baseline: 'modelship_drift_input_baseline_ratio',
    /** Gauge by `feature`: PSI over the pod's sliding window (absent below driftMinRows rows). */
    psi: 'modelship_drift_input_psi',
    /** Gauges: the largest and the mean window PSI over every profiled feature. */
    psiWorst: 'modelship_drift_input_psi_worst',
    psiMean: 'modelship_drift_input_psi_mean',
    /** Counter by `feature`: values outside the baseline's [min, max]. */
    outOfRange: 'modelship_drift_input_out_of_range_total',
    /** Counter by `feature`: values missing or not finite. */
    nonFinite: 'modelship_drift_input_non_finite_total',
  },
  prediction: {
    bins: 'modelship_drift_prediction_bin_total',
    baseline: 'modelship_drift_prediction_baseline_ratio',
    psi: 'modelship_drift_prediction_psi',
    psiWorst: 'modelship_drift_prediction_psi_worst',
    psiMean: 'modelship_drift_prediction_psi_mean',
    outOfRange: 'modelship_drift_prediction_out_of_range_total',
    nonFinite: 'modelship_drift_prediction_non_finite_total',
  },
} as const;

/** The column label of each drift side. */
export const DRIFT_COLUMN_LABELS = { input: 'feature', prediction: 'output' } as const;
export type DriftSide = keyof typeof DRIFT_COLUMN_LABELS;

/** The column label value under which the quality counters of the columns past the cap are summed. */
export const DRIFT_OTHER_COLUMN = '_other';

/** The model server's prediction log series (with `serve --prediction-log`). */
export const PREDICTION_LOG_METRICS = {
  /** Counter: predictions sampled and handed to the sink (one record per request). */
  sent: 'modelship_prediction_log_records_total',
  /** Counter by `reason` (PREDICTION_LOG_DROP_REASONS): sampled records that never reached the sink. */
  dropped: 'modelship_prediction_log_dropped_total',
  /** Gauges: records and bytes waiting in the queue. */
  queueRecords: 'modelship_prediction_log_queue_records',
  queueBytes: 'modelship_prediction_log_queue_bytes',
} as const;

/**
 * queue_full: the queue was at its count or byte bound; sink_error: the sink refused it or could not be
 * reached; budget: sampled past predictionLogMaxPerSecond (not copied at all).
 */
export const PREDICTION_LOG_DROP_REASONS = ['queue_full', 'sink_error', 'budget'] as const;
export type PredictionLogDropReason = (typeof PREDICTION_LOG_DROP_REASONS)[number];
