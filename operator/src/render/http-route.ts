// The Gateway API HTTPRoute of a ModelDeployment (routing provider `gateway-api`): on clusters that run a
// gateway, the gateway itself splits traffic between the per-version Services (weighted backendRefs) and
// mirrors a share to the shadow version (RequestMirror with percent), in place of the built-in router.
// A pure renderer: the rollout decides the plan, this only spells it in gateway.networking.k8s.io/v1.
import type { ModelDeployment } from '../api/types.ts';
import { instanceLabel, MANAGER, objectName, ownerReference } from './names.ts';

const GATEWAY_GROUP = 'gateway.networking.k8s.io';
/** The Open Inference Protocol's paths (inference, metadata, health) all live under /v2. */
export const OIP_PATH_PREFIX = '/v2';

export interface BackendShare { version: string; service: string; port: number; weight: number }
export interface TrafficPlan { backends: BackendShare[]; mirror?: { version: string; service: string; port: number; percent: number } }
/** Where the route attaches: Gateways (or listeners of them, by sectionName/port) and the hostnames it serves. */
export interface GatewayRouting { parentRefs: Array<{ name: string; namespace?: string; sectionName?: string; port?: number }>; hostnames?: string[] }

/** Named after the ModelDeployment: one route per model, whatever versions it currently splits between. */
export const httpRouteName = (mdep: ModelDeployment) => objectName([mdep.metadata.name]);

/**
 * The route spans versions, so it carries no version label (objectMeta's would name one version, and
 * pruning a superseded version goes by that label); it is owned by the ModelDeployment like everything
 * else, so deleting the model garbage-collects it.
 */
function routeMeta(mdep: ModelDeployment): Record<string, unknown> {
  return {
    name: httpRouteName(mdep),
    namespace: mdep.metadata.namespace ?? 'default',
    labels: {
      'app.kubernetes.io/name': 'modelship-http-route',
      'app.kubernetes.io/instance': instanceLabel(mdep),
      'app.kubernetes.io/managed-by': MANAGER,
      'app.kubernetes.io/component': 'router',
    },
    ownerReferences: [ownerReference(mdep)],
  };
}

const serviceRef = (service: string, port: number) => ({ group: '', kind: 'Service', name: service, port });

export function renderHttpRoute(mdep: ModelDeployment, plan: TrafficPlan, gateway: GatewayRouting): Record<string, unknown> {
  const mirror = plan.mirror && plan.mirror.percent > 0 ? plan.mirror : undefined;
  return {
    apiVersion: `${GATEWAY_GROUP}/v1`,
    kind: 'HTTPRoute',
    metadata: routeMeta(mdep),
    spec: {
      // Spelled out (the CRD defaults to these) so the applied object says what it attaches to.
      parentRefs: gateway.parentRefs.map((ref) => ({ group: GATEWAY_GROUP, kind: 'Gateway', ...ref })),
      ...(gateway.hostnames?.length ? { hostnames: gateway.hostnames } : {}),
      rules: [{
        matches: [{ path: { type: 'PathPrefix', value: OIP_PATH_PREFIX } }],
        // The mirror's responses are discarded by the gateway: the shadow version is compared, never answers.
        ...(mirror ? { filters: [{ type: 'RequestMirror', requestMirror: { backendRef: serviceRef(mirror.service, mirror.port), percent: mirror.percent } }] } : {}),
        // Every version the plan lists stays listed, weight 0 included: moving traffic (a canary step, a
        // promotion, a rollback) is then a change of weights only, the same list in the same order, and the
        // gateway keeps the backend resolved instead of tearing it down and building it again. Weight 0
        // means no traffic in the Gateway API; the CRD's default would be 1, so the weight is always written.
        backendRefs: plan.backends.map((b) => ({ ...serviceRef(b.service, b.port), weight: b.weight })),
      }],
    },
  };
}
