// A poisoned cohort: 2 of 20 clients skip the clip and upload along one direction at the
// largest norm the server accepts (the rounding bound B) or at 1.11·C. The server holds every
// upload to C (server/rounds/clamp.ts), so FedAvg moves along the attack direction no further
// than clients held to C could move it: 2·C/20. The honest 18 upload zero updates, so the
// movement is the attackers' alone. Real aggregator over loopback, file store and Redis store.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RoundTask } from '../../federated/protocol.ts';
import { decodedNorm, encodeSummary } from '../../federated/summary.ts';
import { FederatedHttpClient } from '../../federated/transport.ts';
import { mulberry32 } from '../../models/metrics.ts';
import { RedisStore } from '../../server/redis-store.ts';
import { clampInPlace, roundSensitivity } from '../../server/rounds/clamp.ts';
import { modelRound } from '../../server/rounds/plan.ts';
import { resolveOptions } from '../../server/options.ts';
import { DpFedAvg, FedAvg } from '../../server/strategies.ts';
import { checkInTask, post, startServer, tempDir } from './harness.ts';
import { startRedis } from '../../scripts/redis-server.ts';

const C = 0.3;
const COHORT = 20;
const ATTACKERS = 2;
// long enough that 8-bit rounding lets the server accept norms above 1.11·C (the bound grows with √length)
const LENGTH = 250_000;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await (cleanups.pop()!)();
});
let redis: Awaited<ReturnType<typeof startRedis>>;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(() => redis?.stop());

/**
 * An attacker's summary: ±v on enough alternating coordinates for a decoded norm of about
 * `norm` (exact integers, no rounding noise). Its direction is the unit vector of those ints.
 */
function attack(task: RoundTask, norm: number): { body: Uint8Array; direction: Float64Array } {
  const v = 4;
  const m = Math.floor((norm * task.scale) ** 2 / (v * v));
  const ints = new Int8Array(LENGTH);
  for (let i = 0; i < m; i++) ints[i] = i % 2 ? v : -v;
  expect(decodedNorm(ints, task.scale)).toBeLessThanOrEqual(task.normBound!);
  const n = Math.sqrt(m) * v;
  return { body: encodeSummary({ withinClip: true, roundId: task.roundId, modelVersion: task.modelVersion, scale: task.scale }, ints), direction: Float64Array.from(ints, (x) => x / n) };
}

const zeroSummary = (task: RoundTask) => encodeSummary({ withinClip: true, roundId: task.roundId, modelVersion: task.modelVersion, scale: task.scale }, new Int8Array(LENGTH));

/** Runs one round (2 attackers at `norm`, 18 zero updates); returns the movement of the model along the direction. */
async function movement(where: 'file' | 'redis', attackNorm: (task: RoundTask) => number): Promise<{ along: number; bound: number }> {
  const dir = tempDir(cleanups);
  const wrapStore = where === 'redis' ? () => new RedisStore(redis.url, { prefix: `p${Math.random().toString(36).slice(2)}:` }) : undefined;
  const s = await startServer(cleanups, { dir, length: LENGTH, strategy: new FedAvg(C), bits: 8, minParticipants: COHORT, maxParticipants: COHORT, wrapStore });
  const client = new FederatedHttpClient(s.base);
  const before = (await client.downloadModel(1)).weights;
  let bound = 0;
  let direction: Float64Array = new Float64Array(0);
  for (let i = 0; i < COHORT; i++) {
    const { task, token } = await checkInTask(client);
    bound = task.normBound!;
    let body: Uint8Array = zeroSummary(task);
    if (i < ATTACKERS) ({ body, direction } = attack(task, attackNorm(task)));
    expect((await post(s.base, `/fl/v1/rounds/${task.roundId}/summary`, body, { 'x-silo-token': token })).status).toBe(202);
  }
  const after = (await client.downloadModel(2)).weights;
  let along = 0;
  for (let i = 0; i < LENGTH; i++) along += (after[i] - before[i]) * direction[i];
  console.log(`${where}: movement along the attack direction ${along.toFixed(5)} (2·C/20 = ${((ATTACKERS * C) / COHORT).toFixed(5)}; bound ${(bound / C).toFixed(3)}·C)`);
  return { along, bound };
}

describe('a poisoned cohort (2 of 20 uploading above C) is held to C', () => {
  const limit = (ATTACKERS * C) / COHORT; // 0.03: what two clients held to C can move FedAvg
  for (const where of ['file', 'redis'] as const) {
    it(`${where} store: attackers at the accepted bound move FedAvg at most 2·C/20 along their direction`, async () => {
      const { along, bound } = await movement(where, (task) => task.normBound! * 0.999);
      expect(bound).toBeGreaterThan(1.11 * C); // the bound the server accepts is above C
      expect(along).toBeLessThanOrEqual(limit + 1e-6);
      expect(along).toBeGreaterThan(limit * 0.97); // held to C, not dropped
    });
  }

  it('file store: attackers at 1.11·C are held to C as well', async () => {
    const { along } = await movement('file', () => 1.11 * C);
    expect(along).toBeLessThanOrEqual(limit + 1e-6);
    expect(along).toBeGreaterThan(limit * 0.97);
  });
});

describe('the clamp and the DP sensitivity', () => {
  it('scales integers above the limit to just below it, moving a sum by the same change; leaves others alone', () => {
    const random = mulberry32(3);
    for (let t = 0; t < 300; t++) {
      // 8 and 16 bits: per magnitude; 32 bits: by a histogram of the fractions
      const range = [250, 60_000, 1e6][t % 3];
      const ints = new [Int8Array, Int16Array, Int32Array][t % 3](300).map(() => Math.round((random() - 0.5) * range));
      let q = 0;
      for (const v of ints) q += v * v;
      const limitSq = q * (0.2 + 0.75 * random());
      const sum = Float64Array.from(ints);
      const after = clampInPlace(ints, q, limitSq, sum);
      let check = 0;
      for (const v of ints) check += v * v;
      expect(after).toBe(check);
      expect(after).toBeLessThanOrEqual(limitSq);
      expect(Math.sqrt(after)).toBeGreaterThan(Math.sqrt(limitSq) - 1); // within one grid step of the limit
      for (const [i, v] of ints.entries()) expect(Math.abs(v)).toBeLessThanOrEqual(Math.abs(sum[i])); // only ever shrinks
      expect(Array.from(sum)).toEqual(Array.from(ints));
      const same = ints.slice();
      expect(clampInPlace(same, after, after)).toBe(after);
      expect(same).toEqual(ints);
    }
  });

  it('DP-FedAvg with central noise sizes the noise for C (z·C), not for the rounding bound', () => {
    const strategy = new DpFedAvg({ noiseMultiplier: 1, initialClipNorm: C });
    const config = resolveOptions({ initialWeights: new Float32Array(LENGTH), strategy, bits: 8, maxParticipants: COHORT });
    const round = modelRound(config, strategy, 1, { modelVersion: 1, strategy: {}, accountant: {}, history: [] }, Date.now() + 60_000);
    expect(round.normBound).toBeGreaterThan(1.1 * C);
    expect(roundSensitivity(round)).toBe(C);
    // distributed noise: the decoded norm is mostly the clients' noise, which the server must not shrink
    const distributed = new DpFedAvg({ noiseMultiplier: 1, initialClipNorm: C, noiseMode: 'distributed' });
    const r2 = modelRound(resolveOptions({ initialWeights: new Float32Array(LENGTH), strategy: distributed, bits: 8, maxParticipants: COHORT }), distributed, 1, { modelVersion: 1, strategy: {}, accountant: {}, history: [] }, Date.now() + 60_000);
    expect(roundSensitivity(r2)).toBe(r2.normBound);
  });
});
