// A secure popularity round end to end, as `npm start` runs it: `npm run bench:secure -- [--reports 512]
//   [--buckets 4096] [--max-items 20] [--items 12] [--concurrency 16] [--batch 64] [--runs 3] [--json OUT]`
// The leader (the aggregator behind node:http, FileStore) and the helper (`server/main.ts
// --role helper`) each run in their own process on loopback; this process plays the shoppers.
// Each run is one round: check-ins and sealing the reports are not timed (the client's cost is
// bench:vdaf's); then every report is uploaded (the leader checks and stores it: phase
// "upload"), then the operator closes the round (the leader verifies every stored report with
// the helper in batches and both add noise: phase "close"). Reports per second per core is
// reports / CPU seconds (user + system, all threads) of that process over both phases, which
// stays meaningful on a shared machine; wall-clock rates are printed beside.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pool } from './pool.ts';
import { noiseForEpsilon } from '../federated/accountant.ts';
import type { RoundTask } from '../federated/protocol.ts';
import { sealedPopularityReport } from '../federated/secure-popularity.ts';
import { FederatedHttpClient } from '../federated/transport.ts';
import { createAggregator } from '../server/aggregator.ts';
import { FileStore } from '../server/file-store.ts';
import { SecureLeader } from '../server/secure/leader.ts';
import { spawnHelper } from '../server/secure/spawn-helper.ts';

const { values: args } = parseArgs({
  options: {
    reports: { type: 'string', default: '512' },
    buckets: { type: 'string', default: '4096' },
    'max-items': { type: 'string', default: '20' },
    items: { type: 'string', default: '12' },
    concurrency: { type: 'string', default: '16' },
    batch: { type: 'string', default: '64' },
    runs: { type: 'string', default: '3' },
    json: { type: 'string' },
    child: { type: 'string' },
  },
});

interface LeaderConfig {
  dir: string;
  helperUrl: string;
  token: string;
  reports: number;
  buckets: number;
  maxItems: number;
  batch: number;
}

const cpuSecondsOfSelf = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
};

/** user + system CPU seconds of another process, all its threads (Linux /proc). */
function cpuSecondsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

// ---------------- child: the leader ----------------
async function runLeader(cfg: LeaderConfig): Promise<void> {
  const secure = await SecureLeader.create({ dataDir: join(cfg.dir, 'secure'), helperUrl: cfg.helperUrl, helperToken: cfg.token, batchSize: cfg.batch });
  const agg = await createAggregator({
    store: new FileStore(join(cfg.dir, 'store')),
    initialWeights: new Float32Array(16),
    minParticipants: 1,
    maxParticipants: cfg.reports + 1, // the operator closes the round, so the close is timed on its own
    roundDurationMs: 3600_000,
    delta: 1e-6,
    popularity: { noiseMultiplier: noiseForEpsilon(1, 1, 1, 1e-6), buckets: cfg.buckets, maxItems: cfg.maxItems, secure },
  });
  const server = createServer(async (req, res) => {
    if (!(await agg.handle(req, res))) res.writeHead(404).end();
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  process.on('message', (m: { type: string }) => {
    if (m.type === 'close') void agg.closeRoundNow().then((released) => process.send!({ type: 'closed', released, status: agg.status() }));
    else if (m.type === 'exit') {
      server.closeAllConnections();
      server.close();
      void agg.close().then(() => process.exit(0));
    }
  });
  process.send!({ type: 'ready', port: (server.address() as AddressInfo).port });
}

// ---------------- parent: the shoppers ----------------
// extra node flags for both servers, e.g. SILO_BENCH_CHILD_ARGS="--cpu-prof --cpu-prof-dir=/tmp/p"
const childArgs = (process.env.SILO_BENCH_CHILD_ARGS ?? '').split(' ').filter(Boolean);

function startHelper(dir: string, token: string) {
  return spawnHelper({ token, nodeArgs: childArgs, args: ['--port', '0', '--data', dir, '--min-reports', '1'] });
}


interface RunResult {
  uploadSeconds: number;
  closeSeconds: number;
  accepted: number;
  leaderCpuMsPerReport: { upload: number; close: number; total: number };
  helperCpuMsPerReport: number;
  leaderReportsPerCoreSecond: number;
  helperReportsPerCoreSecond: number;
  endToEndReportsPerSecond: number;
}

async function oneRound(run: number, cfg: Omit<LeaderConfig, 'dir' | 'helperUrl' | 'token'>, concurrency: number, items: number): Promise<RunResult> {
  const root = mkdtempSync(join(tmpdir(), 'silo-bench-secure-'));
  const token = randomBytes(24).toString('hex');
  const helper = await startHelper(join(root, 'helper'), token);
  const leaderCfg: LeaderConfig = { ...cfg, dir: join(root, 'leader'), helperUrl: helper.url, token };
  const leader = fork(fileURLToPath(import.meta.url), ['--child', JSON.stringify(leaderCfg)], { execArgv: [...process.execArgv, ...childArgs], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      leader.once('message', (m: { port: number }) => resolve(m.port));
      leader.once('exit', (code) => reject(new Error(`leader exited with ${code}`)));
    });
    const base = `http://127.0.0.1:${port}`;
    const client = new FederatedHttpClient(base);
    const helperConfig = await FederatedHttpClient.fetchHelperConfig(helper.url);
    const sealed = await pool(cfg.reports, concurrency, async (i) => {
      const r = await client.checkIn();
      if (r.status !== 'task' || !r.token) throw new Error(`check-in ${i}: ${r.status}`);
      const keys = Array.from({ length: items }, (_, k) => `run${run}-shopper${i}-item${k}`);
      return { task: r.task as RoundTask, token: r.token, body: await sealedPopularityReport(r.task, keys, helperConfig, helper.url) };
    });
    const cpu0 = { leader: cpuSecondsOf(leader.pid!), helper: cpuSecondsOf(helper.child.pid!) };
    const t0 = performance.now();
    await pool(cfg.reports, concurrency, async (i) => {
      const { task, token, body } = sealed[i];
      const res = await fetch(`${base}/fl/v1/rounds/${task.roundId}/report`, { method: 'POST', body: body as BodyInit, headers: { 'content-type': 'application/octet-stream', 'x-silo-token': token } });
      if (res.status !== 202) throw new Error(`upload ${i}: ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
    });
    const t1 = performance.now();
    const cpu1 = { leader: cpuSecondsOf(leader.pid!), helper: cpuSecondsOf(helper.child.pid!) };
    const closed = new Promise<{ released: boolean; status: { history: { participants: number }[] } }>((resolve) => leader.once('message', resolve as (m: unknown) => void));
    leader.send({ type: 'close' });
    const { released, status } = await closed;
    const t2 = performance.now();
    const cpu2 = { leader: cpuSecondsOf(leader.pid!), helper: cpuSecondsOf(helper.child.pid!) };
    if (!released) throw new Error('the round closed without a release');
    const accepted = status.history.at(-1)!.participants;
    if (accepted !== cfg.reports) throw new Error(`${accepted} of ${cfg.reports} reports accepted`);
    const n = cfg.reports;
    const leaderCpu = cpu2.leader - cpu0.leader;
    const helperCpu = cpu2.helper - cpu1.helper + (cpu1.helper - cpu0.helper);
    return {
      uploadSeconds: (t1 - t0) / 1000,
      closeSeconds: (t2 - t1) / 1000,
      accepted,
      leaderCpuMsPerReport: { upload: ((cpu1.leader - cpu0.leader) * 1000) / n, close: ((cpu2.leader - cpu1.leader) * 1000) / n, total: (leaderCpu * 1000) / n },
      helperCpuMsPerReport: (helperCpu * 1000) / n,
      leaderReportsPerCoreSecond: n / leaderCpu,
      helperReportsPerCoreSecond: n / helperCpu,
      endToEndReportsPerSecond: n / ((t2 - t0) / 1000),
    };
  } finally {
    leader.send({ type: 'exit' });
    helper.child.kill('SIGTERM');
    await new Promise((r) => (leader.exitCode === null ? leader.once('exit', r) : r(null)));
    rmSync(root, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const cfg = { reports: Number(args.reports), buckets: Number(args.buckets), maxItems: Number(args['max-items']), batch: Number(args.batch) };
  const runs = Number(args.runs);
  console.log(`bench:secure ${cfg.reports} reports × ${cfg.buckets} buckets (≤ ${cfg.maxItems} ones, ${args.items} items each), batch ${cfg.batch}, concurrency ${args.concurrency}, runs ${runs}, node ${process.version}, load ${loadavg()[0].toFixed(2)}`);
  const results: RunResult[] = [];
  for (let run = 0; run < runs; run++) {
    const r = await oneRound(run, cfg, Number(args.concurrency), Number(args.items));
    results.push(r);
    console.log(
      `run ${run + 1}: upload ${r.uploadSeconds.toFixed(1)} s, close ${r.closeSeconds.toFixed(1)} s (${r.endToEndReportsPerSecond.toFixed(0)} reports/s end to end); ` +
        `leader ${r.leaderCpuMsPerReport.total.toFixed(2)} ms CPU/report (upload ${r.leaderCpuMsPerReport.upload.toFixed(2)}, close ${r.leaderCpuMsPerReport.close.toFixed(2)}) = ${r.leaderReportsPerCoreSecond.toFixed(0)}/core·s; ` +
        `helper ${r.helperCpuMsPerReport.toFixed(2)} ms = ${r.helperReportsPerCoreSecond.toFixed(0)}/core·s`,
    );
  }
  const summary = {
    ...cfg,
    runs,
    leaderReportsPerCoreSecond: median(results.map((r) => r.leaderReportsPerCoreSecond)),
    helperReportsPerCoreSecond: median(results.map((r) => r.helperReportsPerCoreSecond)),
    endToEndReportsPerSecond: median(results.map((r) => r.endToEndReportsPerSecond)),
    perRun: results,
  };
  console.log(`median: leader ${summary.leaderReportsPerCoreSecond.toFixed(0)}, helper ${summary.helperReportsPerCoreSecond.toFixed(0)} reports/s per core; ${summary.endToEndReportsPerSecond.toFixed(0)} reports/s end to end`);
  if (args.json) {
    mkdirSync(dirname(args.json), { recursive: true });
    writeFileSync(args.json, JSON.stringify(summary, null, 2));
  }
}

if (args.child) await runLeader(JSON.parse(args.child) as LeaderConfig);
else await main();
