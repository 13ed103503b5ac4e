import { describe, expect, it } from 'vitest';
import { leaveOneOut, fullRank, sampledRank, MetricAccumulator, evaluate, sampleNegatives, mulberry32, ndcgAtRank, pairedBootstrapRatio, bootstrapMean } from '../../models/metrics.ts';
import { distinctItemCounts, PopularityModel, TransitionModel } from '../../models/baselines.ts';

describe('leaveOneOut', () => {
  it('holds out the last item for test and the second-to-last for validation', () => {
    const split = leaveOneOut([[1, 2, 3, 4], [5, 6]]);
    expect(split.train).toEqual([[1, 2], [5, 6]]);
    expect(split.validation).toEqual([{ history: [1, 2], target: 3 }]);
    expect(split.test).toEqual([{ history: [1, 2, 3], target: 4 }]);
  });
});

describe('ranking', () => {
  // scores indexed by item; item 0 is padding
  const scores = [99, 0.9, 0.5, 0.7, 0.1, 0.8];

  it('counts the items scoring above the target, skipping history items', () => {
    expect(fullRank(scores, 2, new Set())).toBe(3); // 0.9, 0.7, 0.8 beat 0.5
    expect(fullRank(scores, 2, new Set([1, 5]))).toBe(1); // only 0.7 left above
    expect(fullRank(scores, 1, new Set([1]))).toBe(0); // the target always competes
  });

  it('splits ties evenly (rounded down) so constant scores are not rewarded', () => {
    expect(fullRank([0, 1, 1, 1, 1, 1], 3, new Set())).toBe(2); // 4 ties → 2
  });

  it('reads a batch row through offset', () => {
    const batch = [0, 1, 2, 3, /* row 1 */ 0, 3, 2, 1];
    expect(fullRank(batch, 1, new Set(), 4, 4)).toBe(0);
    expect(fullRank(batch, 1, new Set(), 0, 4)).toBe(2);
  });

  it('ranks against sampled negatives only', () => {
    expect(sampledRank(scores, 2, [4, 3])).toBe(1);
  });
});

describe('MetricAccumulator', () => {
  it('matches hand-computed HR, NDCG and MRR', () => {
    const acc = new MetricAccumulator();
    acc.add(0); // NDCG 1, RR 1
    acc.add(2); // NDCG 1/log2(4) = 0.5, RR 1/3
    acc.add(7); // hit at 10 and 20 only: NDCG 1/log2(9), RR 1/8
    acc.add(30); // miss everywhere
    const m = acc.result();
    expect(m['HR@5']).toBeCloseTo(2 / 4);
    expect(m['HR@10']).toBeCloseTo(3 / 4);
    expect(m['HR@20']).toBeCloseTo(3 / 4);
    expect(m['NDCG@5']).toBeCloseTo((1 + 0.5) / 4);
    expect(m['NDCG@10']).toBeCloseTo((1 + 0.5 + 1 / Math.log2(9)) / 4);
    expect(m.MRR).toBeCloseTo((1 + 1 / 3 + 1 / 8 + 1 / 31) / 4);
  });
});

describe('sampleNegatives', () => {
  it('draws distinct items outside the history and never the target', () => {
    const negs = sampleNegatives(mulberry32(1), 12, 8, 3, new Set([1, 2]));
    expect(new Set(negs).size).toBe(8);
    for (const j of negs) {
      expect(j).toBeGreaterThanOrEqual(1);
      expect(j).toBeLessThan(12);
      expect([1, 2, 3]).not.toContain(j);
    }
  });
});

describe('evaluate', () => {
  it('scores a perfect model at 1 and an adversarial one at 0 on HR@10', async () => {
    const numItems = 201;
    const cases = [{ history: [5, 6], target: 7 }, { history: [8], target: 9 }];
    const targetOf = (history: number[]) => cases.find((c) => c.history[0] === history[0])!.target;
    const perfect = (h: number[][]) => {
      const out = new Float32Array(h.length * numItems);
      h.forEach((history, b) => (out[b * numItems + targetOf(history)] = 1));
      return out;
    };
    const worst = (h: number[][]) => {
      const out = new Float32Array(h.length * numItems).fill(1);
      h.forEach((history, b) => (out[b * numItems + targetOf(history)] = 0));
      return out;
    };
    const good = await evaluate(cases, numItems, perfect, { batchSize: 1 });
    expect(good.full['HR@10']).toBe(1);
    expect(good.full['NDCG@10']).toBe(1);
    expect(good.sampled['HR@10']).toBe(1);
    const bad = await evaluate(cases, numItems, worst);
    expect(bad.full['HR@20']).toBe(0);
    expect(bad.sampled['HR@20']).toBe(0);
    // per case, in order: every other valid item (200, less the history) scores above the target
    expect([...good.fullRanks]).toEqual([0, 0]);
    expect([...bad.fullRanks]).toEqual([200 - 2 - 1, 200 - 1 - 1]);
    expect(ndcgAtRank(0)).toBe(1);
    expect(ndcgAtRank(2)).toBeCloseTo(0.5);
    expect(ndcgAtRank(10)).toBe(0);
  });
});

describe('pairedBootstrapRatio', () => {
  it('is exact when one sample is a multiple of the other (every resample has the same ratio)', () => {
    const reference = Float64Array.from({ length: 300 }, (_, i) => (i % 7) / 7);
    const half = reference.map((x) => x / 2);
    const r = pairedBootstrapRatio(half, reference, { resamples: 200 });
    expect(r.ratio).toBeCloseTo(0.5, 12);
    expect(r.low).toBeCloseTo(0.5, 12);
    expect(r.high).toBeCloseTo(0.5, 12);
  });

  it('matches the delta-method interval on a large sample of hit/miss scores', () => {
    // NDCG-like data: most users score 0; the candidate shares many hits with the reference
    const rand = mulberry32(3);
    const n = 20_000;
    const reference = new Float64Array(n);
    const candidate = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const u = rand();
      reference[i] = u < 0.04 ? ndcgAtRank(Math.floor(rand() * 10)) : 0;
      candidate[i] = u < 0.025 ? reference[i] : u > 0.99 ? ndcgAtRank(Math.floor(rand() * 10)) : 0;
    }
    const mean = (xs: Float64Array) => xs.reduce((a, x) => a + x, 0) / n;
    const ratio = mean(candidate) / mean(reference);
    // Var(Ā/B̄) ≈ Var(A − R·B) / (n · B̄²)
    const residual = candidate.map((a, i) => a - ratio * reference[i]);
    const se = Math.sqrt(mean(residual.map((x) => x * x)) / n) / mean(reference);
    const r = pairedBootstrapRatio(candidate, reference, { resamples: 2000, seed: 5 });
    expect(r.ratio).toBeCloseTo(ratio, 12);
    expect(r.low).toBeLessThan(ratio);
    expect(r.high).toBeGreaterThan(ratio);
    expect(Math.abs((r.high - r.low) / 2 - 1.96 * se)).toBeLessThan(0.1 * 1.96 * se);
  });

  it('refuses samples of different sizes', () => {
    expect(() => pairedBootstrapRatio([1, 2], [1])).toThrow(/equal/);
  });
});

describe('bootstrapMean', () => {
  it('is exact for a constant sample', () => {
    const r = bootstrapMean(new Float64Array(50).fill(0.25), { resamples: 100 });
    expect(r).toEqual({ mean: 0.25, low: 0.25, high: 0.25, level: 0.95 });
  });

  it('matches the normal interval of a hit rate (binomial standard error)', () => {
    // 6,000 users, 30% hits: se = sqrt(p(1-p)/n) = 0.00592, so ±1.96 se = ±0.0116
    const rand = mulberry32(11);
    const hits = Float64Array.from({ length: 6000 }, () => (rand() < 0.3 ? 1 : 0));
    const p = hits.reduce((a, x) => a + x, 0) / hits.length;
    const se = Math.sqrt((p * (1 - p)) / hits.length);
    const r = bootstrapMean(hits, { resamples: 2000, seed: 2 });
    expect(r.mean).toBeCloseTo(p, 12);
    expect(r.low).toBeLessThan(p);
    expect(r.high).toBeGreaterThan(p);
    expect(Math.abs((r.high - r.low) / 2 - 1.96 * se)).toBeLessThan(0.1 * 1.96 * se);
  });

  it('refuses an empty sample', () => {
    expect(() => bootstrapMean([])).toThrow(/non-empty/);
  });
});

describe('baselines', () => {
  const train = [[1, 2, 3], [1, 2], [4, 2], [3, 1]];

  it('popularity ranks by training counts and never recommends padding', () => {
    const pop = new PopularityModel(train, 5);
    const s = pop.score([[4]]);
    expect(fullRank(s, 2, new Set())).toBe(0); // item 2 seen 3 times
    expect(s[0]).toBe(-Infinity);
  });

  it('distinct item counts bound each user to their most recent maxItems items, once each', () => {
    const counts = distinctItemCounts([[1, 1, 1, 2, 3], [4, 2, 4]], 5, 2);
    // user 1 counts 3 and 2 (most recent distinct), not 1; user 2 counts 4 and 2 once each
    expect([...counts]).toEqual([0, 0, 2, 1, 1]);
  });

  it('item-to-item follows the last item', () => {
    const t = new TransitionModel(train, 5, 1);
    const s = t.score([[3]]); // 3 was followed by 1 once
    expect(fullRank(s, 1, new Set([3]))).toBe(0);
    const after4 = t.score([[4]]); // 4 → 2
    expect(fullRank(after4, 2, new Set([4]))).toBe(0);
  });
});
