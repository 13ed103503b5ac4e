// Small versions of `npm run bench:attack`: the attacks are real (the client's own upload
// code, real Prio3 reports verified by both aggregators, the exact discrete Gaussian
// sampler); only the shopper counts and trial counts are smaller.
import { describe, expect, it } from 'vitest';
import { noiseForEpsilon } from '../../federated/accountant.ts';
import { mulberry32 } from '../../models/metrics.ts';
import { membershipAttack } from '../../bench/attack/membership.ts';
import { centralPopularityAttack } from '../../bench/attack/popularity-central.ts';
import { securePopularityAttack } from '../../bench/attack/popularity-secure.ts';
import { demoShoppers } from '../../bench/attack/shoppers.ts';
import { binomialBand } from '../../bench/attack/stats.ts';
import { shippedConfig, shippedPopularityTask } from '../../bench/attack/tasks.ts';

const config = shippedConfig(1000);
const task = shippedPopularityTask(config);

describe('popularity round, central mode (before)', () => {
  it('the operator reads the shopper\'s items back from the plain upload', () => {
    const set = demoShoppers(20, 12, mulberry32(11));
    const { score, uploadEntropy } = centralPopularityAttack(set, task);
    expect(score.recall).toBeGreaterThanOrEqual(0.9);
    // far better than a guess of the same size
    expect(score.precision).toBeGreaterThan(20 * score.chancePrecision);
    expect(uploadEntropy).toBeLessThan(0.1);
  });
});

describe('popularity round, secure mode (after)', () => {
  it('each aggregator\'s view names items at chance, and its large bodies are ≥ 7.99 bits/byte', async () => {
    // fewer buckets than the shipped 65,536 keep the test fast; collisions only help the attacker
    const set = demoShoppers(10, 12, mulberry32(12));
    const result = await securePopularityAttack(set, { buckets: 4096, maxItems: task.maxItems! });
    expect(result.accepted).toBe(10);
    const checks = [...result.leader.scores.values(), ...result.helper.scores.values()];
    // a 99.9% band for the family of checks (Bonferroni), so the test flakes at most 0.1% of runs
    const confidence = 1 - 0.001 / checks.length;
    for (const views of [result.leader, result.helper]) {
      for (const [name, score] of views.scores) {
        const [lo, hi] = score.chanceBand(confidence);
        expect(score.hits, `${name}: ${score.hits} hits, chance band ${lo}–${hi}`).toBeGreaterThanOrEqual(lo);
        expect(score.hits, `${name}: ${score.hits} hits, chance band ${lo}–${hi}`).toBeLessThanOrEqual(hi);
      }
    }
    const entropy = new Map(result.entropy.results().map((r) => [r.body, r]));
    for (const body of ['upload (whole body)', 'leader input share (decrypted)', 'helper share expanded (XOF)']) {
      expect(entropy.get(body)!.bytesPerBody).toBeGreaterThan(60_000);
      expect(entropy.get(body)!.minBodyBitsPerByte, body).toBeGreaterThanOrEqual(7.99);
    }
  });

  it('the chance band is a real test: the central attack\'s hits fall far outside it', () => {
    const set = demoShoppers(10, 12, mulberry32(13));
    const { score } = centralPopularityAttack(set, task);
    expect(score.atChance()).toBe(false);
    expect(binomialBand(120, 0.01, 0.999)[1]).toBeLessThan(score.hits);
  });
});

describe('membership inference on the released popularity counts', () => {
  const maxItems = task.maxItems!;
  const z = config.popularity!.noiseMultiplier;
  const base = { delta: config.delta, maxItems, targetBuckets: maxItems, trials: 3000, noiseShares: 1 as const, cohortCounts: new Array<number>(maxItems).fill(3) };

  it('at the shipped ε the likelihood-ratio attacker stays within TPR ≤ e^ε·FPR + δ', () => {
    expect(z).toBeCloseTo(noiseForEpsilon(1, 1, 1, config.delta), 10);
    const { points } = membershipAttack({ ...base, epsilon: 1, noiseMultiplier: z });
    for (const p of points) expect(p.withinBound, `FPR ${p.fpr}: TPR ${p.tpr} vs bound ${p.bound}`).toBe(true);
    // the attack has power: it does better than guessing at FPR 10%
    expect(points[2].tpr).toBeGreaterThan(points[2].fpr);
  });

  it('detects a release noised for a weaker ε than it claims', () => {
    // noise a quarter of what ε = 1 needs, claimed as ε = 0.5
    const { points } = membershipAttack({ ...base, epsilon: 0.5, noiseMultiplier: z / 4 });
    expect(points.some((p) => !p.withinBound)).toBe(true);
  });
});
