// The membership-inference runs the benchmark reports: the shipped ε (and any others asked
// for), a typical target (the demo shopper's items) and a worst-case one (maxItems buckets),
// seen by one curious aggregator (its own noise removed) and by an outsider (both noises).
import { popularityBucket } from '../../federated/popularity.ts';
import { type MembershipResult, membershipAttack } from './membership.ts';
import type { ShopperSet } from './shoppers.ts';

export interface MembershipRunOptions {
  epsilons: readonly number[];
  delta: number;
  maxItems: number;
  itemsEach: number;
  trials: number;
  shippedEpsilon: number;
  /** the server's z for the shipped ε (server/deployment.ts) */
  shippedNoise: number;
  cohort: ShopperSet;
  buckets: number;
  noiseForEpsilon: (q: number, steps: number, epsilon: number, delta: number) => number;
}

/** The cohort's counts on a target's buckets: the part of the release the attacker knows. */
function cohortCounts(cohort: ShopperSet, buckets: number, targetBuckets: number): number[] {
  const counts = new Map<number, number>();
  for (const items of cohort.shoppers.slice(1)) for (const key of new Set(items)) {
    const b = popularityBucket(key, buckets);
    counts.set(b, (counts.get(b) ?? 0) + 1);
  }
  const target = [...new Set(cohort.shoppers[0].map((key) => popularityBucket(key, buckets)))];
  return Array.from({ length: targetBuckets }, (_, i) => counts.get(target[i % target.length]) ?? 0);
}

export function runMembership(o: MembershipRunOptions): { label: string; result: MembershipResult }[] {
  const runs: { label: string; result: MembershipResult }[] = [];
  for (const epsilon of o.epsilons) {
    const z = epsilon === o.shippedEpsilon ? o.shippedNoise : o.noiseForEpsilon(1, 1, epsilon, o.delta);
    const views: [string, number, 1 | 2][] = [
      [`one aggregator's view, ${o.itemsEach}-item shopper`, Math.min(o.itemsEach, o.maxItems), 1],
      [`one aggregator's view, ${o.maxItems}-item shopper (worst case)`, o.maxItems, 1],
      [`outsider (both noises), ${o.maxItems}-item shopper`, o.maxItems, 2],
    ];
    for (const [label, targetBuckets, noiseShares] of views) {
      const result = membershipAttack({
        epsilon, delta: o.delta, noiseMultiplier: z, maxItems: o.maxItems, targetBuckets, trials: o.trials, noiseShares,
        cohortCounts: cohortCounts(o.cohort, o.buckets, targetBuckets),
      });
      runs.push({ label, result });
    }
  }
  return runs;
}
