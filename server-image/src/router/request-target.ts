// What a request asks the router for, from its method and target alone, before any version is chosen.
// Pure. The kind decides the version and the `route` label the rollout gates read (contract/metric-names.ts):
// only weight-routed inference judges a canary; a client that pins a version or asks for metadata cannot
// move the gates, and a target the router cannot forward is the client's error, charged to no version.
//
//   GET|HEAD /v2/health/live, /v2/health/ready, /metrics, /v2/router/routes   own: the router answers
//   POST /v2/models/{m}/infer                  weighted: a version by weight (or the sticky header's value)
//   *    /v2/models/{m}/versions/{v}[/...]     pinned: version v, if listed
//   *    any other path (metadata, config...)   other: the version with the most traffic
//   a target that is not a path (OPTIONS *, absolute-form)   malformed: 400
import type { RouterRoute } from '../../../contract/metric-names.ts';
import { excerpt } from '../excerpt.ts';

const INFER = /^\/v2\/models\/[^/?]+\/infer(?:\?|$)/;
const PINNED = /^\/v2\/models\/[^/?]+\/versions\/([^/?]+)/;
const OWN_PATHS = new Set(['/v2/health/live', '/v2/health/ready', '/metrics', '/v2/router/routes']);

export type RequestTarget =
  | { kind: 'own'; path: string }
  | { kind: 'malformed'; reason: string }
  | { kind: 'weighted' }
  | { kind: 'pinned'; version: string }
  | { kind: 'other' };

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

export function requestTarget(method: string, url: string): RequestTarget {
  // Only origin-form targets are forwarded: '*' (OPTIONS *) and absolute URLs name no path of a model.
  if (!url.startsWith('/')) return { kind: 'malformed', reason: `request target '${excerpt(url, 60)}' is not a path: the router forwards only /v2/... paths` };
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  if ((method === 'GET' || method === 'HEAD') && OWN_PATHS.has(path)) return { kind: 'own', path };
  const pinned = PINNED.exec(path);
  if (pinned) return { kind: 'pinned', version: decodeSegment(pinned[1]) };
  if (method === 'POST' && INFER.test(path)) return { kind: 'weighted' };
  return { kind: 'other' };
}

/** The `route` label of a request the router forwards or refuses. */
export function routeLabel(target: Exclude<RequestTarget, { kind: 'own' }>): RouterRoute {
  return target.kind === 'weighted' || target.kind === 'pinned' ? target.kind : 'other';
}
