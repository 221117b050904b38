// The router's metrics (see server-image/src/router) of one window, as the numbers a check judges. Pure.
import type { WindowNumbers } from './gates.ts';
import { quantile, sum, type Snapshot } from './metric-samples.ts';
import type { VersionNumbers } from './types.ts';

export const ROUTER_METRIC_PREFIX = 'modelship_router_';
const isServerError = (labels: Record<string, string>) => labels.code?.startsWith('5') ?? false;
const ms = (seconds: number | null) => (seconds === null ? null : seconds * 1000);

function versionNumbers(window: Snapshot, version: string): VersionNumbers {
  const requests = sum(window, 'modelship_router_requests_total', { version });
  const errors = sum(window, 'modelship_router_requests_total', { version }, isServerError);
  return { requests, errors, errorRate: requests > 0 ? errors / requests : null, p99Ms: ms(quantile(window, 'modelship_router_request_duration_seconds', 0.99, { version })) };
}

export function routerWindowNumbers(window: Snapshot, stable: string, candidate: string): WindowNumbers {
  const pair = { primary: stable, shadow: candidate };
  const top1Rows = sum(window, 'modelship_router_shadow_top1_rows_total', pair);
  const shadowRequests = sum(window, 'modelship_router_shadow_requests_total', { version: candidate });
  return {
    candidate: versionNumbers(window, candidate),
    stable: versionNumbers(window, stable),
    shadow: {
      comparisons: sum(window, 'modelship_router_shadow_comparisons_total', { ...pair, result: 'compared' }),
      mismatches: sum(window, 'modelship_router_shadow_comparisons_total', { ...pair, result: 'mismatch' }),
      top1Rows,
      top1Agreement: top1Rows > 0 ? sum(window, 'modelship_router_shadow_top1_agreements_total', pair) / top1Rows : null,
      divergenceP99: quantile(window, 'modelship_router_shadow_max_abs_diff', 0.99, pair),
      requests: shadowRequests,
      errors: sum(window, 'modelship_router_shadow_requests_total', { version: candidate }, isServerError),
      p99Ms: ms(quantile(window, 'modelship_router_shadow_request_duration_seconds', 0.99, { version: candidate })),
    },
  };
}
