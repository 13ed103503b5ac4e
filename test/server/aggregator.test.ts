import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RdpAccountant } from '../../federated/accountant.ts';
import { pldEpsilon } from '../../federated/pld.ts';
import { popularityIndicator, popularitySummary } from '../../federated/popularity.ts';
import type { RoundTask } from '../../federated/protocol.ts';
import { encodeSummary, stochasticQuantize } from '../../federated/summary.ts';
import { FederatedHttpClient } from '../../federated/transport.ts';
import { mulberry32 } from '../../models/metrics.ts';
import { createAggregator, type Aggregator, type AggregatorOptions } from '../../server/aggregator.ts';
import { FileStore } from '../../server/file-store.ts';
import { encodeRecord, RECORD_HEADER, SUMMARY_ACCEPTED } from '../../server/integrity-log.ts';
import { RedisStore } from '../../server/redis-store.ts';
import { cosineDecay } from '../../bench/cosine-decay.ts';
import { ServerAdam, ServerMomentum, type ServerOptimizer } from '../../server/server-optimizers.ts';
import type { AggregatorStore } from '../../server/store.ts';
import { type AggregationStrategy, DpFedAvg, FedAvg, type SummedUpdates, TrimmedMean } from '../../server/strategies.ts';
import { until } from '../until.ts';
import { startRedis } from '../../scripts/redis-server.ts';

const LENGTH = 500;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

// one real redis-server for the file; every test gets its own key prefix
let redis: Awaited<ReturnType<typeof startRedis>>;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(() => redis?.stop());

type StoreKind = 'file' | 'redis';
/** A place the server's state lives: the same `where` gives a restarted server the same state. */
function newWhere(kind: StoreKind): string {
  if (kind === 'redis') return `t${Math.random().toString(36).slice(2)}:`;
  const dir = mkdtempSync(join(tmpdir(), 'silo-fl-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
function openStore(kind: StoreKind, where: string): AggregatorStore {
  return kind === 'redis' ? new RedisStore(redis.url, { prefix: where }) : new FileStore(where);
}

interface Started {
  agg: Aggregator;
  base: string;
  server: Server;
  /** stops the HTTP server and the aggregator (as a process exit would) */
  stop: () => Promise<void>;
}

async function start(options: Partial<AggregatorOptions> & { where: string; kind: StoreKind }): Promise<Started> {
  const { where, kind, ...rest } = options;
  const agg = await createAggregator({
    store: openStore(kind, where),
    initialWeights: new Float32Array(LENGTH).fill(0.5),
    strategy: new FedAvg(1),
    minParticipants: 2,
    maxParticipants: 3,
    ...rest,
  });
  const server = createServer(async (req, res) => {
    if (!(await agg.handle(req, res))) {
      res.writeHead(418);
      res.end('not federated');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await agg.close();
  };
  cleanups.push(stop);
  return { agg, base, server, stop };
}

/** A valid summary carrying `value` in every coordinate (before quantisation). */
function summaryFor(task: RoundTask, value: number, overrides: Partial<{ roundId: number; modelVersion: number; length: number; scale: number }> = {}): Uint8Array {
  const n = overrides.length ?? task.length;
  const ints = stochasticQuantize(new Float32Array(n).fill(value), task.scale, task.bits, mulberry32(1));
  return encodeSummary({ withinClip: true, roundId: overrides.roundId ?? task.roundId, modelVersion: overrides.modelVersion ?? task.modelVersion, scale: overrides.scale ?? task.scale }, ints);
}

/** a copy of `bytes` with one byte changed */
function withByte(bytes: Uint8Array, offset: number, value: number): Uint8Array {
  const copy = bytes.slice();
  copy[offset] = value;
  return copy;
}

async function post(base: string, path: string, body: Uint8Array, token?: string): Promise<{ status: number; json: { error?: string } }> {
  const res = await fetch(base + path, { method: 'POST', body: body as BodyInit, headers: token ? { 'x-silo-token': token } : {} });
  return { status: res.status, json: (await res.json()) as { error?: string } };
}

async function checkInTask(client: FederatedHttpClient): Promise<{ task: RoundTask; token: string }> {
  const r = await client.checkIn();
  if (r.status !== 'task' || !r.token) throw new Error('expected a task');
  return { task: r.task, token: r.token };
}

describe.each(['file', 'redis'] as const)('aggregation server over loopback HTTP, %s store', (kind) => {
  it('runs a FedAvg round end to end and serves the new model with a verified hash', async () => {
    const { base } = await start({ kind, where: newWhere(kind) });
    const client = new FederatedHttpClient(base);
    const v1 = await client.downloadModel('latest');
    expect(v1.version).toBe(1);
    expect(v1.weights[0]).toBe(0.5);
    const clipSafe = 1 / Math.sqrt(LENGTH) / 2; // each client's vector norm = 0.5 < clip 1
    const values = [clipSafe, -clipSafe / 2, clipSafe / 4];
    for (const v of values) {
      const { task, token } = await checkInTask(client);
      expect(task.length).toBe(LENGTH);
      await client.uploadSummary(task.roundId, token, summaryFor(task, v));
    }
    const status = (await (await fetch(base + '/fl/v1/status')).json()) as { modelVersion: number; round: unknown; history: { participants: number }[] };
    expect(status.modelVersion).toBe(2);
    expect(status.history[0].participants).toBe(3);
    const v2 = await client.downloadModel(2);
    const mean = values.reduce((a, b) => a + b, 0) / 3;
    // quantisation error per value ≤ 1/scale, averaged over 3 clients
    for (let i = 0; i < 20; i++) expect(Math.abs(v2.weights[i] - (0.5 + mean))).toBeLessThan(1e-3);
    // version 1 is still served
    expect((await client.downloadModel(1)).weights[0]).toBe(0.5);
  });

  it('rejects bad uploads with a 4xx reason and leaves the round untouched', async () => {
    const { base, agg } = await start({ kind, where: newWhere(kind) });
    const client = new FederatedHttpClient(base);
    const { task, token } = await checkInTask(client);
    const path = `/fl/v1/rounds/${task.roundId}/summary`;
    const good = summaryFor(task, 0.001);
    const cases: [string, Uint8Array, string | undefined, number, RegExp][] = [
      ['truncated', good.slice(0, good.length - 3), token, 400, /bytes/],
      ['header only fragment', good.slice(0, 7), token, 400, /header/],
      ['garbage', new Uint8Array(100).fill(7), token, 400, /magic/],
      ['wrong length', summaryFor(task, 0.001, { length: LENGTH - 1 }), token, 400, /values/],
      ['wrong model version', summaryFor(task, 0.001, { modelVersion: 99 }), token, 409, /model v99/],
      ['wrong round in body', summaryFor(task, 0.001, { roundId: 99 }), token, 400, /round 99/],
      ['unknown protocol version', withByte(good, 4, 2), token, 400, /unsupported protocol version 2/],
      ['unknown value width', withByte(good, 6, 12), token, 400, /unsupported value width/],
      ['other value width than the round', encodeSummary({ withinClip: true, roundId: task.roundId, modelVersion: task.modelVersion, scale: task.scale }, new Int8Array(LENGTH)), token, 400, /8-bit values, round expects 16/],
      ['bad within-clip flag', withByte(good, 7, 9), token, 400, /within-clip/],
      ['NaN scale', summaryFor(task, 0.001, { scale: NaN }), token, 400, /scale/],
      ['infinite scale', summaryFor(task, 0.001, { scale: Infinity }), token, 400, /scale/],
      ['norm above bound', summaryFor(task, 0.5), token, 422, /exceeds the round's bound/],
      ['oversize body', new Uint8Array(LENGTH * 4 + 1000), token, 413, /limit/],
      ['no token', good, undefined, 403, /token/],
      ['foreign token', good, 'f'.repeat(32), 403, /token/],
      ['prototype-named token', good, 'constructor', 403, /token/],
    ];
    for (const [name, body, tok, code, reason] of cases) {
      const r = await post(base, path, body, tok);
      expect(r.status, name).toBe(code);
      expect(r.json.error, name).toMatch(reason);
    }
    expect(agg.status().round?.accepted).toBe(0);
    expect((await post(base, path, good, token)).status).toBe(202);
    const dup = await post(base, path, good, token);
    expect(dup.status).toBe(409);
    expect(dup.json.error).toMatch(/already uploaded/);
    expect(agg.status().round?.accepted).toBe(1);
    const closed = await post(base, `/fl/v1/rounds/${task.roundId + 5}/summary`, good, token);
    expect(closed.status).toBe(409);
    expect(closed.json.error).toMatch(/not open/);
    const unknown = await fetch(base + '/fl/v1/nope');
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: string }).error).toMatch(/no such endpoint/);
    // other paths are left to the host server
    expect((await fetch(base + '/shop')).status).toBe(418);
    // the rejected bodies (the over-norm one was added to the running sum and taken out
    // again) left no trace in the aggregate: the mean is that of the two accepted updates
    const second = await checkInTask(client);
    await client.uploadSummary(second.task.roundId, second.token, summaryFor(second.task, 0.003));
    expect(await agg.closeRoundNow()).toBe(true);
    const v2 = await client.downloadModel(2);
    for (let i = 0; i < 10; i++) expect(Math.abs(v2.weights[i] - (0.5 + 0.002))).toBeLessThan(1e-4);
  });

  it('concurrent check-ins while no round is open share one round and its places', async () => {
    const { base, agg } = await start({ kind, where: newWhere(kind) });
    const client = new FederatedHttpClient(base);
    const answers = await Promise.all(Array.from({ length: 8 }, () => client.checkIn()));
    const tasks = answers.filter((a) => a.status === 'task');
    expect(tasks).toHaveLength(3); // maxParticipants
    expect(new Set(tasks.map((a) => (a.status === 'task' ? a.task.roundId : 0)))).toEqual(new Set([1]));
    expect((await agg.fetchStatus()).round?.selected).toBe(3);
  });

  it('a restarted server loses no accepted update', async () => {
    const where = newWhere(kind);
    const first = await start({ kind, where });
    const c1 = new FederatedHttpClient(first.base);
    const a = await checkInTask(c1);
    const b = await checkInTask(c1);
    await c1.uploadSummary(a.task.roundId, a.token, summaryFor(a.task, 0.01));
    await first.stop();

    const second = await start({ kind, where });
    expect(second.agg.status().round?.accepted).toBe(1);
    const c2 = new FederatedHttpClient(second.base);
    // the token used before the restart is still spent; the other one still works
    const dup = await post(second.base, `/fl/v1/rounds/${a.task.roundId}/summary`, summaryFor(a.task, 0.01), a.token);
    expect(dup.status).toBe(409);
    await c2.uploadSummary(b.task.roundId, b.token, summaryFor(b.task, 0.03));
    const c = await checkInTask(c2);
    await c2.uploadSummary(c.task.roundId, c.token, summaryFor(c.task, 0.02));
    const v2 = await c2.downloadModel(2);
    expect(v2.weights[0]).toBeCloseTo(0.5 + 0.02, 3); // mean of 0.01, 0.03, 0.02: the pre-restart update counted once
  });

  it('closes a round at the deadline: aggregates with ≥ min participants, abandons below', async () => {
    // a hand-moved clock: the deadline passes when the test says so, however slow the machine
    let now = Date.now();
    const { base, agg } = await start({ kind, where: newWhere(kind), roundDurationMs: 300, clock: () => now });
    const client = new FederatedHttpClient(base);
    const a = await checkInTask(client);
    await client.uploadSummary(a.task.roundId, a.token, summaryFor(a.task, 0.01));
    now = a.task.deadline; // the timer (every 75 ms) now finds the round due
    await until('the deadline close', () => agg.status().round === null, 10_000, 25); // 1 < min 2: abandoned
    expect(agg.status().modelVersion).toBe(1);
    const late = await post(base, `/fl/v1/rounds/${a.task.roundId}/summary`, summaryFor(a.task, 0.01), a.token);
    expect(late.status).toBe(409);
    const b = await checkInTask(client);
    const c = await checkInTask(client);
    expect(b.task.roundId).toBe(a.task.roundId + 1);
    expect(c.task.roundId).toBe(b.task.roundId);
    await client.uploadSummary(b.task.roundId, b.token, summaryFor(b.task, 0.01));
    await client.uploadSummary(c.task.roundId, c.token, summaryFor(c.task, 0.01));
    now = b.task.deadline - 1;
    await new Promise((r) => setTimeout(r, 200)); // a few ticks before the deadline change nothing
    expect(agg.status().modelVersion).toBe(1);
    now = b.task.deadline;
    await until('the deadline aggregation', () => agg.status().modelVersion === 2, 10_000, 25); // 2 ≥ min: aggregated at the deadline
    expect(agg.status().history[0].participants).toBe(2);
  });

  it('tells every client of an open round not to check in again before its deadline: one draw per shopper per round', async () => {
    let now = Date.now();
    const draws = [0.9]; // the first check-in is not selected (0.9 ≥ q), the rest are
    const { base } = await start({ kind, where: newWhere(kind), roundDurationMs: 120_000, clock: () => now, selectionProbability: 0.5, maxParticipants: 2, random: () => draws.shift() ?? 0.1 });
    const client = new FederatedHttpClient(base);
    const refused = await client.checkIn(); // opens the round, deadline now + 120 s
    expect(refused).toEqual({ status: 'wait', retryAfterSeconds: 121 });
    now += 30_000;
    const selected = await client.checkIn();
    expect(selected.status).toBe('task');
    expect(selected.retryAfterSeconds).toBe(91); // the task's round: no second draw either
    expect(selected.status === 'task' && selected.task.deadline - now).toBe(90_000);
    await client.checkIn();
    now += 20_000;
    expect(await client.checkIn()).toEqual({ status: 'wait', retryAfterSeconds: 71 }); // no place left (2 tokens out)
    now += 60_000; // 10 s before the deadline: never less than the configured 60 s
    expect(await client.checkIn()).toEqual({ status: 'wait', retryAfterSeconds: 60 });
  });

  it('closeRoundNow aggregates with enough participants and abandons otherwise', async () => {
    const { base, agg } = await start({ kind, where: newWhere(kind) });
    const client = new FederatedHttpClient(base);
    const a = await checkInTask(client);
    await client.uploadSummary(a.task.roundId, a.token, summaryFor(a.task, 0.01));
    expect(await agg.closeRoundNow()).toBe(false); // 1 < min 2
    expect(agg.status().modelVersion).toBe(1);
    const b = await checkInTask(client);
    const c = await checkInTask(client);
    await client.uploadSummary(b.task.roundId, b.token, summaryFor(b.task, 0.01));
    await client.uploadSummary(c.task.roundId, c.token, summaryFor(c.task, 0.01));
    expect(await agg.closeRoundNow()).toBe(true);
    expect(agg.status().modelVersion).toBe(2);
  });

  it('a "latest" download right after an operator close that was not awaited gets the new version', async () => {
    const { base, agg } = await start({ kind, where: newWhere(kind) });
    const client = new FederatedHttpClient(base);
    for (const v of [0.01, 0.03]) {
      const { task, token } = await checkInTask(client);
      await client.uploadSummary(task.roundId, token, summaryFor(task, v));
    }
    const closing = agg.closeRoundNow();
    const latest = await client.downloadModel('latest');
    expect(latest.version).toBe(2);
    expect(latest.weights[0]).toBeCloseTo(0.52, 3);
    expect(agg.status().modelVersion).toBe(2);
    expect(await closing).toBe(true);
  });

  it('DP-FedAvg reports ε per round and in total, and adapts the clip norm', async () => {
    const { base, agg } = await start({
      kind,
      where: newWhere(kind),
      strategy: new DpFedAvg({ noiseMultiplier: 1, initialClipNorm: 0.1 }),
      selectionProbability: 1,
      random: mulberry32(11),
      maxParticipants: 3,
      delta: 1e-3,
    });
    const client = new FederatedHttpClient(base);
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 3; i++) {
        const { task, token } = await checkInTask(client);
        // tiny updates, all within the clip: the adaptive rule should shrink C
        await client.uploadSummary(task.roundId, token, summaryFor(task, 0.0001));
      }
    }
    const s = agg.status();
    expect(s.privacy.rounds).toBe(2);
    expect(s.history[0].epsilonThisRound).toBeGreaterThan(0);
    expect(s.privacy.epsilon!).toBeGreaterThan(s.history[0].epsilonThisRound!);
    expect(s.history[1].clipNorm).not.toBe(s.history[0].clipNorm); // noisy with 3 clients; direction tested below
  });
  it('with the PLD accountant, reports the smaller ε of the two bounds, and keeps its ledger across a restart', async () => {
    const where = newWhere(kind);
    const options = { kind, where, strategy: new DpFedAvg({ noiseMultiplier: 1, initialClipNorm: 0.1 }), selectionProbability: 0.5, random: mulberry32(3), maxParticipants: 3, delta: 1e-3, accountant: 'pld' as const };
    const round = async (base: string) => {
      const client = new FederatedHttpClient(base);
      for (let uploads = 0; uploads < 3; ) {
        const r = await client.checkIn(); // selected with probability 0.5
        if (r.status !== 'task' || !r.token) continue;
        await client.uploadSummary(r.task.roundId, r.token, summaryFor(r.task, 0.0001));
        uploads++;
      }
    };
    const first = await start(options);
    await round(first.base);
    await round(first.base);
    let s = await first.agg.fetchStatus();
    // z 1 in rounds capped first-come at 3: accounted with sensitivity 2C, i.e. z/2
    const rdp = new RdpAccountant();
    rdp.step(0.5, 0.5, 2);
    expect(s.privacy.accountant).toBe('pld');
    expect(s.privacy.epsilon!).toBeCloseTo(pldEpsilon([{ q: 0.5, noiseMultiplier: 0.5, count: 2 }], 1e-3), 10);
    expect(s.privacy.epsilon!).toBeLessThan(rdp.spent(1e-3).epsilon);
    expect(s.history[0].epsilonThisRound).toBeCloseTo(pldEpsilon([{ q: 0.5, noiseMultiplier: 0.5, count: 1 }], 1e-3), 10);

    await first.stop();
    const second = await start(options);
    await round(second.base);
    s = await second.agg.fetchStatus();
    expect(s.privacy.rounds).toBe(3);
    expect(s.privacy.epsilon!).toBeCloseTo(pldEpsilon([{ q: 0.5, noiseMultiplier: 0.5, count: 3 }], 1e-3), 10);
  });

  it('popularity rounds: indicator uploads, a noised release accounted in the same ledger, then model rounds', async () => {
    const where = newWhere(kind);
    const options = {
      kind,
      where,
      strategy: new DpFedAvg({ noiseMultiplier: 1, initialClipNorm: 0.1 }),
      selectionProbability: 1,
      random: mulberry32(5),
      maxParticipants: 3,
      delta: 1e-3,
      popularity: { noiseMultiplier: 2, buckets: 4096, maxItems: 5, everyRounds: 1, maxParticipants: 40 },
    };
    const first = await start(options);
    const client = new FederatedHttpClient(first.base);
    await expect(client.downloadPopularity()).rejects.toThrow(/HTTP 404/);

    // 30 shoppers, each with 7 items of which the 5 most recent distinct count
    const expected = new Float64Array(4096);
    for (let i = 0; i < 30; i++) {
      const { task, token } = await checkInTask(client);
      expect(task).toMatchObject({ kind: 'popularity', length: 4096, maxItems: 5, bits: 8, scale: 1, clientNoiseStd: 0 });
      expect(task.clipNorm).toBeCloseTo(Math.sqrt(5), 12);
      const keys = Array.from({ length: 7 }, (_, k) => `item-${(i + k) % 9}`);
      if (i === 0) {
        // six items where five are allowed: norm √6 > √5 is refused, and the token stays usable
        const six = popularityIndicator(Array.from({ length: 6 }, (_, k) => `other-${k}`), 4096, 6);
        const tooMany = encodeSummary({ withinClip: true, roundId: task.roundId, modelVersion: task.modelVersion, scale: 1 }, six);
        expect((await post(first.base, `/fl/v1/rounds/${task.roundId}/summary`, tooMany, token)).status).toBe(422);
        expect((await post(first.base, `/fl/v1/rounds/${task.roundId}/summary`, summaryFor({ ...task, length: LENGTH }, 0), token)).status).toBe(400);
      }
      popularityIndicator(keys, 4096, 5).forEach((v, b) => (expected[b] += v));
      await client.uploadSummary(task.roundId, token, popularitySummary(task, keys));
    }
    expect(await first.agg.closeRoundNow()).toBe(true);
    let s = await first.agg.fetchStatus();
    expect(s.modelVersion).toBe(1); // a popularity round publishes no model
    expect(s.popularity).toMatchObject({ version: 1, buckets: 4096, participants: 30, weight: 0.5, maxItems: 5 });
    // popularity z 2 with a first-come cap of 40: accounted with sensitivity 2·√maxItems, i.e. z/2
    const alone = new RdpAccountant();
    alone.step(1, 1);
    expect(s.history[0]).toMatchObject({ kind: 'popularity', participants: 30, newModelVersion: 1 });
    expect(s.history[0].epsilonThisRound).toBeCloseTo(alone.spent(1e-3).epsilon, 10);

    const prior = await client.downloadPopularity();
    expect(prior.version).toBe(1);
    // a browser's HTTP cache revalidates `latest` with its ETag: unchanged, it costs a 304
    const fresh = await fetch(first.base + '/fl/v1/popularity/latest');
    expect(fresh.headers.get('cache-control')).toBe('no-cache');
    const etag = fresh.headers.get('etag')!;
    expect(etag).toBe(`"${fresh.headers.get('x-silo-sha256')}"`);
    const revalidated = await fetch(first.base + '/fl/v1/popularity/latest', { headers: { 'if-none-match': etag } });
    expect(revalidated.status).toBe(304);
    expect((await revalidated.arrayBuffer()).byteLength).toBe(0);
    expect(prior.weight).toBe(0.5);
    // the release is the true sum plus N(0, (z·√maxItems)²) per bucket: z·√5 = 4.47
    let sum = 0;
    let sumSq = 0;
    for (let b = 0; b < 4096; b++) {
      const r = prior.counts[b] - expected[b];
      sum += r;
      sumSq += r * r;
    }
    const mean = sum / 4096;
    expect(Math.abs(mean)).toBeLessThan(0.3);
    expect(Math.sqrt(sumSq / 4096 - mean * mean)).toBeGreaterThan(2 * Math.sqrt(5) * 0.93);
    expect(Math.sqrt(sumSq / 4096 - mean * mean)).toBeLessThan(2 * Math.sqrt(5) * 1.07);

    // then a model round, accounted in the same ledger
    for (let i = 0; i < 3; i++) {
      const { task, token } = await checkInTask(client);
      expect(task.kind).toBe('model');
      expect(task.length).toBe(LENGTH);
      await client.uploadSummary(task.roundId, token, summaryFor(task, 0.0001));
    }
    s = await first.agg.fetchStatus();
    expect(s.modelVersion).toBe(2);
    expect(s.privacy.rounds).toBe(2);
    const both = new RdpAccountant();
    both.step(1, 1);
    both.step(1, 0.5);
    expect(s.privacy.epsilon!).toBeCloseTo(both.spent(1e-3).epsilon, 10);

    // everyRounds 1: round 3 is a popularity round again; abandoned (1 < 2 participants) it
    // releases nothing and spends nothing, and round 4 is a model round
    const again = await checkInTask(client);
    expect(again.task.kind).toBe('popularity');
    await client.uploadSummary(again.task.roundId, again.token, popularitySummary(again.task, ['item-1']));
    expect(await first.agg.closeRoundNow()).toBe(false);
    s = await first.agg.fetchStatus();
    expect(s.popularity?.version).toBe(1);
    expect(s.privacy.rounds).toBe(2);
    expect((await checkInTask(client)).task.kind).toBe('model');

    // a restarted server serves the same release
    await first.stop();
    const second = await start(options);
    const restored = await new FederatedHttpClient(second.base).downloadPopularity(1);
    expect(Array.from(restored.counts)).toEqual(Array.from(prior.counts));
  });

  it('refuses round settings a shopper could not train with', async () => {
    for (const training of [{ epochs: 0 }, { epochs: 1.5 }, { learningRate: 0 }, { learningRate: Number.NaN }]) {
      await expect(createAggregator({ store: openStore(kind, newWhere(kind)), initialWeights: new Float32Array(LENGTH), training }), JSON.stringify(training)).rejects.toThrow(/^training\./);
    }
  });

  it('refuses popularity rounds with a strategy that noises on the client, and closes the store it was given', async () => {
    const store = openStore(kind, newWhere(kind));
    let closed = false;
    const close = store.close.bind(store);
    store.close = async () => {
      closed = true;
      await close();
    };
    await expect(
      createAggregator({ store, initialWeights: new Float32Array(LENGTH), strategy: new DpFedAvg({ noiseMultiplier: 1, noiseMode: 'distributed' }), popularity: { noiseMultiplier: 2 } }),
    ).rejects.toThrow(/central noise/);
    expect(closed).toBe(true);
    // a Redis store's connection is gone, not left reconnecting
    if (store instanceof RedisStore) await until('the Redis connection to end', async () => store.redis.status === 'end', 5_000, 10);
  });

  it('tells the server optimiser how many steps it took before', async () => {
    const steps: (number | undefined)[] = [];
    const recording: ServerOptimizer = { name: 'sgd', apply: (_w, _u, _noise, step) => void steps.push(step), saveState: () => null, loadState: () => {} };
    const s = await start({ kind, where: newWhere(kind), serverOptimizer: recording, minParticipants: 1, maxParticipants: 1 });
    const client = new FederatedHttpClient(s.base);
    for (let r = 0; r < 3; r++) {
      const { task, token } = await checkInTask(client);
      await client.uploadSummary(task.roundId, token, summaryFor(task, 0.01));
    }
    await until('three model versions', async () => s.agg.status().modelVersion === 4, 5_000, 10);
    expect(steps).toEqual([0, 1, 2]);
  });

  it('a restart between rounds continues the server optimiser exactly (FedAdam, FedAvgM)', async () => {
    // the scheduled FedAdam also needs the step count to survive the restart
    const optimizers: (() => ServerOptimizer)[] = [() => new ServerAdam(0.01), () => new ServerAdam(cosineDecay(0.02, 0.005, 2)), () => new ServerMomentum(1, 0.9)];
    const values = [0.01, -0.004];
    async function round(s: Started, value: number): Promise<void> {
      const client = new FederatedHttpClient(s.base);
      for (const v of [value, value / 3]) {
        const { task, token } = await checkInTask(client);
        await client.uploadSummary(task.roundId, token, summaryFor(task, v));
      }
    }
    for (const make of optimizers) {
      const options = { kind, serverOptimizer: make(), maxParticipants: 2 };
      const continuous = await start({ ...options, where: newWhere(kind) });
      for (const v of values) await round(continuous, v);
      const expected = (await new FederatedHttpClient(continuous.base).downloadModel(3)).weights;

      const where = newWhere(kind);
      const before = await start({ ...options, where });
      await round(before, values[0]);
      await before.stop();
      const after = await start({ ...options, where, serverOptimizer: make() });
      await round(after, values[1]);
      const client = new FederatedHttpClient(after.base);
      const restarted = (await client.downloadModel(3)).weights;
      expect(Buffer.from(restarted.buffer).equals(Buffer.from(expected.buffer)), make().name).toBe(true);

      // the saved state matters: a fresh optimiser stepping from v2 with round 2's mean lands elsewhere
      const v2 = (await client.downloadModel(2)).weights;
      const status = after.agg.status();
      expect(status.modelVersion).toBe(3);
      const { task } = await checkInTask(client); // round 3's task has the same scale as round 2's (FedAvg: fixed clip)
      const a = summaryFor({ ...task, roundId: 2, modelVersion: 2 }, values[1]);
      const b = summaryFor({ ...task, roundId: 2, modelVersion: 2 }, values[1] / 3);
      const ia = new Int16Array(a.buffer.slice(24));
      const ib = new Int16Array(b.buffer.slice(24));
      const update = new Float32Array(LENGTH).map((_, i) => (ia[i] / task.scale + ib[i] / task.scale) / 2);
      const fresh = v2.slice();
      make().apply(fresh, update);
      expect(Math.abs(fresh[0] - expected[0]), make().name).toBeGreaterThan(1e-4);
    }
  });
});

describe('embedded store log', () => {
  it('cuts a torn last record (a crash mid-write, never acknowledged) so later uploads stay readable', async () => {
    const where = newWhere('file');
    const first = await start({ kind: 'file', where, maxParticipants: 5 });
    const c1 = new FederatedHttpClient(first.base);
    const a = await checkInTask(c1);
    const b = await checkInTask(c1);
    await c1.uploadSummary(a.task.roundId, a.token, summaryFor(a.task, 0.01));
    await first.stop();
    // half a summary record: an intact header promising 1000 payload bytes, 10 of them written
    const torn = Buffer.concat(encodeRecord(SUMMARY_ACCEPTED, b.token, new Uint8Array(1000))).subarray(0, RECORD_HEADER + 32 + 10);
    appendFileSync(join(where, 'rounds', `r${a.task.roundId}.log`), torn);

    const second = await start({ kind: 'file', where, maxParticipants: 5 });
    expect(second.agg.status().round?.accepted).toBe(1);
    await new FederatedHttpClient(second.base).uploadSummary(b.task.roundId, b.token, summaryFor(b.task, 0.03));
    await second.stop();
    const third = await start({ kind: 'file', where, maxParticipants: 5 });
    expect(third.agg.status().round?.accepted).toBe(2);
    expect(await third.agg.closeRoundNow()).toBe(true);
    expect((await new FederatedHttpClient(third.base).downloadModel(2)).weights[0]).toBeCloseTo(0.5 + 0.02, 3);
  });
});

describe('embedded store group commit', () => {
  it('acknowledges concurrent uploads with fewer fdatasync calls than uploads, each after its batch is durable', async () => {
    const store = new FileStore(newWhere('file'));
    const agg = await createAggregator({ initialWeights: new Float32Array(LENGTH).fill(0.5), store, strategy: new FedAvg(1), minParticipants: 1, maxParticipants: 40 });
    const server = createServer(async (req, res) => void (await agg.handle(req, res)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await agg.close();
    });
    const client = new FederatedHttpClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const tasks = [];
    for (let i = 0; i < 30; i++) tasks.push(await checkInTask(client));
    const before = store.logStats();
    await Promise.all(tasks.map((t) => client.uploadSummary(t.task.roundId, t.token, summaryFor(t.task, 0.001))));
    const after = store.logStats();
    expect(after.records - before.records).toBe(30);
    expect(after.syncs - before.syncs).toBeLessThan(30);
    expect(agg.status().round?.accepted).toBe(30);
  });
});

describe('embedded store upgrade', () => {
  it('reads a data directory written by the previous layout without losing its accepted upload', async () => {
    // the previous FileStore's files, as it wrote them: state at the top level, tokens in
    // state.json, log records [u16 token length][token][u32 length][summary]
    const where = newWhere('file');
    const probe = await start({ kind: 'file', where: newWhere('file') });
    const c = new FederatedHttpClient(probe.base);
    const a = await checkInTask(c);
    const b = await checkInTask(c);
    await probe.stop();
    mkdirSync(join(where, 'models'), { recursive: true });
    mkdirSync(join(where, 'rounds'), { recursive: true });
    writeFileSync(join(where, 'models', 'v1.f32'), new Uint8Array(new Float32Array(LENGTH).fill(0.5).buffer));
    const round = { id: a.task.roundId, modelVersion: 1, task: a.task, settings: { clipNorm: 1, clientNoiseStd: 0 }, normBound: 2, tokens: { [a.token]: true, [b.token]: false } };
    writeFileSync(join(where, 'state.json'), JSON.stringify({ modelVersion: 1, nextRoundId: 2, round, strategy: {}, accountant: new RdpAccountant().toJSON(), history: [] }));
    const summary = summaryFor(a.task, 0.01);
    const rec = Buffer.alloc(2 + 32 + 4);
    rec.writeUInt16LE(32, 0);
    rec.write(a.token, 2);
    rec.writeUInt32LE(summary.length, 34);
    writeFileSync(join(where, 'rounds', `r${a.task.roundId}.log`), Buffer.concat([rec, summary]));

    const s = await start({ kind: 'file', where });
    expect(s.agg.status().round).toMatchObject({ id: a.task.roundId, selected: 2, accepted: 1 });
    const client = new FederatedHttpClient(s.base);
    const dup = await post(s.base, `/fl/v1/rounds/${a.task.roundId}/summary`, summary, a.token);
    expect(dup.status).toBe(409);
    await client.uploadSummary(b.task.roundId, b.token, summaryFor(b.task, 0.03));
    expect(await s.agg.closeRoundNow()).toBe(true);
    expect((await client.downloadModel(2)).weights[0]).toBeCloseTo(0.52, 3);
  });
});

/** deltas summed as the server hands them to a sum strategy */
function summed(deltas: Float32Array[], withinClip: number): SummedUpdates {
  const sum = new Float64Array(deltas[0].length);
  for (const d of deltas) d.forEach((v, i) => (sum[i] += v));
  return { sum, count: deltas.length, withinClip, noiseStd: 0 };
}

describe('aggregation strategies', () => {
  it('adaptive clipping shrinks C when most updates are within it and grows it when most are clipped', () => {
    for (const [withinClip, direction] of [[true, -1], [false, 1]] as const) {
      const strategy = new DpFedAvg({ noiseMultiplier: 1, initialClipNorm: 1 });
      const settings = strategy.clientSettings(400);
      const round = summed(Array.from({ length: 400 }, () => new Float32Array(3).fill(0.001)), withinClip ? 400 : 0);
      const { noiseMultiplier } = strategy.aggregate(round, { expectedCohort: 400, settings, sensitivity: 1, random: mulberry32(5) });
      expect(noiseMultiplier).toBe(1);
      // C ← C·exp(−0.2(b̃ − 0.5)), b̃ ≈ 1 or 0 ± 0.05
      expect(Math.sign(strategy.currentClipNorm - 1)).toBe(direction);
      expect(Math.abs(Math.log(strategy.currentClipNorm))).toBeGreaterThan(0.07);
    }
  });

  it('DP-FedAvg soft-thresholds the noised mean at k noise stds: noise-only coordinates stay put, signal survives', () => {
    const n = 400;
    const length = 20_000;
    const run = (denoiseThreshold: number) => {
      const strategy = new DpFedAvg({ noiseMultiplier: 1, initialClipNorm: 1, adaptiveClipping: false, denoiseThreshold });
      // coordinate 0 carries a signal far above the noise, every other one none
      const delta = new Float32Array(length);
      delta[0] = 0.5;
      return strategy.aggregate(summed(Array.from({ length: n }, () => delta), n), { expectedCohort: n, settings: strategy.clientSettings(n), sensitivity: 1, random: mulberry32(9) });
    };
    const raw = run(0);
    const denoised = run(2);
    // noise std of the mean: z·C/n
    expect(raw.noiseStd).toBeCloseTo(1 / n, 6);
    expect(denoised.noiseStd).toBeCloseTo(1 / n, 6);
    const moved = (u: Float32Array) => u.slice(1).filter((x) => x !== 0).length / (length - 1);
    expect(moved(raw.update)).toBe(1);
    // P(|N(0,1)| > 2) = 4.6%
    expect(moved(denoised.update)).toBeGreaterThan(0.03);
    expect(moved(denoised.update)).toBeLessThan(0.06);
    // the same noise draws: the signal coordinate shrinks by exactly λ = 2·noiseStd
    expect(denoised.update[0]).toBeCloseTo(raw.update[0] - 2 / n, 6);
  });

  it('FedAdam with a cosine schedule steps by the rate of the step it is given', () => {
    const lr = cosineDecay(0.04, 0.01, 25);
    expect([lr(0), lr(12), lr(24), lr(30)].map((x) => +x.toFixed(9))).toEqual([0.04, 0.025, 0.01, 0.01]);
    for (const [step, rate] of [[0, 0.04], [12, 0.025], [24, 0.01]]) {
      const w = new Float32Array(1);
      new ServerAdam(lr).apply(w, Float32Array.of(1), 0, step);
      // first Adam step on a constant update: m / √v = 0.1 / 0.1, so the weight moves by the rate
      expect(w[0]).toBeCloseTo(rate, 5);
    }
  });

  it('FedAdam keeps a noise-only coordinate near its place when told the noise std, and still moves a signal one', () => {
    const steps = (noiseStd: number) => {
      const adam = new ServerAdam(0.01, 0.9, 0.99, 1e-6, true);
      const w = new Float32Array(2);
      const random = mulberry32(3);
      for (let r = 0; r < 12; r++) {
        // coordinate 0: signal 10σ plus noise; coordinate 1: noise only (σ = 1e-3)
        const u = Float32Array.of(0.01 + 1e-3 * (random() - 0.5) * 3.4, 1e-3 * (random() - 0.5) * 3.4);
        adam.apply(w, u, noiseStd);
      }
      return w;
    };
    const blind = steps(0);
    const aware = steps(1e-3);
    expect(Math.abs(aware[1])).toBeLessThan(Math.abs(blind[1]) / 2);
    expect(aware[0]).toBeGreaterThan(0.5 * blind[0]);
  });

  it('trimmed mean and median ignore an outlier that plain averaging would follow', () => {
    const deltas = [0.01, 0.012, 0.011, 0.009, 5].map((v) => new Float32Array(4).fill(v));
    const cases: [AggregationStrategy, number][] = [[new TrimmedMean(10, 0.2), 0.02], [new TrimmedMean(10, 0.5), 0.02], [new FedAvg(10), Infinity]];
    for (const [strategy, bound] of cases) {
      const context = { expectedCohort: 5, settings: strategy.clientSettings(5), sensitivity: 10, random: Math.random };
      const { update } = strategy.input === 'sum' ? strategy.aggregate(summed(deltas, 5), context) : strategy.aggregate({ updates: deltas, withinClip: 5 }, context);
      if (bound === Infinity) expect(update[0]).toBeGreaterThan(1);
      else expect(update[0]).toBeLessThan(bound);
    }
  });
});
