// Names, labels and ownership of the objects rendered for a ModelDeployment.
import { createHash } from 'node:crypto';
import type { ModelDeployment } from '../api/types.ts';

export const MANAGER = 'modelship';

/** A DNS-1035 label (Services need one): lower case, alphanumerics and '-', at most 63, starting with a letter. */
export function dnsLabel(...parts: string[]): string {
  const joined = parts.join('-').toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/-+/g, '-').replace(/^-+|-+$/g, '');
  let name = /^[a-z]/.test(joined) ? joined : `m-${joined}`;
  if (name.length > 63) {
    // Keep it unique when truncating: the hash of the full name replaces the tail.
    const hash = createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 8);
    name = `${name.slice(0, 54).replace(/-+$/, '')}-${hash}`;
  }
  return name;
}

/** A label value: at most 63 of [A-Za-z0-9._-], starting and ending alphanumeric (may start with a digit). */
export function labelValue(value: string): string {
  return value.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 63).replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
}

/** Objects of one model version: `<deployment>-<version>`. */
export const versionedName = (mdep: ModelDeployment, version = mdep.spec.model.version) => dnsLabel(mdep.metadata.name, version);

export function selectorLabels(mdep: ModelDeployment, version = mdep.spec.model.version): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'modelship-server',
    'app.kubernetes.io/instance': mdep.metadata.name,
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
