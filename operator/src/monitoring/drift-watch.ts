// Reads the drift of a ModelDeployment's stable version from its pods, at most once per check interval:
// reconciles come and go (watch events, rollout checks), the pods are asked when a reading is due, and the
// reading in between is the last one. One entry per ModelDeployment, dropped when it is deleted.
import type { ModelDeployment } from '../api/types.ts';
import { columnDrift, type DriftReading } from './drift-judgement.ts';
import { DEFAULT_SCRAPE_LIMITS, scrapeText, type ScrapeLimits } from './scrape.ts';

export type ServerMetricsUrls = (mdep: ModelDeployment, version: string) => Promise<string[]>;

const key = (mdep: Pick<ModelDeployment, 'metadata'>) => `${mdep.metadata.namespace ?? 'default'}/${mdep.metadata.name}`;

export class DriftWatch {
  private readonly readings = new Map<string, { at: number; version: string; reading: DriftReading }>();
  private readonly urls: ServerMetricsUrls;
  private readonly limits: ScrapeLimits;

  constructor(urls: ServerMetricsUrls, limits: ScrapeLimits = DEFAULT_SCRAPE_LIMITS) {
    this.urls = urls;
    this.limits = limits;
  }

  /** The reading of `version`'s pods, asked again once `intervalMs` has passed since the last one. */
  async read(mdep: ModelDeployment, version: string, now: number, intervalMs: number): Promise<DriftReading> {
    const last = this.readings.get(key(mdep));
    if (last && last.version === version && now - last.at < intervalMs) return last.reading;
    const reading = await this.measure(mdep, version);
    this.readings.set(key(mdep), { at: now, version, reading });
    return reading;
  }

  forget(mdep: Pick<ModelDeployment, 'metadata'>): void {
    this.readings.delete(key(mdep));
  }

  private async measure(mdep: ModelDeployment, version: string): Promise<DriftReading> {
    let urls: string[];
    try {
      urls = await this.urls(mdep, version);
    } catch (error) {
      return { kind: 'unavailable', version, reason: `cannot list its pods: ${(error as Error).message}` };
    }
    if (urls.length === 0) return { kind: 'unavailable', version, reason: 'no ready pod' };
    // A pod that cannot be read now leaves the others' numbers standing; none readable is no reading.
    const texts = (await Promise.allSettled(urls.map((url) => scrapeText(url, this.limits))));
    const read = texts.flatMap((t) => (t.status === 'fulfilled' ? [t.value] : []));
    if (read.length === 0) {
      const first = texts.find((t): t is PromiseRejectedResult => t.status === 'rejected');
      return { kind: 'unavailable', version, reason: (first?.reason as Error | undefined)?.message ?? 'no pod answered' };
    }
    return { kind: 'measured', version, pods: read.length, columns: columnDrift(read) };
  }
}
