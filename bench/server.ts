// Aggregation server throughput: `npm run bench:server -- [--store file|redis] [--clients 1000]
//   [--concurrency 32] [--bytes 262144] [--bits 8] [--runs 5] [--instances 1]
//   [--redis-url redis://…] [--redis-fsync no|always] [--mirror on|off] [--upload-norm 0.9]
//   [--compare-mirror N] [--json OUT]`
// --mirror off: the file store writes its round log once (no rounds/r<N>.mirror.log), only to
// measure what the mirror costs; --compare-mirror N runs N one-round benches with the mirror off
// and on, alternating, and prints both medians and their ratio. --upload-norm: every upload's
// decoded norm as a multiple of C (above 1 the server scales each one down to C).
// The server runs in its own child process(es) (the real aggregator behind node:http, with
// the default DP-FedAvg strategy); this process is N concurrent loopback HTTP uploaders.
// Each run is one round of `clients` participants: check-ins (not timed), then every client
// uploads one summary of `bytes` bytes; the round closes when the last one is accepted
// (the last 202 comes after the close), so the timed span covers decode + validation +
// durable store + streaming sum + DP noise + the new model version. Reports updates/s per
// run and the median, the server's CPU seconds per update, and its RSS before/after each
// round (after a full GC, so it shows what is retained) and the peak (sampled every 250 ms);
// with Redis also its used_memory before the uploads, peak (sampled every 50 ms) and after
// the close, and how many uploads each group-commit script carried.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pool } from './pool.ts';
import type { RoundTask } from '../federated/protocol.ts';
import { encodeSummary, HEADER_BYTES, stochasticQuantize, type ValueBits } from '../federated/summary.ts';
import { mulberry32 } from '../models/metrics.ts';
import { createAggregator } from '../server/aggregator.ts';
import { FileStore } from '../server/file-store.ts';
import { Redis } from 'ioredis';
import { RedisStore } from '../server/redis-store.ts';
import { startRedis } from '../scripts/redis-server.ts';
import { argvWithPreset } from './presets.ts';

const { values: args } = parseArgs({
  args: argvWithPreset('server'),
  options: {
    store: { type: 'string', default: 'file' },
    clients: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '32' },
    bytes: { type: 'string', default: String(256 * 1024) },
    bits: { type: 'string', default: '8' },
    runs: { type: 'string', default: '5' },
    instances: { type: 'string', default: '1' },
    'redis-url': { type: 'string' },
    'redis-fsync': { type: 'string', default: 'no' },
    mirror: { type: 'string', default: 'on' },
    'upload-norm': { type: 'string', default: '0.9' },
    'compare-mirror': { type: 'string' },
    json: { type: 'string' },
    child: { type: 'string' },
  },
});

interface ChildConfig {
  store: 'file' | 'redis';
  where: string;
  length: number;
  bits: ValueBits;
  clients: number;
  mirror: boolean;
}
interface ChildStats {
  rss: number;
  peakRss: number;
  cpuSeconds: number;
  /** Redis store: uploads committed and commit scripts run so far (group commit) */
  commits: { uploads: number; scripts: number } | null;
}

// ---------------- child: one aggregator instance ----------------
if (args.child) {
  const cfg = JSON.parse(args.child) as ChildConfig;
  const store = cfg.store === 'redis' ? new RedisStore(cfg.where, { prefix: 'bench:' }) : new FileStore(cfg.where, { mirror: cfg.mirror });
  const agg = await createAggregator({
    initialWeights: new Float32Array(cfg.length),
    store,
    minParticipants: 1,
    maxParticipants: cfg.clients,
    roundDurationMs: 3600_000,
    bits: cfg.bits,
  });
  const server = createServer(async (req, res) => {
    if (!(await agg.handle(req, res))) res.writeHead(404).end();
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  let peakRss = process.memoryUsage().rss;
  setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 250).unref();
  process.on('message', (m: { type: string }) => {
    if (m.type === 'stats') {
      // after a full GC: what the server retains, not garbage it has not collected yet
      (globalThis as { gc?: () => void }).gc?.();
      const rss = process.memoryUsage().rss;
      const cpu = process.cpuUsage();
      const commits = store instanceof RedisStore ? store.commitStats() : null;
      process.send!({ type: 'stats', stats: { rss, peakRss: Math.max(peakRss, rss), cpuSeconds: (cpu.user + cpu.system) / 1e6, commits } satisfies ChildStats });
      peakRss = rss;
    } else if (m.type === 'exit') {
      server.closeAllConnections();
      server.close();
      void agg.close().then(() => process.exit(0));
    }
  });
  process.send!({ type: 'ready', port: (server.address() as AddressInfo).port });
} else if (args['compare-mirror']) {
  await compareMirror(Number(args['compare-mirror']));
} else {
  await main();
}

/** the file store with its round log mirrored and not, one-round benches alternating; medians and their ratio */
async function compareMirror(reps: number): Promise<void> {
  const passOn = process.argv.slice(2).filter((a, i, all) => a !== '--compare-mirror' && all[i - 1] !== '--compare-mirror' && !a.startsWith('--compare-mirror='));
  const rates: Record<'off' | 'on', number[]> = { off: [], on: [] };
  const dir = mkdtempSync(join(tmpdir(), 'silo-bench-mirror-'));
  for (let rep = 0; rep < reps; rep++) {
    for (const mirror of ['off', 'on'] as const) {
      const out = join(dir, `${mirror}-${rep}.json`);
      await new Promise<void>((resolve, reject) => {
        const child = fork(fileURLToPath(import.meta.url), [...passOn, '--store', 'file', '--runs', '1', '--mirror', mirror, '--json', out], { execArgv: process.execArgv, stdio: 'inherit' });
        child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`bench (mirror ${mirror}) exited with ${code}`))));
      });
      rates[mirror].push((JSON.parse(readFileSync(out, 'utf8')) as { medianUpdatesPerSecond: number }).medianUpdatesPerSecond);
    }
  }
  rmSync(dir, { recursive: true, force: true });
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const [off, on] = [median(rates.off), median(rates.on)];
  console.log(`mirror off: ${rates.off.map((r) => r.toFixed(0)).join(', ')} updates/s (median ${off.toFixed(0)}); mirror on: ${rates.on.map((r) => r.toFixed(0)).join(', ')} (median ${on.toFixed(0)}); on/off = ${(on / off).toFixed(3)}`);
  if (args.json) writeFileSync(args.json, JSON.stringify({ reps, off: rates.off, on: rates.on, medianOff: off, medianOn: on, ratio: on / off }, null, 2));
}

// ---------------- parent: load generator ----------------
type Call = (port: number, method: string, path: string, body: Uint8Array | null, headers?: Record<string, string>) => Promise<{ status: number; json: Record<string, unknown> }>;
type Children = { proc: ChildProcess; port: number }[];

/** where the store lives: a fresh temp dir, or a clean `bench:` prefix on the given or a started Redis */
async function prepareStore(storeKind: 'file' | 'redis'): Promise<{ where: string; redis: Awaited<ReturnType<typeof startRedis>> | null; dataDir: string | null }> {
  let redis: Awaited<ReturnType<typeof startRedis>> | null = null;
  let where: string;
  let dataDir: string | null = null;
  if (storeKind === 'redis') {
    if (args['redis-url']) where = args['redis-url'];
    else {
      redis = await startRedis(args['redis-fsync'] === 'always' ? ['--appendonly', 'yes', '--appendfsync', 'always'] : []);
      where = redis.url;
    }
    // a clean keyspace for the bench prefix
    const r = new RedisStore(where, { prefix: 'bench:' });
    const keys = await r.redis.keys('bench:*');
    if (keys.length) await r.redis.del(...keys);
    await r.close();
  } else {
    dataDir = mkdtempSync(join(tmpdir(), 'silo-bench-server-'));
    where = dataDir;
  }
  return { where, redis, dataDir };
}

/** the server child processes, and a way to ask each for its stats */
async function startChildren(n: number, cfg: ChildConfig): Promise<{ children: Children; stats: () => Promise<ChildStats[]> }> {
  const children: { proc: ChildProcess; port: number }[] = [];
  for (let i = 0; i < n; i++) {
    const proc = fork(fileURLToPath(import.meta.url), ['--child', JSON.stringify(cfg)], { execArgv: [...process.execArgv, '--expose-gc', ...(process.env.SILO_BENCH_CHILD_ARGS ?? '').split(' ').filter(Boolean)], stdio: 'inherit' });
    const port = await new Promise<number>((resolve, reject) => {
      proc.once('message', (m: { type: string; port: number }) => resolve(m.port));
      proc.once('exit', (code) => reject(new Error(`server child exited with ${code}`)));
    });
    children.push({ proc, port });
  }
  const stats = () =>
    Promise.all(
      children.map(
        (c) =>
          new Promise<ChildStats>((resolve) => {
            const on = (m: { type: string; stats: ChildStats }) => {
              if (m.type !== 'stats') return;
              c.proc.off('message', on);
              resolve(m.stats);
            };
            c.proc.on('message', on);
            c.proc.send({ type: 'stats' });
          }),
      ),
    );
  return { children, stats };
}

function caller(agent: Agent): Call {
  return (port, method, path, body, headers = {}) =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method, path, agent, headers: { ...(body ? { 'content-type': 'application/octet-stream', 'content-length': String(body.length) } : {}), ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown> }));
      });
      req.on('error', reject);
      req.end(body ?? undefined);
    });
}

interface RunContext {
  clients: number;
  concurrency: number;
  length: number;
  bits: ValueBits;
  children: Children;
  call: Call;
  stats: () => Promise<ChildStats[]>;
  redisMemory: (() => Promise<number>) | null;
}

/** one round: check-ins, then every client's upload (timed); the row of measurements */
async function oneRun(run: number, ctx: RunContext) {
  const { clients, concurrency, length, bits, children, call, stats, redisMemory } = ctx;
  const nInstances = children.length;
  const empty = new Uint8Array(Buffer.from('{}'));
  const c0 = performance.now();
  const tokens = await pool(clients, concurrency, async (i) => {
    const r = await call(children[i % nInstances].port, 'POST', '/fl/v1/checkin', empty, { 'content-type': 'application/json', 'x-silo-client': '1' });
    if (r.status !== 200 || r.json.status !== 'task') throw new Error(`check-in ${i}: ${JSON.stringify(r.json)}`);
    return { task: r.json.task as RoundTask, token: r.json.token as string };
  });
  const checkInsPerSecond = clients / ((performance.now() - c0) / 1000);
  const task = tokens[0].task;
  // a valid summary for the round: norm ≈ upload-norm·C (default 0.9), stochastically rounded
  const x = new Float32Array(length);
  const rnd = mulberry32(run + 1);
  for (let j = 0; j < length; j++) x[j] = rnd() - 0.5;
  let norm = 0;
  for (const v of x) norm += v * v;
  const f = (Number(args['upload-norm']) * task.clipNorm) / Math.sqrt(norm);
  for (let j = 0; j < length; j++) x[j] *= f;
  const body = encodeSummary({ withinClip: true, roundId: task.roundId, modelVersion: task.modelVersion, scale: task.scale }, stochasticQuantize(x, task.scale, bits, rnd));
  if (body.length !== Number(args.bytes)) throw new Error(`summary is ${body.length} bytes`);
  const s0 = await stats();
  // Redis: its used_memory before the uploads, sampled every 50 ms while they run, after the close
  const redisBefore = redisMemory ? await redisMemory() : 0;
  let redisPeak = redisBefore;
  const sampler = redisMemory && setInterval(() => void redisMemory().then((m) => (redisPeak = Math.max(redisPeak, m))), 50);
  const t0 = performance.now();
  await pool(clients, concurrency, async (i) => {
    const r = await call(children[i % nInstances].port, 'POST', `/fl/v1/rounds/${task.roundId}/summary`, body, { 'x-silo-token': tokens[i].token });
    if (r.status !== 202) throw new Error(`upload ${i}: HTTP ${r.status} ${JSON.stringify(r.json)}`);
  });
  const seconds = (performance.now() - t0) / 1000;
  if (sampler) clearInterval(sampler);
  const s1 = await stats();
  const status = await call(children[0].port, 'GET', '/fl/v1/status', null);
  const history = status.json.history as { roundId: number; participants: number }[];
  const last = history[history.length - 1] as { roundId: number; participants: number | null } | undefined;
  // (the public status leaves a DP round's exact count out: null; every upload was answered 202 and the cap closed the round)
  if (last?.roundId !== task.roundId || (last.participants !== null && last.participants !== clients)) throw new Error(`round ${task.roundId} did not aggregate all ${clients} updates: ${JSON.stringify(last)}`);
  const cpu = s1.reduce((a, s) => a + s.cpuSeconds, 0) - s0.reduce((a, s) => a + s.cpuSeconds, 0);
  const committed = s1.reduce((a, s, k) => a + (s.commits?.uploads ?? 0) - (s0[k].commits?.uploads ?? 0), 0);
  const scripts = s1.reduce((a, s, k) => a + (s.commits?.scripts ?? 0) - (s0[k].commits?.scripts ?? 0), 0);
  const redisAfter = redisMemory ? await redisMemory() : 0;
  const row = {
    checkInsPerSecond,
    updatesPerSecond: clients / seconds,
    seconds,
    cpuSecondsPerUpdate: cpu / clients,
    rssBeforeMiB: s0.reduce((a, s) => a + s.rss, 0) / 2 ** 20,
    rssAfterMiB: s1.reduce((a, s) => a + s.rss, 0) / 2 ** 20,
    peakRssMiB: s1.reduce((a, s) => a + s.peakRss, 0) / 2 ** 20,
    uploadsPerCommit: scripts ? committed / scripts : null,
    redisUsedMemoryMiB: redisMemory ? { before: redisBefore / 2 ** 20, peak: redisPeak / 2 ** 20, after: redisAfter / 2 ** 20 } : null,
  };
  console.log(
    `run ${run + 1}: ${clients} check-ins at ${checkInsPerSecond.toFixed(0)}/s; ${clients} updates in ${seconds.toFixed(2)} s = ${row.updatesPerSecond.toFixed(0)} updates/s; server CPU ${(row.cpuSecondsPerUpdate * 1000).toFixed(2)} ms/update (= ${(1 / row.cpuSecondsPerUpdate).toFixed(0)} updates per CPU-second); server RSS ${row.rssBeforeMiB.toFixed(0)} → ${row.rssAfterMiB.toFixed(0)} MiB (peak ${row.peakRssMiB.toFixed(0)})` +
      (row.uploadsPerCommit ? `; ${row.uploadsPerCommit.toFixed(1)} uploads per Redis commit` : '') +
      (row.redisUsedMemoryMiB ? `; Redis used_memory ${row.redisUsedMemoryMiB.before.toFixed(1)} → peak ${row.redisUsedMemoryMiB.peak.toFixed(1)} → ${row.redisUsedMemoryMiB.after.toFixed(1)} MiB` : ''),
  );
  return row;
}

async function main(): Promise<void> {
  const storeKind = args.store === 'redis' ? 'redis' : 'file';
  const clients = Number(args.clients);
  const concurrency = Number(args.concurrency);
  const bits = Number(args.bits) as ValueBits;
  const length = ((Number(args.bytes) - HEADER_BYTES) * 8) / bits;
  const runs = Number(args.runs);
  const nInstances = Number(args.instances);
  if (!Number.isInteger(length) || length <= 0) throw new Error('--bytes must be 24 + a whole number of values');
  if (storeKind === 'file' && nInstances !== 1) throw new Error('the embedded store serves one instance; use --store redis for several');

  const { where, redis, dataDir } = await prepareStore(storeKind);
  const memoryClient = storeKind === 'redis' ? new Redis(where) : null;
  const redisMemory = memoryClient && (async () => Number(/used_memory:(\d+)/.exec(await memoryClient.info('memory'))![1]));
  const { children, stats } = await startChildren(nInstances, { store: storeKind, where, length, bits, clients, mirror: args.mirror !== 'off' });
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const call = caller(agent);

  const before = await stats();
  const perRun: Awaited<ReturnType<typeof oneRun>>[] = [];
  console.log(`bench:server store=${storeKind}${storeKind === 'file' ? ` mirror=${args.mirror}` : ''}${storeKind === 'redis' ? ` (fsync ${args['redis-url'] ? 'as configured' : args['redis-fsync']})` : ''} instances=${nInstances} clients/round=${clients} concurrency=${concurrency} summary=${(Number(args.bytes) / 1024).toFixed(0)} KiB (${length} values × ${bits} bit) runs=${runs} loadavg=${loadavg()[0].toFixed(2)}`);
  for (let run = 0; run < runs; run++) perRun.push(await oneRun(run, { clients, concurrency, length, bits, children, call, stats, redisMemory }));
  const after = await stats();
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  const result = {
    store: storeKind,
    redisFsync: storeKind === 'redis' ? (args['redis-url'] ? 'external' : args['redis-fsync']) : null,
    instances: nInstances,
    clients,
    concurrency,
    summaryBytes: Number(args.bytes),
    values: length,
    bits,
    loadavg: loadavg(),
    medianUpdatesPerSecond: median(perRun.map((r) => r.updatesPerSecond)),
    medianCheckInsPerSecond: median(perRun.map((r) => r.checkInsPerSecond)),
    medianCpuMsPerUpdate: median(perRun.map((r) => r.cpuSecondsPerUpdate)) * 1000,
    medianUploadsPerRedisCommit: storeKind === 'redis' ? median(perRun.map((r) => r.uploadsPerCommit ?? 0)) : null,
    redisPeakUsedMemoryMiB: storeKind === 'redis' ? Math.max(...perRun.map((r) => r.redisUsedMemoryMiB?.peak ?? 0)) : null,
    serverRssMiB: { before: before.reduce((a, s) => a + s.rss, 0) / 2 ** 20, after: after.reduce((a, s) => a + s.rss, 0) / 2 ** 20, peak: Math.max(...perRun.map((r) => r.peakRssMiB)) },
    perRun,
  };
  console.log(
    `median ${result.medianUpdatesPerSecond.toFixed(0)} updates/s, ${result.medianCpuMsPerUpdate.toFixed(2)} server CPU ms/update; server RSS ${result.serverRssMiB.before.toFixed(0)} MiB before, ${result.serverRssMiB.after.toFixed(0)} MiB after ${runs * clients} updates (peak ${result.serverRssMiB.peak.toFixed(0)})`,
  );
  if (args.json) writeFileSync(args.json, JSON.stringify(result, null, 2));

  agent.destroy();
  await Promise.all(children.map((c) => new Promise<void>((r) => (c.proc.once('exit', () => r()), c.proc.send({ type: 'exit' })))));
  await memoryClient?.quit();
  await redis?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}
