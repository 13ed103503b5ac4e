// Secure-aggregation cost: `npm run bench:vdaf -- [--only popularity|model|sweep] [--reps 5]
//   [--length 65536] [--max-weight 20] [--chunks 258,1041,256] [--model-length 226600]
//   [--bits 8] [--model-chunks 1773] [--model-reps 1] [--sweep 1024,2048,4096,16384]
//   [--browser] [--json OUT]`
// Single-threaded, one report at a time. Client: shard + prove (Prio3), then HPKE-seal both
// shares. Each aggregator: HPKE-open its share, then verify_init (the helper first expands its
// seed); then one verifier-share combine and verify_next. Prints medians over --reps reports
// (one unrecorded warm-up first) and reports/s per core = 1000 / the aggregator's median ms.
// Each phase is timed twice: wall clock, and this process's CPU time (process.cpuUsage, user +
// system), which stays meaningful on a shared, overloaded machine; the per-core rates use CPU.
// --browser also times the client (shard + prove + seal) in a module Web Worker in headless
// Chromium (wall clock only: the browser exposes no CPU clock).
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { beginVerify, combineVerifierShares, finishVerify, openShare } from '../federated/secure/aggregator.ts';
import { generateAggregatorKeyPair } from '../federated/secure/hpke.ts';
import { type ShardedReport, decodeReport, decodeReportShare, encodeReportShare, modelUpdateReport, popularityReport, sealReport } from '../federated/secure/report.ts';
import { type SecureTask, defaultChunkLength } from '../federated/secure/task.ts';

const { values: args } = parseArgs({
  options: {
    only: { type: 'string' },
    reps: { type: 'string', default: '5' },
    length: { type: 'string', default: '65536' },
    'max-weight': { type: 'string', default: '20' },
    chunks: { type: 'string' },
    'model-length': { type: 'string', default: '226600' },
    bits: { type: 'string', default: '8' },
    'model-chunks': { type: 'string' },
    'model-reps': { type: 'string', default: '1' },
    sweep: { type: 'string', default: '1024,2048,4096,8192,16384' },
    json: { type: 'string' },
    browser: { type: 'boolean', default: false },
  },
});

const ints = (s: string) => s.split(',').map((x) => Number(x.trim()));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const taskId = crypto.getRandomValues(new Uint8Array(32));
const verifyKey = crypto.getRandomValues(new Uint8Array(32));
const leaderKeys = await generateAggregatorKeyPair(1);
const helperKeys = await generateAggregatorKeyPair(2);

const PHASES = ['shard', 'seal', 'leaderOpen', 'leaderVerify', 'helperOpen', 'helperVerify', 'combineFinish'] as const;
type Phase = (typeof PHASES)[number];
interface Sample {
  wallMs: Record<Phase, number>;
  cpuMs: Record<Phase, number>;
  uploadBytes: number;
}

/** Times each phase in wall-clock and CPU milliseconds. */
class PhaseTimer {
  readonly wallMs = {} as Record<Phase, number>;
  readonly cpuMs = {} as Record<Phase, number>;
  private wall = performance.now();
  private cpu = process.cpuUsage();

  lap(phase: Phase): void {
    const wall = performance.now();
    const cpu = process.cpuUsage();
    this.wallMs[phase] = wall - this.wall;
    this.cpuMs[phase] = (cpu.user - this.cpu.user + cpu.system - this.cpu.system) / 1000;
    this.wall = wall;
    this.cpu = cpu;
  }
}

async function timeReport(task: SecureTask, makeReport: () => ShardedReport): Promise<Sample> {
  const t = new PhaseTimer();
  const sharded = makeReport();
  t.lap('shard');
  const upload = await sealReport(sharded, { leader: leaderKeys.config, helper: helperKeys.config });
  t.lap('seal');
  const report = decodeReport(upload);
  const s0 = await openShare(task, leaderKeys, 'leader', report);
  t.lap('leaderOpen');
  const v0 = beginVerify(task, verifyKey, 'leader', report, s0);
  t.lap('leaderVerify');
  const forwarded = decodeReportShare(encodeReportShare(report));
  const s1 = await openShare(task, helperKeys, 'helper', forwarded);
  t.lap('helperOpen');
  const v1 = beginVerify(task, verifyKey, 'helper', forwarded, s1);
  t.lap('helperVerify');
  const message = combineVerifierShares(task, v0.verifierShare, v1.verifierShare);
  finishVerify(task, v0.state, message);
  finishVerify(task, v1.state, message);
  t.lap('combineFinish');
  return { wallMs: t.wallMs, cpuMs: t.cpuMs, uploadBytes: upload.length };
}

const results: Record<string, unknown>[] = [];

async function runCase(label: string, task: SecureTask, makeReport: () => ShardedReport, reps: number, warmUp: boolean): Promise<void> {
  if (warmUp) await timeReport(task, makeReport);
  const samples: Sample[] = [];
  for (let i = 0; i < reps; i++) samples.push(await timeReport(task, makeReport));
  const med = (kind: 'wallMs' | 'cpuMs') =>
    Object.fromEntries(PHASES.map((p) => [p, median(samples.map((x) => x[kind][p]))])) as Record<Phase, number>;
  const wall = med('wallMs');
  const cpu = med('cpuMs');
  const prep = (c: Record<Phase, number>, role: 'leader' | 'helper') =>
    c[`${role}Open`] + c[`${role}Verify`] + c.combineFinish / 2;
  const leaderCpu = prep(cpu, 'leader');
  const helperCpu = prep(cpu, 'helper');
  const row = {
    label,
    reps,
    chunkLength: task.params.chunkLength,
    uploadBytes: median(samples.map((x) => x.uploadBytes)),
    shardProveWallMs: wall.shard,
    shardProveCpuMs: cpu.shard,
    leaderPrepCpuMs: leaderCpu,
    helperPrepCpuMs: helperCpu,
    leaderReportsPerCoreSecond: 1000 / leaderCpu,
    helperReportsPerCoreSecond: 1000 / helperCpu,
    // Without the HPKE open: the VDAF's own share of the aggregator's work.
    helperVdafOnlyReportsPerCoreSecond: 1000 / (helperCpu - cpu.helperOpen),
    medianWallMs: wall,
    medianCpuMs: cpu,
  };
  const f = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
  console.log(
    `${label.padEnd(40)} chunk ${String(row.chunkLength).padStart(5)}  upload ${(row.uploadBytes / 1024).toFixed(0).padStart(6)} KiB` +
      `  shard+prove cpu ${f(cpu.shard)} ms (wall ${f(wall.shard)})  seal cpu ${f(cpu.seal)} ms` +
      `  leader cpu ${f(leaderCpu)} ms = ${f(row.leaderReportsPerCoreSecond)}/core·s  helper cpu ${f(helperCpu)} ms = ${f(row.helperReportsPerCoreSecond)}/core·s (VDAF only ${f(row.helperVdafOnlyReportsPerCoreSecond)})`,
  );
  results.push(row);
}

function popularityCase(length: number, maxWeight: number, chunkLength: number) {
  const task: SecureTask = { taskId, params: { kind: 'popularity', length, maxWeight, chunkLength } };
  const buckets = () => new Set(Array.from({ length: maxWeight }, () => Math.floor(Math.random() * length)));
  return { task, make: () => popularityReport(buckets(), { taskId, length, maxWeight, chunkLength }) };
}

function modelCase(length: number, bits: number, chunkLength: number) {
  const task: SecureTask = { taskId, params: { kind: 'model-update', length, bits, chunkLength } };
  const half = 2 ** (bits - 1);
  const update = () => Array.from({ length }, () => Math.floor(Math.random() * 2 * half) - half);
  return { task, make: () => modelUpdateReport(update(), { taskId, bits, chunkLength }) };
}

const reps = Number(args.reps);
const maxWeight = Number(args['max-weight']);
const bitsForWeight = maxWeight.toString(2).length;
console.log(`vdaf bench: node ${process.version}, ${cpus()[0]?.model ?? 'cpu'} × ${cpus().length}, load ${loadavg()[0].toFixed(2)}`);

if (!args.only || args.only === 'popularity') {
  const length = Number(args.length);
  const chunks = args.chunks ? ints(args.chunks) : [defaultChunkLength(length + bitsForWeight), Math.round(Math.sqrt(length + bitsForWeight))];
  for (const c of chunks) {
    const { task, make } = popularityCase(length, maxWeight, c);
    await runCase(`popularity length ${length}, maxWeight ${maxWeight}`, task, make, reps, true);
  }
}
if (!args.only || args.only === 'sweep') {
  for (const length of ints(args.sweep)) {
    const { task, make } = popularityCase(length, maxWeight, defaultChunkLength(length + bitsForWeight));
    await runCase(`popularity length ${length}, maxWeight ${maxWeight}`, task, make, reps, true);
  }
}
if (!args.only || args.only === 'model') {
  const length = Number(args['model-length']);
  const bits = Number(args.bits);
  const chunks = args['model-chunks'] ? ints(args['model-chunks']) : [defaultChunkLength(length * bits)];
  for (const c of chunks) {
    const { task, make } = modelCase(length, bits, c);
    await runCase(`model update length ${length}, ${bits} bits`, task, make, Number(args['model-reps']), false);
  }
}

if (args.browser) {
  const length = Number(args.length);
  const modelLength = 4096;
  const timings = await browserClientTimes({ length, maxWeight, reps, modelLength, bits: Number(args.bits) });
  for (const [label, ms] of Object.entries(timings)) {
    console.log(`browser worker: ${label.padEnd(40)} shard+prove median ${median(ms.shard).toFixed(0)} ms, seal ${median(ms.seal).toFixed(0)} ms (wall)`);
    results.push({ label: `browser ${label}`, shardProveWallMs: median(ms.shard), sealWallMs: median(ms.seal), reps });
  }
}

if (args.json) {
  mkdirSync(dirname(args.json), { recursive: true });
  writeFileSync(args.json, JSON.stringify({ node: process.version, cpu: cpus()[0]?.model, loadavg: loadavg(), results }, null, 2));
}

/** Bundles the client for the browser and times it inside a module Worker in headless Chromium. */
async function browserClientTimes(p: { length: number; maxWeight: number; reps: number; modelLength: number; bits: number }) {
  const { build } = await import('esbuild');
  const { launchChromium } = await import('../scripts/chromium.ts');
  const root = fileURLToPath(new URL('..', import.meta.url));
  const worker = `
    import { modelUpdateReport, popularityReport, sealReport } from './federated/secure/report.ts';
    import { generateAggregatorKeyPair } from './federated/secure/hpke.ts';
    self.onmessage = async ({ data: p }) => {
      const configs = { leader: (await generateAggregatorKeyPair(1)).config, helper: (await generateAggregatorKeyPair(2)).config };
      const taskId = crypto.getRandomValues(new Uint8Array(32));
      const cases = {
        ['popularity length ' + p.length + ', maxWeight ' + p.maxWeight]: () =>
          popularityReport(Array.from({ length: p.maxWeight }, () => Math.floor(Math.random() * p.length)), { taskId, length: p.length, maxWeight: p.maxWeight }),
        ['model update length ' + p.modelLength + ', ' + p.bits + ' bits']: () =>
          modelUpdateReport(Array.from({ length: p.modelLength }, () => Math.floor(Math.random() * 2 ** p.bits) - 2 ** (p.bits - 1)), { taskId, bits: p.bits }),
      };
      const out = {};
      for (const [label, make] of Object.entries(cases)) {
        out[label] = { shard: [], seal: [] };
        for (let i = 0; i <= p.reps; i++) {
          const t0 = performance.now();
          const sharded = make();
          const t1 = performance.now();
          await sealReport(sharded, configs);
          const t2 = performance.now();
          if (i > 0) { out[label].shard.push(t1 - t0); out[label].seal.push(t2 - t1); }
        }
      }
      self.postMessage(out);
    };`;
  const bundle = await build({ stdin: { contents: worker, resolveDir: root, loader: 'ts' }, bundle: true, format: 'esm', platform: 'browser', write: false });
  const code = bundle.outputFiles[0].text;
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    // A secure origin, so the worker has WebCrypto.
    await page.route('https://bench.silo.test/', (route) => route.fulfill({ body: '<!doctype html><title>vdaf</title>', contentType: 'text/html' }));
    await page.goto('https://bench.silo.test/');
    return await page.evaluate(
      ({ code, p }) =>
        new Promise<Record<string, { shard: number[]; seal: number[] }>>((resolve, reject) => {
          const w = new Worker(URL.createObjectURL(new Blob([code], { type: 'text/javascript' })), { type: 'module' });
          w.onmessage = (e) => resolve(e.data);
          w.onerror = (e) => reject(new Error(e.message));
          w.postMessage(p);
        }),
      { code, p },
    );
  } finally {
    await browser.close();
  }
}
