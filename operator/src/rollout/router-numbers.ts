// The router's metrics (names in contract/metric-names.ts) of one window, as the numbers a check judges. Pure.
import { GATED_ROUTE, ROUTER_METRICS as M, SHADOW_FAULT_RESULTS } from '../../../contract/metric-names.ts';
import type { WindowNumbers } from './gates.ts';
import { quantile, sum, type Snapshot } from './metric-samples.ts';
import type { VersionNumbers } from './types.ts';

const isServerError = (labels: Record<string, string>) => labels.code?.startsWith('5') ?? false;
const ms = (seconds: number | null) => (seconds === null ? null : seconds * 1000);
/**
 * Only weight-routed inference counts: requests a client pinned to a version, metadata, and requests the
 * router refused before choosing a version say nothing of the traffic the canary takes.
 */
const gated = { route: GATED_ROUTE };

function versionNumbers(window: Snapshot, version: string): VersionNumbers {
  const requests = sum(window, M.requests, { version, ...gated });
  const errors = sum(window, M.requests, { version, ...gated }, isServerError);
  return { requests, errors, errorRate: requests > 0 ? errors / requests : null, p99Ms: ms(quantile(window, M.requestDuration, 0.99, { version, ...gated })) };
}

export function routerWindowNumbers(window: Snapshot, stable: string, candidate: string): WindowNumbers {
  const pair = { primary: stable, shadow: candidate };
  const top1Rows = sum(window, M.shadowTop1Rows, pair);
  const shadowRequests = sum(window, M.shadowRequests, { version: candidate });
  return {
    candidate: versionNumbers(window, candidate),
    stable: versionNumbers(window, stable),
    shadow: {
      comparisons: sum(window, M.shadowComparisons, { ...pair, result: 'compared' }),
      mismatches: sum(window, M.shadowComparisons, pair, (labels) => (SHADOW_FAULT_RESULTS as readonly string[]).includes(labels.result)),
      top1Rows,
      top1Agreement: top1Rows > 0 ? sum(window, M.shadowTop1Agreements, pair) / top1Rows : null,
      divergenceP99: quantile(window, M.shadowMaxAbsDiff, 0.99, pair),
      requests: shadowRequests,
      errors: sum(window, M.shadowRequests, { version: candidate }, isServerError),
      p99Ms: ms(quantile(window, M.shadowRequestDuration, 0.99, { version: candidate })),
    },
  };
}
