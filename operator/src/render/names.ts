// Names, labels and ownership of the objects rendered for a ModelDeployment.
//
// Object names. Every name is derived from a tuple of parts: the router's objects (and the HTTPRoute) from
// (ModelDeployment name), a model version's objects from (ModelDeployment name, version). Two different
// tuples never get the same name, whatever their lengths, so in one namespace `a` version `b-c` and `a-b`
// version `c`, `p` version `q` and the router of `p-q`, versions `1.0` and `1_0`, `V1` and `v1` all differ:
// - plain: when every part is a plain token (lower-case letters and digits in runs joined by single
//   hyphens, the first part starting with a letter, no part shaped like a hash segment) and the result
//   fits, the parts joined with "--": `ranker` (the router), `ranker--v7` (a version). No plain token
//   contains "--", so the parts can be read back from the name.
// - hashed: otherwise a readable prefix (the parts lower-cased, other characters turned into "-", cut to
//   fit), then "--h" and 10 hex digits of the SHA-256 of the exact parts: `ranker--v1-0--hfb1f37e432`.
//   A hashed name's last "--" segment is hash-shaped, which a plain name's never is: the two never meet.
// All names are DNS-1035 labels of at most 63 characters (what a Service needs); `kubectl get` still
// shows the model and the version. Label values follow the same idea (see labelValue).
import { createHash } from 'node:crypto';
import type { ModelDeployment } from '../api/types.ts';

export const MANAGER = 'modelship';

const MAX_LABEL = 63;
const PLAIN_TOKEN = /^[a-z0-9]+(-[a-z0-9]+)*$/;
/** "h" and 10 hex digits: 40 bits, so two given tuples share one with odds of 1 in 10^12. */
const HASH_SEGMENT = /^h[0-9a-f]{10}$/;
const HASH_SEGMENT_CHARS = 11;

function hashSegment(parts: string[]): string {
  return `h${createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, HASH_SEGMENT_CHARS - 1)}`;
}

const isPlain = (part: string, first: boolean) => PLAIN_TOKEN.test(part) && !HASH_SEGMENT.test(part) && (!first || /^[a-z]/.test(part));

/** The name of the object made from `parts`: a DNS-1035 label of at most maxLength characters, one per tuple. */
export function objectName(parts: string[], maxLength = MAX_LABEL): string {
  const plain = parts.join('--');
  if (parts.length > 0 && parts.every((part, i) => isPlain(part, i === 0)) && plain.length <= maxLength) return plain;
  let prefix = parts.map((part) => part.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')).filter((p) => p !== '').join('--');
  if (!/^[a-z]/.test(prefix)) prefix = `m-${prefix}`;
  prefix = prefix.slice(0, maxLength - HASH_SEGMENT_CHARS - 2).replace(/-+$/, '');
  return `${prefix}--${hashSegment(parts)}`;
}

const VALID_LABEL_VALUE = /^([A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?)?$/;
const HASHED_LABEL_VALUE = /--h[0-9a-f]{10}$/;

/**
 * A label value standing for `value` alone: the value itself when it is a valid label value (at most 63 of
 * [A-Za-z0-9._-], alphanumeric at both ends), else a readable prefix, "--h" and a hash of it. Values that
 * already end like a hashed one are hashed too, so a value and another's replacement never meet: two
 * versions' selectors never overlap.
 */
export function labelValue(value: string): string {
  if (value.length <= MAX_LABEL && VALID_LABEL_VALUE.test(value) && !HASHED_LABEL_VALUE.test(value)) return value;
  const prefix = value.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, MAX_LABEL - HASH_SEGMENT_CHARS - 2).replace(/[^A-Za-z0-9]+$/, '');
  return `${prefix || 'x'}--${hashSegment([value])}`;
}

/** Objects of one model version (Deployment, Service, PDB, autoscaler): `<deployment>--<version>`. */
export const versionedName = (mdep: ModelDeployment, version = mdep.spec.model.version) => objectName([mdep.metadata.name, version]);

/**
 * Versions whose objects or pod labels would be the same, as a sentence, or undefined: such versions
 * cannot run side by side, so the reconciler refuses to start the second one. The naming above makes
 * this a hash collision (odds of 1 in 10^12); the check makes it a refusal instead of a takeover.
 */
export function versionNameClash(mdep: ModelDeployment, versions: string[]): string | undefined {
  const distinct = [...new Set(versions)];
  for (let i = 0; i < distinct.length; i++) {
    for (let j = i + 1; j < distinct.length; j++) {
      const [a, b] = [distinct[i], distinct[j]];
      if (versionedName(mdep, a) === versionedName(mdep, b)) return `versions ${a} and ${b} would share the objects named ${versionedName(mdep, a)}`;
      if (labelValue(a) === labelValue(b)) return `versions ${a} and ${b} would share the pod label serving.modelship.dev/version=${labelValue(a)}`;
    }
  }
  return undefined;
}

/** The app.kubernetes.io/instance label: the ModelDeployment's name (a subdomain of up to 253 characters) as a label value. */
export const instanceLabel = (mdep: ModelDeployment) => labelValue(mdep.metadata.name);

export function selectorLabels(mdep: ModelDeployment, version = mdep.spec.model.version): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'modelship-server',
    'app.kubernetes.io/instance': instanceLabel(mdep),
    'serving.modelship.dev/version': labelValue(version),
  };
}

export function objectLabels(mdep: ModelDeployment, version = mdep.spec.model.version): Record<string, string> {
  return { ...selectorLabels(mdep, version), 'app.kubernetes.io/managed-by': MANAGER, 'app.kubernetes.io/component': 'model-server' };
}

/** Makes the ModelDeployment the controller of an object, so deleting it garbage-collects everything. */
export function ownerReference(mdep: ModelDeployment): Record<string, unknown> {
  return {
    apiVersion: mdep.apiVersion,
    kind: mdep.kind,
    name: mdep.metadata.name,
    uid: mdep.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function objectMeta(mdep: ModelDeployment, name: string, version?: string): Record<string, unknown> {
  return {
    name,
    namespace: mdep.metadata.namespace ?? 'default',
    labels: objectLabels(mdep, version),
    ownerReferences: [ownerReference(mdep)],
  };
}
