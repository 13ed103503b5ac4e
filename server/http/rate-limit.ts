// Per-source token buckets at the aggregator's edge. A source is a network address, not a
// shopper: nothing here outlives a full bucket, and a source whose bucket refilled is forgotten.
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  /** `perMinute` tokens refill per minute, up to `burst` */
  constructor(private readonly perMinute: number, private readonly burst: number, private readonly clock: () => number = Date.now) {}

  get unlimited(): boolean {
    return !Number.isFinite(this.perMinute) || !Number.isFinite(this.burst);
  }

  /** Takes one token from `source`; returns 0 if it had one, else seconds until it will. */
  take(source: string): number {
    if (this.unlimited) return 0;
    const now = this.clock();
    const rate = this.perMinute / 60_000;
    const b = this.buckets.get(source) ?? { tokens: this.burst, at: now };
    b.tokens = Math.min(this.burst, b.tokens + (now - b.at) * rate);
    b.at = now;
    if (b.tokens < 1) {
      this.buckets.set(source, b);
      return Math.ceil((1 - b.tokens) / rate / 1000);
    }
    b.tokens -= 1;
    this.buckets.set(source, b);
    if (this.buckets.size > 10_000) this.forgetFull(now, rate);
    return 0;
  }

  private forgetFull(now: number, rate: number): void {
    for (const [k, b] of this.buckets) if (b.tokens + (now - b.at) * rate >= this.burst) this.buckets.delete(k);
  }
}

/** How many tasks each source holds in the current round; reset when the round changes. */
export class RoundQuota {
  private roundId = -1;
  private readonly held = new Map<string, number>();
  constructor(private readonly perSource: number) {}
  /** true (and counted) if `source` may take one more task in `roundId` */
  take(roundId: number, source: string): boolean {
    if (!Number.isFinite(this.perSource)) return true;
    if (roundId !== this.roundId) {
      this.roundId = roundId;
      this.held.clear();
    }
    const n = this.held.get(source) ?? 0;
    if (n >= this.perSource) return false;
    this.held.set(source, n + 1);
    return true;
  }
  /** gives back a place taken for a task that was not issued after all */
  release(roundId: number, source: string): void {
    const n = this.held.get(source);
    if (roundId === this.roundId && n) this.held.set(source, n - 1);
  }
}
