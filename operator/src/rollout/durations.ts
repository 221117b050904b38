// Go-style durations (30s, 5m, 1h30m), as Flagger and Argo Rollouts users write them in spec.rollout.
import { DURATION_PATTERN } from '../../api/v1alpha1/schema.ts';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDuration(text: string): number {
  if (!new RegExp(DURATION_PATTERN).test(text)) throw new Error(`'${text}' is not a duration such as 30s, 5m or 1h30m`);
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/([0-9]+)(ms|s|m|h)/g)) total += Number(amount) * UNIT_MS[unit];
  return total;
}

/** The shortest of the usual spellings, for messages: 90000 → 1m30s. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.round(ms / 1000);
  const parts = [[Math.floor(s / 3600), 'h'], [Math.floor((s % 3600) / 60), 'm'], [s % 60, 's']] as const;
  return parts.filter(([n]) => n > 0).map(([n, u]) => `${n}${u}`).join('') || '0s';
}
