// Whose an object is: the operator changes or deletes only objects whose controller owner reference is
// the ModelDeployment at hand (by uid, so a deleted and recreated namesake is another owner). Anything
// else that holds a name it wants is a conflict to report, never an object to take over. Pure.

type Obj = { kind?: string; metadata?: { name?: string; ownerReferences?: Array<{ kind?: string; name?: string; uid?: string; controller?: boolean }> } };

export const isControlledBy = (object: Obj, uid: string | undefined): boolean =>
  uid !== undefined && uid !== '' && (object.metadata?.ownerReferences ?? []).some((r) => r.controller === true && r.uid === uid);

/**
 * Why an existing object is not the owner's with `uid` to change, naming the object and who controls it
 * (`Deployment/ranker--v7 already exists, owned by ModelDeployment/other` or `..., with no owner`), or
 * undefined when it is.
 */
export function ownershipConflict(object: Obj, uid: string | undefined): string | undefined {
  if (isControlledBy(object, uid)) return undefined;
  const owner = object.metadata?.ownerReferences?.find((r) => r.controller === true);
  return `${object.kind}/${object.metadata?.name} already exists, ${owner ? `owned by ${owner.kind}/${owner.name}` : 'with no owner'}`;
}
