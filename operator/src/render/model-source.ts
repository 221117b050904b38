// Where the server container finds spec.model, by the URI's scheme. Pure.
//   http(s)://, s3://, file://, a path: the server fetches or opens it itself (so `serve` works the same
//     outside Kubernetes); the operator only passes settings, and credentials as env from Secrets
//     (secretKeyRef: the kubelet reads them, the Deployment never holds them).
//   pvc://claim/path: the claim mounted read-only; the server opens the path in it.
//   oci://registry/repo:tag: an image volume (volumes[].image) holding the model; the server opens its file.
// The volume and its mount live here, apart from the pod's other volumes, so that pod-level volume
// settings elsewhere merge without touching this.
import { envName } from '../../../contract/settings/serve-options.ts';
import { OCI_URI, OPERATOR_VOLUMES, PVC_URI } from '../../api/v1alpha1/schema.ts';
import type { ModelDeployment } from '../api/types.ts';

/** Where a mounted model source appears in the server container. */
export const MODEL_SOURCE_MOUNT = OPERATOR_VOLUMES['model-source'];
const VOLUME: keyof typeof OPERATOR_VOLUMES = 'model-source';
const DEFAULT_OCI_FILE = 'model.onnx';

export type SecretEnvVar = { name: string; valueFrom: { secretKeyRef: { name: string; key: string } } };

export interface ModelSource {
  /** What the server is given as --model: the URI itself, or the path of the mounted model. */
  model: string;
  s3Endpoint?: string;
  s3Region?: string;
  s3PathStyle?: boolean;
  /** Credentials the kubelet sets from Secrets. */
  secretEnv: SecretEnvVar[];
  volumes: Array<Record<string, unknown>>;
  volumeMounts: Array<Record<string, unknown>>;
}

const fromSecret = (name: string, secret: string, key: string): SecretEnvVar => ({ name, valueFrom: { secretKeyRef: { name: secret, key } } });

export function modelSource(model: ModelDeployment['spec']['model']): ModelSource {
  const none = { secretEnv: [], volumes: [], volumeMounts: [] };
  const pvc = new RegExp(PVC_URI).exec(model.uri);
  if (pvc) {
    return {
      model: `${MODEL_SOURCE_MOUNT}/${pvc[3]}`,
      secretEnv: [],
      volumes: [{ name: VOLUME, persistentVolumeClaim: { claimName: pvc[1], readOnly: true } }],
      volumeMounts: [{ name: VOLUME, mountPath: MODEL_SOURCE_MOUNT, readOnly: true }],
    };
  }
  const oci = new RegExp(OCI_URI).exec(model.uri);
  if (oci) {
    return {
      model: `${MODEL_SOURCE_MOUNT}/${model.oci?.file ?? DEFAULT_OCI_FILE}`,
      secretEnv: [],
      volumes: [{ name: VOLUME, image: { reference: oci[1], ...(model.oci?.pullPolicy ? { pullPolicy: model.oci.pullPolicy } : {}) } }],
      volumeMounts: [{ name: VOLUME, mountPath: MODEL_SOURCE_MOUNT, readOnly: true }],
    };
  }
  if (model.uri.startsWith('s3://')) {
    const { endpoint, region, pathStyle, credentialsSecretName } = model.s3 ?? {};
    return {
      ...none,
      model: model.uri,
      s3Endpoint: endpoint,
      s3Region: region,
      s3PathStyle: pathStyle,
      secretEnv: credentialsSecretName
        ? ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'].map((name) => fromSecret(name, credentialsSecretName, name))
        : [],
    };
  }
  const headers = model.headersSecretRef;
  return {
    ...none,
    model: model.uri,
    secretEnv: headers ? [fromSecret(envName('downloadHeaders'), headers.name, headers.key)] : [],
  };
}

/** Where a baseline on a claim other than the model's is mounted. */
const BASELINE_MOUNT = OPERATOR_VOLUMES['baseline-source'];
const BASELINE_VOLUME: keyof typeof OPERATOR_VOLUMES = 'baseline-source';

export interface BaselineSource {
  /** What the server is given as --baseline. */
  baseline: string;
  volumes: Array<Record<string, unknown>>;
  volumeMounts: Array<Record<string, unknown>>;
}

/**
 * spec.monitoring.baseline's file. A URI the server fetches (http(s), s3, file, a path) is passed as it is,
 * with the model's download settings; on the model's own claim it is a path in the model's mount; on
 * another claim that claim is mounted read-only beside it.
 */
export function baselineSource(uri: string, model: ModelDeployment['spec']['model']): BaselineSource {
  const pvc = new RegExp(PVC_URI).exec(uri);
  if (!pvc) return { baseline: uri, volumes: [], volumeMounts: [] };
  const modelClaim = new RegExp(PVC_URI).exec(model.uri)?.[1];
  if (pvc[1] === modelClaim) return { baseline: `${MODEL_SOURCE_MOUNT}/${pvc[3]}`, volumes: [], volumeMounts: [] };
  return {
    baseline: `${BASELINE_MOUNT}/${pvc[3]}`,
    volumes: [{ name: BASELINE_VOLUME, persistentVolumeClaim: { claimName: pvc[1], readOnly: true } }],
    volumeMounts: [{ name: BASELINE_VOLUME, mountPath: BASELINE_MOUNT, readOnly: true }],
  };
}
