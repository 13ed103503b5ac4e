// The popularity prior's client side: what a shopper uploads for a popularity round
// (federated/popularity.ts) and how the recommender uses the released counts.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { PopularityPrior, popularityBucket, popularityIndicator, popularitySummary, recentDistinct } from '../../federated/popularity.ts';
import type { RoundTask } from '../../federated/protocol.ts';
import { decodeSummary, gaussian, l2Norm } from '../../federated/summary.ts';
import { mulberry32 } from '../../models/metrics.ts';
import { Recommender, type HistoryEntry } from '../../workers/recommender.ts';
import type { CatalogItem } from '../../src/catalog.ts';

const BUCKETS = 65536;

/** A popularity task as the aggregator hands it out (server/aggregator.ts popularityRound). */
function popularityTask(overrides: Partial<RoundTask> = {}): RoundTask {
  return {
    kind: 'popularity', roundId: 7, modelVersion: 3, length: BUCKETS, maxItems: 4, epochs: 0, learningRate: 0, batchSize: 1,
    optimizer: 'sgd', clipNorm: 2, clientNoiseStd: 0, bits: 8, scale: 1, deadline: Date.now() + 60_000, ...overrides,
  };
}

describe('popularity summary', () => {
  it('puts an item in one fixed bucket within range', () => {
    for (const key of ['BEA-0001', 'SHO-0042', '', 'ü-ñicode-✓']) {
      for (const buckets of [1, 7, 1024, BUCKETS]) {
        const b = popularityBucket(key, buckets);
        expect(Number.isInteger(b)).toBe(true);
        expect(b).toBeGreaterThanOrEqual(0);
        expect(b).toBeLessThan(buckets);
        expect(popularityBucket(key, buckets)).toBe(b);
      }
    }
    // different items spread over the buckets (not all in one)
    const spread = new Set(Array.from({ length: 100 }, (_, i) => popularityBucket(`item-${i}`, BUCKETS)));
    expect(spread.size).toBeGreaterThan(95);
  });

  it('takes the most recent distinct items, most recent first, at most maxItems', () => {
    const sequence = ['a', 'b', 'c', 'b', 'd', 'a', 'a'];
    expect(recentDistinct(sequence, 3)).toEqual(['a', 'd', 'b']);
    expect(recentDistinct(sequence, 10)).toEqual(['a', 'd', 'b', 'c']);
    expect(recentDistinct(sequence, 0)).toEqual([]);
    expect(recentDistinct([], 5)).toEqual([]);
  });

  it('marks at most maxItems buckets with 1, so one shopper moves the sum by at most √maxItems', () => {
    const keys = Array.from({ length: 40 }, (_, i) => `item-${i % 25}`); // repeats
    for (const maxItems of [1, 5, 20, 30]) {
      const v = popularityIndicator(keys, BUCKETS, maxItems);
      const ones = v.reduce((n, x) => n + (x === 1 ? 1 : 0), 0);
      expect(v.every((x) => x === 0 || x === 1)).toBe(true);
      expect(ones).toBeLessThanOrEqual(maxItems);
      expect(l2Norm(v)).toBeLessThanOrEqual(Math.sqrt(maxItems));
      // exactly the buckets of the recent distinct items
      const expected = new Set(recentDistinct(keys, maxItems).map((k) => popularityBucket(k, BUCKETS)));
      expect(new Set([...v.keys()].filter((i) => v[i] === 1))).toEqual(expected);
    }
    // a shopper who looked at one item ten times counts once
    const repeated = popularityIndicator(Array(10).fill('only'), BUCKETS, 20);
    expect(repeated.reduce((n, x) => n + x, 0)).toBe(1);
    expect(repeated[popularityBucket('only', BUCKETS)]).toBe(1);
  });

  it("encodes exactly the indicator under the task's round and model version", () => {
    const keys = ['p', 'q', 'r', 'q', 's', 't', 't'];
    const task = popularityTask();
    const decoded = decodeSummary(popularitySummary(task, keys));
    expect(decoded).toMatchObject({ roundId: 7, modelVersion: 3, length: BUCKETS, bits: 8, scale: 1, withinClip: true });
    expect(decoded.ints).toEqual(popularityIndicator(keys, BUCKETS, 4));
    expect(Array.from(decoded.ints).reduce((n, x) => n + x, 0)).toBe(4); // t, s, q, r; p is the fifth most recent
  });

  it('refuses a model task, or one asking for another encoding', () => {
    expect(() => popularitySummary(popularityTask({ kind: 'model' }), ['a'])).toThrow(/not a popularity task/);
    expect(() => popularitySummary(popularityTask({ kind: undefined }), ['a'])).toThrow(/not a popularity task/);
    expect(() => popularitySummary(popularityTask({ maxItems: undefined }), ['a'])).toThrow(/not a popularity task/);
    expect(() => popularitySummary(popularityTask({ bits: 16 }), ['a'])).toThrow(/8-bit at scale 1/);
    expect(() => popularitySummary(popularityTask({ scale: 127 }), ['a'])).toThrow(/8-bit at scale 1/);
  });
});

describe('PopularityPrior', () => {
  it('boosts by weight · log(1 + count), and gives noise below zero nothing', () => {
    const counts = new Float32Array(1024);
    const set = (key: string, c: number) => (counts[popularityBucket(key, counts.length)] = c);
    set('hot', 99);
    set('warm', 3);
    set('cold', -2.5); // Gaussian noise on a zero count
    const prior = new PopularityPrior(counts, 0.5, 4);
    expect(prior.boost('hot')).toBeCloseTo(0.5 * Math.log(100), 6);
    expect(prior.boost('warm')).toBeCloseTo(0.5 * Math.log(4), 6);
    expect(prior.boost('cold')).toBe(0);
    expect(new PopularityPrior(counts, 0, 4).boost('hot')).toBe(0);
  });
});

describe('Recommender with a popularity prior', () => {
  const catalog: CatalogItem[] = Array.from({ length: 30 }, (_, i) => ({
    item_id: `it-${i}`, item_name: `Item ${i}`, item_category: `Cat${i % 3}`, price: 10 + i, in_stock: i !== 5,
  }));
  const small = { features: { idMode: 'hash' as const, idBuckets: 64, idHashes: 2, attrBuckets: 16, maxAttrs: 3 }, dim: 8, heads: 2, layers: 1, maxLen: 10, dropout: 0, negatives: 8 };
  const priorOf = (entries: [string, number][]) => {
    const counts = new Float32Array(BUCKETS);
    for (const [key, c] of entries) counts[popularityBucket(key, BUCKETS)] = c;
    return new PopularityPrior(counts, 0.5, 1);
  };

  it('cold start: ranks in-stock items by the prior, then the storefront order; without one, the storefront order', async () => {
    await tf.setBackend('cpu');
    const recommender = new Recommender(catalog, small);
    const storefront = (await recommender.recommend([], 4)).map((r) => r.item.item_id);
    expect(storefront).toEqual(['it-0', 'it-1', 'it-2', 'it-3']);
    recommender.setPopularity(priorOf([['it-20', 50], ['it-5', 900], ['it-11', 80], ['it-2', -3]]));
    const recs = await recommender.recommend([], 4, new Set(['it-0']));
    // it-5 is out of stock, it-0 excluded, it-2's negative count gives it nothing
    expect(recs.map((r) => r.item.item_id)).toEqual(['it-11', 'it-20', 'it-1', 'it-2']);
    expect(recs.map((r) => r.popular ?? false)).toEqual([true, true, false, false]);
    expect(recs[0].score).toBeCloseTo(0.5 * Math.log(81), 5);
    expect(recs[2].reason).toBe('Featured in Cat1'); // not claimed popular: the prior did not place it
    recommender.setPopularity(null);
    expect((await recommender.recommend([], 4)).map((r) => r.item.item_id)).toEqual(storefront);
    recommender.dispose();
  });

  it('cold start under a noisy release: calls popular only counts that stand clear of the noise', async () => {
    await tf.setBackend('cpu');
    const normal = gaussian(mulberry32(11));
    const counts = Float32Array.from({ length: BUCKETS }, () => normal()); // σ = 1 everywhere
    counts[popularityBucket('it-20', BUCKETS)] = 60;
    counts[popularityBucket('it-11', BUCKETS)] = 2.5; // within the noise's range
    const recommender = new Recommender(catalog, small);
    recommender.setPopularity(new PopularityPrior(counts, 0.5, 2));
    const recs = await recommender.recommend([], 5);
    expect(recs[0]).toMatchObject({ item: { item_id: 'it-20' }, popular: true, reason: 'Popular right now' });
    // the rest is ordered by the prior too, but not claimed popular
    expect(recs.slice(1).map((r) => r.popular ?? false)).toEqual([false, false, false, false]);
    expect(recs.slice(1).every((r) => r.reason.startsWith('Featured in'))).toBe(true);
    expect(recs.map((r) => r.score)).toEqual([...recs.map((r) => r.score)].sort((a, b) => b - a));
    recommender.dispose();
  });

  it("with history: each candidate's score is the model's plus the prior's boost", async () => {
    await tf.setBackend('cpu');
    const recommender = new Recommender(catalog, small);
    const history: HistoryEntry[] = [3, 8, 12].map((index, i) => ({ index, event: 'view_item', ts: i }));
    const all = catalog.length;
    const base = new Map((await recommender.recommend(history, all)).map((r) => [r.item.item_id, r.score]));
    const prior = priorOf([['it-20', 50], ['it-1', 7], ['it-7', 3000]]); // it-7 is in the history (index 8)
    recommender.setPopularity(prior);
    const boosted = await recommender.recommend(history, all);
    expect(boosted.map((r) => r.item.item_id).sort()).toEqual([...base.keys()].sort()); // same candidates: seen and out-of-stock still out
    expect(base.has('it-7')).toBe(false);
    for (const r of boosted) expect(r.score).toBeCloseTo(base.get(r.item.item_id)! + prior.boost(r.item.item_id), 4);
    expect(boosted[0].item.item_id).toBe('it-20'); // 0.5·log 51 ≈ 1.97 outweighs an untrained model's score spread
    recommender.dispose();
  });
});
