// Server-side apply under one field manager, skipping the write when the live object already carries the
// hash of exactly what we would apply: a no-op reconcile makes no writes at all. An object that exists but
// is not controlled by the desired object's owner is never applied over: that is reported as a conflict.
import { createHash } from 'node:crypto';
import { KubernetesObjectApi, PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import { isNotFound } from './api-errors.ts';
import { ownershipConflict } from './ownership.ts';

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
  /** The object as applied, or the live one when it is another owner's. */
  object: Obj;
  written: boolean;
  /** Why the object was left alone: it exists and another owner (or none) controls it. */
  conflict?: string;
}

/**
 * Live objects as the controller's informers last saw them: the object, undefined when it is absent, or
 * 'uncached' when its kind is not watched (or not listed yet), which reads it from the API instead.
 */
export type LiveLookup = (apiVersion: string, kind: string, namespace: string, name: string) => Obj | undefined | 'uncached';

/** What this process last applied to each object, for when the informer cache has not seen it yet. */
export type AppliedMemo = Map<string, { hash: string; resourceVersion: string; object: Obj }>;

export const objectKey = (apiVersion: string, kind: string, namespace: string, name: string) => `${apiVersion}/${kind}/${namespace}/${name}`;

/** Whether resourceVersion a is later than b (etcd revisions; opaque strings compare as "not later"). */
function later(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && /^\d+$/.test(a) && /^\d+$/.test(b) && BigInt(a) > BigInt(b);
}

export async function applyIfChanged(api: KubernetesObjectApi, desired: Obj, cache?: { lookup: LiveLookup; memo: AppliedMemo }): Promise<ApplyResult> {
  const stamped = withHash(desired);
  const hash = stamped.metadata.annotations[APPLIED_HASH] as string;
  const { apiVersion, kind } = desired;
  const { namespace, name } = desired.metadata;
  const key = objectKey(apiVersion, kind, namespace, name);
  const cached = cache?.lookup(apiVersion, kind, namespace, name) ?? 'uncached';
  if (cached !== 'uncached') {
    // The cache may not have seen our last write yet: trust it unless the cache shows a later change.
    const mine = cache!.memo.get(key);
    if (mine?.hash === hash && (cached === undefined || !later(cached.metadata?.resourceVersion, mine.resourceVersion))) {
      return { object: cached && cached.metadata?.resourceVersion === mine.resourceVersion ? cached : mine.object, written: false };
    }
  }
  // The informers see only objects labelled as ours: one they do not have may still exist, someone else's.
  let live: Obj | undefined = cached === 'uncached' || cached === undefined ? undefined : cached;
  if (live === undefined) {
    try {
      live = await api.read(desired as { apiVersion: string; kind: string; metadata: { name: string; namespace: string } }) as Obj;
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
  const owner = (desired.metadata.ownerReferences as Obj[] | undefined)?.find((r) => r.controller === true);
  const conflict = live && ownershipConflict(live, owner?.uid);
  if (conflict) return { object: live!, written: false, conflict };
  // One the informers miss though it is ours lost the labels they select by: apply it again to restore them.
  const unlabelled = cached === undefined && live !== undefined;
  if (!unlabelled && live?.metadata?.annotations?.[APPLIED_HASH] === hash) return { object: live!, written: false };
  // force: we are the one manager of these fields; another writer's change to them is drift to undo.
  const object = await api.patch(stamped as KubernetesObject, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply) as Obj;
  cache?.memo.set(key, { hash, resourceVersion: object.metadata?.resourceVersion, object });
  return { object, written: true };
}
