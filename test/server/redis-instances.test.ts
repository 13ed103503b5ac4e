// Several aggregator instances on one real Redis serve one round: concurrent uploads spread
// across them, duplicates sent to two instances at once, operator closes racing the
// uploads and each other, and a closer that dies mid-close.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RoundTask } from '../../federated/protocol.ts';
import { encodeSummary, stochasticQuantize } from '../../federated/summary.ts';
import { FederatedHttpClient } from '../../federated/transport.ts';
import { mulberry32 } from '../../models/metrics.ts';
import { createAggregator, type Aggregator } from '../../server/aggregator.ts';
import { RedisStore } from '../../server/redis-store.ts';
import { FedAvg, TrimmedMean } from '../../server/strategies.ts';
import { until } from '../until.ts';
import { startRedis } from '../../scripts/redis-server.ts';

const LENGTH = 2000;
const MAX = 40;
const INITIAL = 0.25;

let redis: Awaited<ReturnType<typeof startRedis>>;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(() => redis?.stop());
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

interface Instance {
  agg: Aggregator;
  base: string;
  client: FederatedHttpClient;
}

async function startInstance(prefix: string, store = new RedisStore(redis.url, { prefix })): Promise<Instance> {
  const agg = await createAggregator({
    initialWeights: new Float32Array(LENGTH).fill(INITIAL),
    store,
    strategy: new FedAvg(1),
    minParticipants: 1,
    maxParticipants: MAX,
    bits: 16,
  });
  const server: Server = createServer(async (req, res) => {
    if (!(await agg.handle(req, res))) res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await agg.close();
  });
  return { agg, base, client: new FederatedHttpClient(base) };
}

/** Client i's update: a different vector per client, so a lost or doubled update shows in the mean. */
function clientSummary(task: RoundTask, i: number): { body: Uint8Array; ints: Int16Array } {
  const x = new Float32Array(task.length).map((_, j) => (0.01 * Math.sin(i * 1.37 + j * 0.71)) / (1 + (i % 5)));
  const ints = stochasticQuantize(x, task.scale, 16, mulberry32(1000 + i)) as Int16Array;
  return { body: encodeSummary({ withinClip: true, roundId: task.roundId, modelVersion: task.modelVersion, scale: task.scale }, ints), ints };
}

async function upload(base: string, task: RoundTask, token: string, body: Uint8Array): Promise<{ status: number; error?: string }> {
  const res = await fetch(`${base}/fl/v1/rounds/${task.roundId}/summary`, { method: 'POST', body: body as BodyInit, headers: { 'x-silo-token': token } });
  return { status: res.status, error: ((await res.json()) as { error?: string }).error };
}

/** Checks in `n` clients, spread over the instances, all at once. */
async function checkInAll(instances: Instance[], n: number): Promise<{ task: RoundTask; token: string }[]> {
  const answers = await Promise.all(Array.from({ length: n }, (_, i) => instances[i % instances.length].client.checkIn()));
  return answers.flatMap((a) => (a.status === 'task' && a.token ? [{ task: a.task, token: a.token }] : []));
}

function expectModel(weights: Float32Array, before: Float32Array, accepted: Int16Array[], scale: number): void {
  // FedAvg: the new model is the old one plus the mean of exactly the accepted updates
  let worst = 0;
  for (let j = 0; j < LENGTH; j++) {
    let sum = 0;
    for (const ints of accepted) sum += ints[j] / scale;
    worst = Math.max(worst, Math.abs(weights[j] - (before[j] + sum / accepted.length)));
  }
  expect(worst).toBeLessThan(1e-6);
}

describe('several aggregator instances on one Redis', () => {
  it('count every accepted update exactly once, with duplicates and racing closes', async () => {
    const prefix = `multi${Date.now()}:`;
    // three instances start at once: exactly one of them initialises the store
    const instances = await Promise.all([0, 1, 2].map(() => startInstance(prefix)));

    // ---- round 1: 45 check-ins for 40 places; every client uploads, every third one twice at once ----
    const tasks = await checkInAll(instances, MAX + 5);
    expect(tasks).toHaveLength(MAX);
    expect(new Set(tasks.map((t) => t.task.roundId)).size).toBe(1);
    const v1 = (await instances[0].client.downloadModel(1)).weights;
    const summaries = tasks.map((t, i) => clientSummary(t.task, i));
    const results = await Promise.all(
      tasks.map(async (t, i) => {
        const sends = [upload(instances[i % 3].base, t.task, t.token, summaries[i].body)];
        if (i % 3 === 0) sends.push(upload(instances[(i + 1) % 3].base, t.task, t.token, summaries[i].body));
        return Promise.all(sends);
      }),
    );
    for (const r of results) {
      expect(r.filter((x) => x.status === 202)).toHaveLength(1);
      // the second copy: a duplicate, or too late once the 40th accept closed the round
      for (const x of r) if (x.status !== 202) expect(`${x.status} ${x.error}`).toMatch(/^409 (this client already uploaded a summary in this round|round 1 is not open)$/);
    }
    const s1 = await instances[1].agg.fetchStatus();
    expect(s1.modelVersion).toBe(2); // the 40th accept closed the round on whichever instance got it
    expect(s1.history).toHaveLength(1);
    expect(s1.history[0].participants).toBe(MAX);
    expectModel((await instances[2].client.downloadModel(2)).weights, v1, summaries.map((s) => s.ints), tasks[0].task.scale);

    // ---- round 2: operator closes on all three instances race the uploads ----
    const tasks2 = await checkInAll(instances, MAX);
    expect(tasks2).toHaveLength(MAX);
    expect(tasks2[0].task.modelVersion).toBe(2);
    const summaries2 = tasks2.map((t, i) => clientSummary(t.task, 100 + i));
    let answered = 0;
    let closes: Promise<boolean[]> | null = null;
    const results2 = await Promise.all(
      tasks2.map(async (t, i) => {
        const sends = [upload(instances[i % 3].base, t.task, t.token, summaries2[i].body)];
        if (i % 3 === 0) sends.push(upload(instances[(i + 2) % 3].base, t.task, t.token, summaries2[i].body));
        const r = await Promise.all(sends);
        if (++answered === 12) closes = Promise.all(instances.map((x) => x.agg.closeRoundNow()));
        return r;
      }),
    );
    const closed = await closes!;
    const accepted: Int16Array[] = [];
    results2.forEach((r, i) => {
      const ok = r.filter((x) => x.status === 202);
      expect(ok.length).toBeLessThanOrEqual(1);
      if (ok.length) accepted.push(summaries2[i].ints);
      for (const x of r) if (x.status !== 202) expect(x.status).toBe(409); // duplicate or round closed
    });
    expect(accepted.length).toBeGreaterThanOrEqual(12);
    // exactly one close produced the model: an operator close, or (when all 40 got in) either the
    // 40th accept's own close or an operator close that claimed the full round before it
    const operatorReleases = closed.filter(Boolean).length;
    if (accepted.length < MAX) expect(operatorReleases).toBe(1);
    else expect(operatorReleases).toBeLessThanOrEqual(1);
    const s2 = await instances[0].agg.fetchStatus();
    expect(s2.modelVersion).toBe(3);
    expect(s2.history.map((h) => h.participants)).toEqual([MAX, accepted.length]);
    const v2 = (await instances[0].client.downloadModel(2)).weights;
    expectModel((await instances[1].client.downloadModel(3)).weights, v2, accepted, tasks2[0].task.scale);
  });

  it('another instance takes over the close of a closer that died mid-close', async () => {
    const prefix = `takeover${Date.now()}:`;
    const survivor = await startInstance(prefix);
    const tasks = await checkInAll([survivor], 3);
    for (const [i, t] of tasks.entries()) expect((await upload(survivor.base, t.task, t.token, clientSummary(t.task, i).body)).status).toBe(202);
    // a second instance's store claims the close and dies before committing; its lease is short
    const doomed = new RedisStore(redis.url, { prefix, closeLeaseMs: 300 });
    cleanups.push(() => doomed.close());
    expect(await doomed.claimClose(tasks[0].task.roundId)).toBe(true);
    expect(await survivor.agg.closeRoundNow()).toBe(false); // the lease still holds
    const late = await upload(survivor.base, tasks[0].task, tasks[0].token, clientSummary(tasks[0].task, 0).body);
    expect(late.status).toBe(409);
    expect((await survivor.client.checkIn()).status).toBe('wait'); // no new round while one is closing
    // the lease expires; the survivor's timer (1 s) takes the close over
    const s = await until('the survivor to take the close over', async () => {
      const now = await survivor.agg.fetchStatus();
      return now.modelVersion >= 2 && now;
    }, 15_000, 100);
    expect(s.modelVersion).toBe(2);
    expect(s.history[0].participants).toBe(3);
  });
});

/** the byte sizes Redis reports for each key under `prefix` (MEMORY USAGE, all samples) */
async function keySizes(store: RedisStore, prefix: string): Promise<Map<string, number>> {
  const keys = (await store.redis.keys(`${prefix}*`)).sort();
  const sizes = new Map<string, number>();
  for (const key of keys) sizes.set(key.slice(prefix.length), Number(await store.redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')));
  return sizes;
}

describe('Redis memory of a round', () => {
  it('does not grow with accepted uploads for a sum strategy: one partial sum per instance, no per-summary key', async () => {
    const prefix = `bounded${Date.now()}:`;
    const instances = await Promise.all([0, 1, 2].map(() => startInstance(prefix)));
    const probe = new RedisStore(redis.url, { prefix });
    cleanups.push(() => probe.close());
    const tasks = await checkInAll(instances, MAX - 1); // one place left: the round stays open
    const roundId = tasks[0].task.roundId;
    const uploadRange = (from: number, to: number) =>
      Promise.all(tasks.slice(from, to).map((t, k) => upload(instances[(from + k) % 3].base, t.task, t.token, clientSummary(t.task, from + k).body)));

    for (const r of await uploadRange(0, 9)) expect(r.status).toBe(202);
    const early = await keySizes(probe, prefix);
    for (const r of await uploadRange(9, MAX - 1)) expect(r.status).toBe(202);
    const late = await keySizes(probe, prefix);
    expect((await instances[0].agg.fetchStatus()).round?.accepted).toBe(MAX - 1);

    // the same keys after 9 and after 39 accepted uploads, none of them per summary
    expect([...late.keys()]).toEqual([...early.keys()]);
    expect(late.has(`round:${roundId}:summaries`)).toBe(false);
    expect(await probe.redis.hlen(`${prefix}round:${roundId}:partials`)).toBe(3); // ≤ instances
    // one int32 vector of the model's size per instance, however many uploads it summed
    const partials = late.get(`round:${roundId}:partials`)!;
    expect(partials).toBe(early.get(`round:${roundId}:partials`));
    expect(partials).toBeLessThan(3 * LENGTH * 4 + 1024);
    // (the token hash holds one 32-hex-digit entry per selected client: exactly-once needs it)
    for (const [key, size] of late) if (!key.endsWith(':tokens')) expect(size, key).toBe(early.get(key));

    // the closer adds the three partial sums: the mean of exactly the 39 updates
    const v1 = (await instances[0].client.downloadModel(1)).weights;
    expect(await instances[1].agg.closeRoundNow()).toBe(true);
    expectModel((await instances[2].client.downloadModel(2)).weights, v1, tasks.map((t, i) => clientSummary(t.task, i).ints), tasks[0].task.scale);
    expect(await probe.redis.keys(`${prefix}round:*`)).toEqual([]); // the close deleted the round
  });

  it('keeps every summary for an order-statistic strategy (coordinate-wise median) and aggregates them', async () => {
    const prefix = `median${Date.now()}:`;
    const store = new RedisStore(redis.url, { prefix });
    const agg = await createAggregator({ initialWeights: new Float32Array(LENGTH).fill(INITIAL), store, strategy: new TrimmedMean(1, 0.5), minParticipants: 1, maxParticipants: 3, bits: 16 });
    const server: Server = createServer(async (req, res) => {
      if (!(await agg.handle(req, res))) res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await agg.close();
    });
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const tasks = await checkInAll([{ agg, base, client: new FederatedHttpClient(base) }], 3);
    const summaries = tasks.map((t, i) => clientSummary(t.task, i));
    for (const [i, t] of tasks.slice(0, 2).entries()) expect((await upload(base, t.task, t.token, summaries[i].body)).status).toBe(202);
    const roundId = tasks[0].task.roundId;
    expect(await store.redis.llen(`${prefix}round:${roundId}:summaries`)).toBe(2);
    expect(await store.redis.exists(`${prefix}round:${roundId}:partials`)).toBe(0);
    expect((await upload(base, tasks[2].task, tasks[2].token, summaries[2].body)).status).toBe(202); // the 3rd closes the round
    const v2 = (await new FederatedHttpClient(base).downloadModel(2)).weights;
    const scale = tasks[0].task.scale;
    for (let j = 0; j < LENGTH; j += 97) {
      const column = summaries.map((s) => s.ints[j] / scale).sort((a, b) => a - b);
      expect(v2[j]).toBeCloseTo(INITIAL + column[1], 6);
    }
  });
});

describe('Redis group commit', () => {
  it('refuses the duplicate, unknown and over-norm uploads of a batch while their batch-mates land, exactly once', async () => {
    const prefix = `batch${Date.now()}:`;
    const store = new RedisStore(redis.url, { prefix });
    cleanups.push(() => store.close());
    await store.init({ modelVersion: 1, strategy: {}, accountant: null, history: [] }, new Float32Array(LENGTH));
    const scale = 1000;
    const round = (await store.openRound((id) => ({
      id,
      modelVersion: 1,
      task: { roundId: id, modelVersion: 1, length: LENGTH, epochs: 1, learningRate: 0.1, batchSize: 8, optimizer: 'sgd', clipNorm: 1, clientNoiseStd: 0, bits: 16, scale, deadline: Date.now() + 60_000 },
      settings: { clipNorm: 1, clientNoiseStd: 0 },
      normBound: 1,
      keep: 'sum',
      maxParticipants: 10,
    })))!;
    expect(store.sumsRound(round)).toBe(true);
    const tokens = ['a', 'b', 'c', 'd'].map((c) => c.repeat(32));
    for (const [i, t] of tokens.slice(0, 3).entries()) expect(await store.issueToken(round.id, t, 10)).toBe(i + 1);
    const values = (i: number, withinClip = true, tooLarge = false) => ({
      ints: new Int16Array(LENGTH).map((_, j) => ((i * 7 + j * 3) % 11) - 5),
      withinClip,
      checkNorm: (sumOfSquares: number) => {
        if (tooLarge) throw new Error('norm above the bound');
        return sumOfSquares;
      },
    });
    const none = new Uint8Array(0); // a 'sum' round stores the values, not the summary bytes
    // called in one turn: one batch
    const results = await Promise.allSettled([
      store.accept(round.id, tokens[0], none, values(0)),
      store.accept(round.id, tokens[0], none, values(0)), // the same token again, in the same batch
      store.accept(round.id, tokens[3], none, values(3)), // never issued
      store.accept(round.id, tokens[1], none, values(1, false)),
      store.accept(round.id, tokens[2], none, values(2, true, true)), // refused by the norm check: token stays usable
    ]);
    expect(results.map((r) => (r.status === 'fulfilled' ? (r.value.ok ? 'ok' : r.value.reason) : (r.reason as Error).message))).toEqual(['ok', 'duplicate', 'unknown-token', 'ok', 'norm above the bound']);
    // the refusing attempt wrote nothing; the retry committed both batch-mates in one script
    expect(store.commitStats()).toEqual({ uploads: 2, scripts: 2 });
    expect(await store.redis.hget(`${prefix}round:${round.id}:tokens`, tokens[0])).toBe('1');
    expect(await store.redis.hget(`${prefix}round:${round.id}:tokens`, tokens[2])).toBe('0');
    // a token already spent in an earlier batch is a duplicate too; the over-norm client may retry
    expect(await store.accept(round.id, tokens[1], none, values(1))).toEqual({ ok: false, reason: 'duplicate' });
    expect(await store.accept(round.id, tokens[2], none, values(2))).toEqual({ ok: true, accepted: 3 });
    expect(await store.counts(round.id)).toEqual({ selected: 3, accepted: 3 });

    expect(await store.claimClose(round.id)).toBe(true);
    expect(await store.accept(round.id, tokens[2], none, values(2))).toEqual({ ok: false, reason: 'not-open' });
    const total = await store.roundSum(round.id);
    expect(total.count).toBe(3);
    expect(total.withinClip).toBe(2);
    const expected = [0, 1, 2].map((i) => values(i).ints);
    for (let j = 0; j < LENGTH; j++) expect(total.sum[j]).toBe(expected[0][j] + expected[1][j] + expected[2][j]);
  });
});
