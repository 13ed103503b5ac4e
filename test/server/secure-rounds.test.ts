// Secure popularity rounds end to end over loopback: a leader (the aggregator behind
// node:http) and a helper in its own process, shoppers played by federated/secure clients.
// Checked: the release is the true bucket counts plus each aggregator's noise, cheating
// reports are rejected and not counted, the helper refuses a leader without its token and
// never releases two different shares for one task, and plain popularity uploads are refused.
import { randomBytes } from 'node:crypto';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { noiseForEpsilon } from '../../federated/accountant.ts';
import { popularityBucket, popularitySummary, recentDistinct } from '../../federated/popularity.ts';
import type { RoundTask } from '../../federated/protocol.ts';
import { checkSecureTask, fromBase64Url, sealedPopularityReport } from '../../federated/secure-popularity.ts';
import { decodeHpkeConfig } from '../../federated/secure/hpke.ts';
import { type ShardedReport, sealReport } from '../../federated/secure/report.ts';
import { vdafContext, vdafOf } from '../../federated/secure/task.ts';
import { encodeInputShare, encodePublicShare } from '../../federated/vdaf/codec.ts';
import { FederatedHttpClient } from '../../federated/transport.ts';
import { SecureLeader } from '../../server/secure/leader.ts';
import { checkInTask, post, startServer, tempDir } from './harness.ts';
import { RedisStore } from '../../server/redis-store.ts';
import { startRedis } from '../../scripts/redis-server.ts';
import { type HelperProcess, startHelper } from './secure-processes.ts';

const TOKEN = randomBytes(24).toString('hex');
const BUCKETS = 64;
const MAX_ITEMS = 4;
const DELTA = 1e-6;
let cleanups: (() => unknown)[] = [];
const processes: (() => unknown)[] = [];
let strict: HelperProcess; // ε = 1: the shipped calibration
let exact: HelperProcess; // ε = 10,000: σ ≈ 0.1, so its noise is 0 in every bucket (P(≠ 0) ≈ 1e-21)

beforeAll(async () => {
  [strict, exact] = await Promise.all([
    startHelper(processes, TOKEN, ['--epsilon', '1', '--delta', String(DELTA), '--min-reports', '3']),
    startHelper(processes, TOKEN, ['--epsilon', '10000', '--delta', String(DELTA), '--min-reports', '3']),
  ]);
  return async () => {
    for (const c of processes.reverse()) await c();
  };
}, 60_000);

afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function startLeader(helper: HelperProcess, epsilon: number, token = TOKEN, redisUrl?: string) {
  const secureDir = tempDir(cleanups);
  const secure = await SecureLeader.create({ dataDir: secureDir, helperUrl: helper.url, helperToken: token, batchSize: 4 });
  const s = await startServer(cleanups, {
    dir: tempDir(cleanups),
    ...(redisUrl ? { wrapStore: () => new RedisStore(redisUrl, { prefix: `secure-${randomBytes(4).toString('hex')}:` }) } : {}),
    length: 10,
    minParticipants: 3,
    delta: DELTA,
    popularity: { noiseMultiplier: noiseForEpsilon(1, 1, epsilon, DELTA), buckets: BUCKETS, maxItems: MAX_ITEMS, secure },
  });
  return { ...s, secureDir, client: new FederatedHttpClient(s.base) };
}

/** A shopper's recent items: distinct keys, so the true count per bucket is known. */
function shopperItems(i: number): string[] {
  return Array.from({ length: 3 + (i % 4) }, (_, k) => `item-${(i * 7 + k * 13) % 40}`);
}

function truth(shoppers: string[][]): number[] {
  const counts = new Array<number>(BUCKETS).fill(0);
  for (const items of shoppers) for (const b of new Set(recentDistinct(items, MAX_ITEMS).map((k) => popularityBucket(k, BUCKETS)))) counts[b]++;
  return counts;
}

async function upload(base: string, task: RoundTask, token: string, body: Uint8Array) {
  return post(base, `/fl/v1/rounds/${task.roundId}/report`, body, { 'content-type': 'application/octet-stream', 'x-silo-token': token });
}

async function honestUpload(leader: Awaited<ReturnType<typeof startLeader>>, helper: HelperProcess, items: string[]) {
  const { task, token } = await checkInTask(leader.client);
  const report = await sealedPopularityReport(task, items, await FederatedHttpClient.fetchHelperConfig(helper.url), helper.url);
  expect((await upload(leader.base, task, token, report)).status).toBe(202);
  return { task, report };
}

/** A malicious client: any encoded vector, sharded and sealed like an honest one. */
async function cheatingReport(task: RoundTask, helper: HelperProcess, encode: (honest: bigint[]) => bigint[], corruptProof = false): Promise<Uint8Array> {
  const s = task.secure!;
  const secureTask = SecureLeader.taskOf(s);
  const vdaf = vdafOf(secureTask);
  const reportId = randomBytes(16);
  const encoded = encode(vdaf.flp.encode(Array.from({ length: s.length }, (_, i) => i < 2)));
  const { publicShare, inputShares } = vdaf.shardEncoded(vdafContext(secureTask), encoded, reportId, randomBytes(vdaf.randSize));
  const leaderShare = inputShares[0];
  if (corruptProof && leaderShare.kind === 'leader') leaderShare.proofsShare[1] = vdaf.field.add(leaderShare.proofsShare[1], 1n);
  const sharded: ShardedReport = { task: secureTask, reportId, publicShare: encodePublicShare(vdaf, publicShare), leaderInputShare: encodeInputShare(vdaf, leaderShare), helperInputShare: encodeInputShare(vdaf, inputShares[1]) };
  const helperConfig = decodeHpkeConfig(await FederatedHttpClient.fetchHelperConfig(helper.url));
  return sealReport(sharded, { leader: decodeHpkeConfig(fromBase64Url(s.leaderHpkeConfig)), helper: helperConfig });
}

describe('secure popularity rounds', () => {
  it('releases the bucket counts plus noise within 6σ, and accounts one release at z = σ/√maxWeight', async () => {
    const leader = await startLeader(strict, 1);
    const shoppers = Array.from({ length: 12 }, (_, i) => shopperItems(i));
    for (const items of shoppers) await honestUpload(leader, strict, items);
    expect(await leader.agg.closeRoundNow()).toBe(true);
    const prior = await leader.client.downloadPopularity('latest');
    const z = noiseForEpsilon(1, 1, 1, DELTA);
    // each aggregator adds N_Z(0, σ²), σ = z·√maxWeight: the release's noise has std σ·√2
    const band = 6 * z * Math.sqrt(MAX_ITEMS) * Math.SQRT2;
    const expected = truth(shoppers);
    expect(prior.counts.length).toBe(BUCKETS);
    for (let b = 0; b < BUCKETS; b++) expect(Math.abs(prior.counts[b] - expected[b])).toBeLessThanOrEqual(band);
    expect(prior.counts.some((c, b) => c !== expected[b])).toBe(true); // noised, not the exact counts
    const status = await leader.agg.fetchStatus();
    const record = status.history.at(-1)!;
    expect(record).toMatchObject({ kind: 'popularity', participants: 12 });
    expect(record.epsilonThisRound).toBeGreaterThan(0.9);
    expect(record.epsilonThisRound).toBeLessThanOrEqual(1.0001);
    expect(SecureLeader.readRecord(leader.secureDir, record.roundId)).toEqual({ roundId: record.roundId, accepted: 12, rejected: {} });
  }, 120_000);

  it('rejects cheating reports and counts only the honest ones', async () => {
    const leader = await startLeader(exact, 10_000);
    const shoppers = Array.from({ length: 5 }, (_, i) => shopperItems(i));
    let replayed: { task: RoundTask; report: Uint8Array } | undefined;
    for (const items of shoppers) replayed = await honestUpload(leader, exact, items);
    const cheats = [
      (h: bigint[]) => h.map((v, i) => (i === 0 ? 2n : v)), // a 2 in a bucket
      (h: bigint[]) => h.map((v, i) => (i < BUCKETS ? (i < MAX_ITEMS + 2 ? 1n : 0n) : v)), // more ones than maxWeight
    ];
    for (const cheat of cheats) {
      const { task, token } = await checkInTask(leader.client);
      expect((await upload(leader.base, task, token, await cheatingReport(task, exact, cheat))).status).toBe(202);
    }
    const tampered = await checkInTask(leader.client);
    expect((await upload(leader.base, tampered.task, tampered.token, await cheatingReport(tampered.task, exact, (h) => h, true))).status).toBe(202);
    // the same sealed report again under a fresh token: stored, then rejected as a replay
    const again = await checkInTask(leader.client);
    expect((await upload(leader.base, again.task, again.token, replayed!.report)).status).toBe(202);
    // bytes that are no report for this round never get stored
    const junk = await checkInTask(leader.client);
    const bad = await upload(leader.base, junk.task, junk.token, randomBytes(2000));
    expect(bad.status).toBe(400);
    // and a plain popularity summary is refused by a leader with a helper
    const plain = await post(leader.base, `/fl/v1/rounds/${junk.task.roundId}/summary`, popularitySummary(junk.task, ['item-1']), { 'content-type': 'application/octet-stream', 'x-silo-token': junk.token });
    expect(plain.status).toBe(409);

    expect(await leader.agg.closeRoundNow()).toBe(true);
    const prior = await leader.client.downloadPopularity('latest');
    expect(Array.from(prior.counts)).toEqual(truth(shoppers));
    const roundId = replayed!.task.roundId;
    expect(SecureLeader.readRecord(leader.secureDir, roundId)).toEqual({ roundId, accepted: 5, rejected: { verify_failed: 3, report_replayed: 1 } });
  }, 120_000);

  it('runs over a shared Redis store too', async () => {
    const redis = await startRedis();
    cleanups.push(() => redis.stop());
    const leader = await startLeader(exact, 10_000, TOKEN, redis.url);
    const shoppers = Array.from({ length: 4 }, (_, i) => shopperItems(i + 20));
    for (const items of shoppers) await honestUpload(leader, exact, items);
    expect(await leader.agg.closeRoundNow()).toBe(true);
    expect(Array.from((await leader.client.downloadPopularity('latest')).counts)).toEqual(truth(shoppers));
  }, 60_000);

  it('a client pinned to one helper origin refuses a task that names another', async () => {
    const leader = await startLeader(exact, 10_000);
    const { task } = await checkInTask(leader.client);
    expect(checkSecureTask(task, exact.url).helperUrl).toBe(exact.url);
    expect(() => checkSecureTask(task, 'https://helper.example')).toThrow(/pins https:\/\/helper\.example/);
    await expect(sealedPopularityReport(task, ['item-1'], await FederatedHttpClient.fetchHelperConfig(exact.url), strict.url)).rejects.toThrow(/pins/);
  }, 60_000);

  it('abandons the round, releasing nothing and spending no ε, when the helper refuses the leader', async () => {
    const leader = await startLeader(exact, 10_000, 'not-the-helpers-token-0123456789');
    for (let i = 0; i < 3; i++) await honestUpload(leader, exact, shopperItems(i));
    const roundId = leader.agg.status().round!.id;
    for (let attempt = 0; attempt < 3; attempt++) await leader.agg.closeRoundNow().catch((e: Error) => expect(e.message).toMatch(/HTTP 401/));
    const status = await leader.agg.fetchStatus();
    expect(status.round?.id ?? 0).not.toBe(roundId);
    expect(status.history).toEqual([]);
    expect((await fetch(`${leader.base}/fl/v1/popularity/latest`)).status).toBe(404);
    // and without any token at all
    const direct = await fetch(`${exact.url}/dap/v1/tasks/${'A'.repeat(43)}/aggregate-share`, { method: 'POST', body: '{}' });
    expect(direct.status).toBe(401);
  }, 120_000);

  it('the helper releases one share per task, the same bytes on retry, and nothing after', async () => {
    const leader = await startLeader(exact, 10_000);
    const uploads = [];
    for (let i = 0; i < 3; i++) uploads.push(await honestUpload(leader, exact, shopperItems(i)));
    expect(await leader.agg.closeRoundNow()).toBe(true);
    const s = uploads[0].task.secure!;
    const taskConfig = { taskId: s.taskId, length: s.length, maxWeight: s.maxWeight, chunkLength: s.chunkLength };
    const call = (op: string, body: unknown) =>
      fetch(`${exact.url}/dap/v1/tasks/${s.taskId}/${op}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ task: taskConfig, ...(body as object) }) });
    const { reportIdsChecksum } = await import('../../server/secure/messages.ts');
    const { decodeReport } = await import('../../federated/secure/report.ts');
    const ids = uploads.map((u) => Buffer.from(decodeReport(u.report).metadata.reportId).toString('hex'));
    const first = await (await call('aggregate-share', { reportCount: 3, reportIdsChecksum: reportIdsChecksum(ids) })).json();
    const second = await (await call('aggregate-share', { reportCount: 3, reportIdsChecksum: reportIdsChecksum(ids) })).json();
    expect(first.aggregateShare).toBeTypeOf('string');
    expect(second).toEqual(first);
    expect((await call('aggregate-share', { reportCount: 2, reportIdsChecksum: reportIdsChecksum(ids.slice(1)) })).status).toBe(409);
    expect((await call('aggregate-init', { reports: [] })).status).toBe(409);
  }, 120_000);

  it('the helper answers a retried report the same and rejects another report under a seen id', async () => {
    const leader = await startLeader(exact, 10_000);
    const { task, report } = await honestUpload(leader, exact, shopperItems(1));
    const other = await honestUpload(leader, exact, shopperItems(2));
    const { decodeReport, encodeReportShare } = await import('../../federated/secure/report.ts');
    const { beginVerify, openShare } = await import('../../federated/secure/aggregator.ts');
    const { verifyKeyOf, b64 } = await import('../../server/secure/messages.ts');
    const { loadOrCreateKeyPair } = await import('../../server/secure/keys.ts');
    const secureTask = SecureLeader.taskOf(task.secure!);
    const leaderKeys = await loadOrCreateKeyPair(`${leader.secureDir}/secure`);
    const forward = async (bytes: Uint8Array, id?: Uint8Array) => {
      const r = decodeReport(bytes);
      const v = beginVerify(secureTask, verifyKeyOf(TOKEN, secureTask.taskId), 'leader', r, await openShare(secureTask, leaderKeys, 'leader', r));
      const share = encodeReportShare(r);
      if (id) share.set(id, 0);
      return { reportShare: b64(share), leaderVerifierShare: b64(v.verifierShare) };
    };
    const call = async (reports: unknown[]) =>
      (await (await fetch(`${exact.url}/dap/v1/tasks/${task.secure!.taskId}/aggregate-init`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ task: { taskId: task.secure!.taskId, length: BUCKETS, maxWeight: MAX_ITEMS, chunkLength: task.secure!.chunkLength }, reports }) })).json()) as { results: Record<string, string>[] };
    const once = await call([await forward(report)]);
    expect(once.results[0].verifierMessage).toBeTypeOf('string');
    expect(await call([await forward(report)])).toEqual(once);
    const stolenId = decodeReport(report).metadata.reportId;
    const replay = await call([await forward(other.report, stolenId)]);
    expect(replay.results[0]).toMatchObject({ rejected: 'report_replayed' });
  }, 120_000);
});
