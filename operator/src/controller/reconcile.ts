// One reconcile of one ModelDeployment, in three steps: observe (observe.ts: read it and what exists into
// plain data), decide (decide.ts: pure — the rollout's next state, the desired objects, status, Events,
// when to look again), act (act.ts: apply, prune, write status and Events, only what changed).
// Level-triggered and idempotent: run it any number of times.
import { act, type Actor, type ReconcileResult } from './act.ts';
import { decide } from './decide.ts';
import { observe, type Observer } from './observe.ts';

export type Reconciler = Observer & Actor;

export async function reconcile(r: Reconciler, namespace: string, name: string): Promise<ReconcileResult> {
  const observation = await observe(r, namespace, name);
  if (!observation) return { writes: 0, found: false };
  return act(r, observation, decide(observation, r.settings));
}
