// Honest accounting: δ, the fixed denominator, no exact participant count released, the
// replacement sensitivity of a first-come cap, and ε per shopper per month at the shipped settings.
import { afterEach, describe, expect, it } from 'vitest';
import { RdpAccountant } from '../../federated/accountant.ts';
import { FederatedHttpClient } from '../../federated/transport.ts';
import { mulberry32 } from '../../models/metrics.ts';
import { DEPLOYMENT, deploymentOptions } from '../../server/deployment.ts';
import { PrivacyLedger, releasesPerMonth } from '../../server/privacy/ledger.ts';
import { DpFedAvg } from '../../server/strategies.ts';
import { checkInTask, startServer, summaryFor, tempDir } from './harness.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** nearly noiseless DP-FedAvg with a fixed clip, so the averaging itself is visible */
const quietDp = () => new DpFedAvg({ noiseMultiplier: 1e-3, initialClipNorm: 1, adaptiveClipping: false });

async function uploadRound(base: string, values: number[]): Promise<void> {
  const client = new FederatedHttpClient(base);
  for (const v of values) {
    const { task, token } = await checkInTask(client);
    await client.uploadSummary(task.roundId, token, summaryFor(task, v));
  }
}

describe('privacy accounting', () => {
  it('defaults δ to min(1e-6, 1/(10·N))', async () => {
    const a = await startServer(cleanups, { dir: tempDir(cleanups) });
    expect(a.agg.status().privacy.delta).toBe(1e-6);
    const b = await startServer(cleanups, { dir: tempDir(cleanups), population: 1_000_000 });
    expect(b.agg.status().privacy.delta).toBeCloseTo(1e-7, 15);
  });

  it('a DP round averages over the planned cohort, not the number that arrived', async () => {
    const { base, agg } = await startServer(cleanups, { dir: tempDir(cleanups), strategy: quietDp(), expectedCohort: 10, maxParticipants: 3, random: mulberry32(1) });
    await uploadRound(base, [0.01, 0.01, 0.01]);
    expect(agg.status().modelVersion).toBe(2);
    const v2 = await new FederatedHttpClient(base).downloadModel(2);
    expect(v2.weights[0]).toBeCloseTo(0.5 + (3 * 0.01) / 10, 4);
  });

  it('does not release the exact participant count of a DP round: not to uploaders, not in the public status', async () => {
    const { base, agg } = await startServer(cleanups, { dir: tempDir(cleanups), strategy: quietDp(), maxParticipants: 3, random: mulberry32(1) });
    const client = new FederatedHttpClient(base);
    const { task, token } = await checkInTask(client);
    expect(await client.uploadSummary(task.roundId, token, summaryFor(task, 0.01))).toEqual({ accepted: true });
    let pub = (await (await fetch(base + '/fl/v1/status')).json()) as { round: { selected: number | null; accepted: number | null } };
    expect(pub.round).toMatchObject({ selected: null, accepted: null });
    await uploadRound(base, [0.01, 0.01]);
    const body = (await (await fetch(base + '/fl/v1/status')).json()) as { history: { participants: number | null; epsilonThisRound: number }[]; privacy: { epsilonPerMonth: number | null } };
    expect(body.history[0].participants).toBeNull();
    expect(body.history[0].epsilonThisRound).toBeGreaterThan(0);
    // the operator's own process still sees it
    expect(agg.status().history[0].participants).toBe(3);
  });

  it('accounts a first-come cap that can bind with sensitivity 2C (z/2), a cap at the population with C', async () => {
    const z = 2;
    const epsilonAfterOneRound = async (population?: number) => {
      const { base, agg } = await startServer(cleanups, { dir: tempDir(cleanups), strategy: new DpFedAvg({ noiseMultiplier: z, initialClipNorm: 1 }), maxParticipants: 3, population, delta: 1e-5, random: mulberry32(2) });
      await uploadRound(base, [0.01, 0.01, 0.01]);
      return agg.status().history[0].epsilonThisRound!;
    };
    const rdp = (noise: number) => {
      const a = new RdpAccountant();
      a.step(1, noise);
      return a.spent(1e-5).epsilon;
    };
    expect(await epsilonAfterOneRound()).toBeCloseTo(rdp(z / 2), 10);
    expect(await epsilonAfterOneRound(3)).toBeCloseTo(rdp(z), 10);
  });

  it('opens rounds no more often than roundIntervalMs, and tells clients when the next one opens', async () => {
    let now = Date.now();
    const { base } = await startServer(cleanups, { dir: tempDir(cleanups), clock: () => now, roundIntervalMs: 3_600_000, maxParticipants: 2 });
    await uploadRound(base, [0.01, 0.01]);
    now += 600_000;
    const client = new FederatedHttpClient(base);
    const early = await client.checkIn();
    expect(early).toEqual({ status: 'wait', retryAfterSeconds: 3000 });
    now += 3_000_000;
    expect((await client.checkIn()).status).toBe('task');
  });

  it('keeps the round interval across a restart (the state records when the last round opened)', async () => {
    let now = Date.now();
    const dir = tempDir(cleanups);
    const first = await startServer(cleanups, { dir, clock: () => now, roundIntervalMs: 3_600_000, maxParticipants: 2 });
    await uploadRound(first.base, [0.01, 0.01]);
    await first.stop();
    now += 600_000;
    const second = await startServer(cleanups, { dir, clock: () => now, roundIntervalMs: 3_600_000, maxParticipants: 2 });
    expect(await new FederatedHttpClient(second.base).checkIn()).toEqual({ status: 'wait', retryAfterSeconds: 3000 });
  });

  it('reports ε per shopper per month; at the shipped settings it is at most 8', async () => {
    const open = await startServer(cleanups, { dir: tempDir(cleanups), strategy: quietDp() });
    expect(open.agg.status().privacy.epsilonPerMonth).toBeNull(); // no round interval: unbounded
    const shipped = await startServer(cleanups, { dir: tempDir(cleanups), ...deploymentOptions() });
    const perMonth = shipped.agg.status().privacy.epsilonPerMonth!;
    const rounds = releasesPerMonth(DEPLOYMENT.roundIntervalHours * 3600_000);
    const s = shipped.agg.status();
    const expected = new PrivacyLedger(1e-6, 'rdp').perMonth([
      { q: DEPLOYMENT.selectionProbability, noiseMultiplier: DEPLOYMENT.noiseMultiplier / 2, perMonth: rounds },
      { q: 1, noiseMultiplier: (deploymentOptions().popularity!).noiseMultiplier, perMonth: Math.ceil(rounds / (DEPLOYMENT.popularityEveryRounds + 1)) },
    ]);
    expect(s.privacy.delta).toBe(1e-6);
    expect(perMonth).toBeCloseTo(expected!, 10);
    expect(perMonth).toBeLessThanOrEqual(8);
    const pub = (await (await fetch(shipped.base + '/fl/v1/status')).json()) as { privacy: { epsilonPerMonth: number } };
    expect(pub.privacy.epsilonPerMonth).toBe(perMonth);
  });
});
