// A budget of work per second (a token bucket): what drift counting and prediction logging may spend, so that
// their CPU stays fixed however many requests a server answers. Past the budget the work is left undone
// (a sample in time), and the caller counts what it left.

export class RateBudget {
  private readonly perSecond: number;
  private readonly now: () => number;
  /** Units left, refilled at perSecond up to one second's worth. */
  private units: number;
  private at: number;

  /** `perSecond` 0 (or less): no limit. `now` in milliseconds. */
  constructor(perSecond: number, now: () => number = Date.now) {
    this.perSecond = perSecond;
    this.now = now;
    this.units = perSecond;
    this.at = now();
  }

  /** Takes `units` when the budget holds them; false (and nothing taken) when it does not. */
  take(units: number): boolean {
    if (this.perSecond <= 0) return true;
    const now = this.now();
    this.units = Math.min(this.perSecond, this.units + ((now - this.at) / 1000) * this.perSecond);
    this.at = now;
    if (this.units < units) return false;
    this.units -= units;
    return true;
  }
}
