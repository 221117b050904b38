// Server-side apply under one field manager, skipping the write when the live object already carries the
// hash of exactly what we would apply: a no-op reconcile makes no writes at all.
import { createHash } from 'node:crypto';
import { KubernetesObjectApi, PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import { isNotFound } from './api-errors.ts';

export const FIELD_MANAGER = 'modelship-operator';
export const APPLIED_HASH = 'serving.modelship.dev/applied-hash';

type Obj = Record<string, any>;

export function appliedHash(object: Obj): string {
  return createHash('sha256').update(JSON.stringify(object)).digest('hex').slice(0, 16);
}

/** The object with the hash of its own content recorded in an annotation. */
export function withHash(object: Obj): Obj {
  const hash = appliedHash(object);
  return { ...object, metadata: { ...object.metadata, annotations: { ...object.metadata.annotations, [APPLIED_HASH]: hash } } };
}

export interface ApplyResult {
  object: Obj;
  written: boolean;
}

export async function applyIfChanged(api: KubernetesObjectApi, desired: Obj): Promise<ApplyResult> {
  const stamped = withHash(desired);
  let live: Obj | undefined;
  try {
    live = await api.read(desired as { apiVersion: string; kind: string; metadata: { name: string; namespace: string } }) as Obj;
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  if (live?.metadata?.annotations?.[APPLIED_HASH] === stamped.metadata.annotations[APPLIED_HASH]) return { object: live!, written: false };
  // force: we are the one manager of these fields; another writer's change to them is drift to undo.
  const object = await api.patch(stamped as KubernetesObject, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply) as Obj;
  return { object, written: true };
}
