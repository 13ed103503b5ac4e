// What the upload gate holds an upload to: popularity indicators 0/1 with at most maxItems
// ones, model updates to the norm bound the accountant assumes (clip + exact rounding bound).
import { afterEach, describe, expect, it } from 'vitest';
import { popularitySummary } from '../../federated/popularity.ts';
import { conditionalQuantize, decodedNorm, defaultScale, encodeSummary, roundedNormBound, stochasticQuantize, summariseDelta } from '../../federated/summary.ts';
import { FederatedHttpClient } from '../../federated/transport.ts';
import { mulberry32 } from '../../models/metrics.ts';
import { DpFedAvg } from '../../server/strategies.ts';
import { checkInTask, post, startServer, tempDir } from './harness.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe('popularity uploads', () => {
  it('refuses values other than 0/1 and more than maxItems ones (422), and counts nothing of them', async () => {
    const { base, agg } = await startServer(cleanups, {
      dir: tempDir(cleanups),
      strategy: new DpFedAvg({ noiseMultiplier: 1, initialClipNorm: 0.1 }),
      popularity: { noiseMultiplier: 2, buckets: 64, maxItems: 5 },
    });
    const client = new FederatedHttpClient(base);
    const { task, token } = await checkInTask(client);
    expect(task.kind).toBe('popularity');
    const path = `/fl/v1/rounds/${task.roundId}/summary`;
    const upload = (values: number[]) => post(base, path, encodeSummary({ withinClip: true, roundId: task.roundId, modelVersion: task.modelVersion, scale: 1 }, Int8Array.from({ length: 64 }, (_, i) => values[i] ?? 0)), { 'x-silo-token': token });
    // the attack: +4 in one bucket, −2 in another (norm √20 = the bound √maxItems·2 would allow)
    const skewed = await upload([4, -2]);
    expect(skewed.status).toBe(422);
    expect(skewed.json.error).toMatch(/0 or 1/);
    expect((await upload([1, 1, 1, 1, 1, 1])).status).toBe(422); // six ones, five allowed
    expect((await upload([-1])).status).toBe(422);
    expect((await agg.fetchStatus()).round?.accepted).toBe(0);
    const ok = await post(base, path, popularitySummary(task, ['a', 'b', 'c']), { 'x-silo-token': token });
    expect(ok.status).toBe(202);
    expect(ok.json).toEqual({ accepted: true }); // no participant count
  });
});

describe('model uploads', () => {
  const LENGTH = 20_000;

  it('holds the decoded norm to the exact rounding bound of the clip, not clip + √d/scale', async () => {
    const { base, agg } = await startServer(cleanups, { dir: tempDir(cleanups), length: LENGTH, bits: 8 });
    const client = new FederatedHttpClient(base);
    const { task, token } = await checkInTask(client);
    expect(task.normBound).toBeCloseTo(roundedNormBound(1, task.scale, LENGTH), 9);
    // the old bound C + √d/scale would be 1.28·C on this grid
    expect(1 + Math.sqrt(LENGTH) / task.scale).toBeGreaterThan(1.27);
    expect(task.normBound!).toBeLessThan(1.03);
    const path = `/fl/v1/rounds/${task.roundId}/summary`;
    // an attacker's vector of norm 1.2·C, rounded to the grid: within the old bound, not the new one
    const attack = stochasticQuantize(new Float32Array(LENGTH).fill(1.2 / Math.sqrt(LENGTH)), task.scale, 8, mulberry32(2));
    expect(decodedNorm(attack, task.scale)).toBeGreaterThan(1.15);
    expect(decodedNorm(attack, task.scale)).toBeLessThan(1.27);
    const refused = await post(base, path, encodeSummary({ withinClip: false, roundId: task.roundId, modelVersion: task.modelVersion, scale: task.scale }, attack), { 'x-silo-token': token });
    expect(refused.status).toBe(422);
    // an honest client: a large delta, clipped to C and conditionally rounded, always passes
    const delta = new Float32Array(LENGTH).map((_, i) => Math.sin(i) * 0.3);
    const { bytes } = summariseDelta(delta, { roundId: task.roundId, modelVersion: task.modelVersion, clipNorm: task.clipNorm, clientNoiseStd: 0, bits: 8, scale: task.scale, normBound: task.normBound, random: mulberry32(3) });
    expect((await post(base, path, bytes, { 'x-silo-token': token })).status).toBe(202);
    expect(agg.status().round?.accepted).toBe(1);
  });

  it('conditional rounding keeps every draw within the bound; plain rounding of a clipped vector stays within it too', () => {
    const random = mulberry32(7);
    const scale = defaultScale(1, 8);
    const bound = roundedNormBound(1, scale, LENGTH);
    for (let t = 0; t < 50; t++) {
      // a clipped vector (norm 1) whose coordinates sit at fractional parts ≈ ½, the worst case for rounding variance
      const v = new Float32Array(LENGTH).map((_, i) => (i % 2 ? 1 : -1) / Math.sqrt(LENGTH));
      expect(decodedNorm(stochasticQuantize(v, scale, 8, random), scale)).toBeLessThanOrEqual(bound);
      expect(decodedNorm(conditionalQuantize(v, scale, 8, bound, random), scale)).toBeLessThanOrEqual(bound);
    }
    // a bound no rounding can meet is an error, never a silent overshoot
    expect(() => conditionalQuantize(new Float32Array(LENGTH).fill(0.01), scale, 8, 0.5, random)).toThrow(/norm bound/);
  });
});

describe('adaptive clipping under sybils', () => {
  it('clients that always report "clipped" move C at most exp(η·γ) per round and never past maxClipGrowth', () => {
    const strategy = new DpFedAvg({ noiseMultiplier: 1, initialClipNorm: 0.3 });
    const random = mulberry32(1);
    const cohort = 20;
    const clips = [strategy.currentClipNorm];
    for (let round = 0; round < 12; round++) {
      const settings = strategy.clientSettings(cohort);
      strategy.aggregate({ sum: new Float64Array(4), count: cohort, withinClip: 0, noiseStd: 0 }, { expectedCohort: cohort, settings, sensitivity: settings.clipNorm, random });
      clips.push(strategy.currentClipNorm);
    }
    for (let i = 1; i < clips.length; i++) expect(clips[i] / clips[i - 1]).toBeLessThanOrEqual(Math.exp(0.2 * 0.5) + 1e-12);
    // before: 0.30 → 1.71 in 12 such rounds
    expect(clips.at(-1)!).toBeLessThanOrEqual(0.3 * 4);
  });
});
