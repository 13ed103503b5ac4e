// Federated benchmark: virtual shoppers (one per dataset user) run the SAME client code as
// the browser worker (federated/client.ts + federated/transport.ts) against the real
// aggregation server over loopback HTTP. Reports full-ranking leave-one-out NDCG@10/HR@10
// of the global model after every round, ε, bytes uploaded per client and wall time, next
// to a centrally trained model with the same architecture (1 epoch of Adam by default).
//
//   npm run bench:federated -- --data /work/shared/datasets/ml-1m/ml-1m.txt \
//     [--clients-per-round 50] [--rounds 10] [--dp none|central|distributed] [--epsilon 8]
//     [--users N (first N users only)] [--eval-users 500] [--central-epochs 1] [--json OUT]
//     [--throughput 200 (also time the server's accept path on N synthetic updates)]
//     [--server-optimizer sgd|momentum|adam] [--server-lr LR]
//
// Datasets are research-only: read by path, never copied into the repository.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { noiseForEpsilon } from '../federated/accountant.ts';
import { trainRoundUpdate } from '../federated/client.ts';
import { encodeSummary, flattenWeights, stochasticQuantize, unflattenWeights } from '../federated/summary.ts';
import { FederatedHttpClient } from '../federated/transport.ts';
import { registerWasmPatches } from '../models/backend-patches.ts';
import { ItemTable } from '../models/features.ts';
import { evaluate, leaveOneOut, mulberry32 } from '../models/metrics.ts';
import { makeBatch, SasRec } from '../models/sasrec.ts';
import { createAggregator } from '../server/aggregator.ts';
import { DpFedAvg, FedAvg } from '../server/strategies.ts';
import { ServerAdam, ServerMomentum, ServerSgd } from '../server/server-optimizers.ts';
import { loadDataset } from './datasets.ts';

const { values: args } = parseArgs({
  options: {
    data: { type: 'string' },
    attributes: { type: 'string' },
    'clients-per-round': { type: 'string', default: '50' },
    rounds: { type: 'string', default: '10' },
    dp: { type: 'string', default: 'none' },
    epsilon: { type: 'string', default: '8' },
    users: { type: 'string' },
    'eval-users': { type: 'string', default: '500' },
    'central-epochs': { type: 'string', default: '1' },
    'local-epochs': { type: 'string', default: '1' },
    'local-lr': { type: 'string', default: '0.001' },
    clip: { type: 'string', default: '1' },
    json: { type: 'string' },
    throughput: { type: 'string', default: '0' },
    'server-optimizer': { type: 'string', default: 'sgd' },
    'server-lr': { type: 'string' },
  },
});
if (!args.data) throw new Error('--data PATH is required');
const dpMode = args.dp as 'none' | 'central' | 'distributed';
const clientsPerRound = Number(args['clients-per-round']);
const rounds = Number(args.rounds);

await tf.setBackend('wasm');
registerWasmPatches();

const data = loadDataset(args.data, args.attributes ? { attributesPath: args.attributes } : {});
const sequences = args.users ? data.sequences.slice(0, Number(args.users)) : data.sequences;
const split = leaveOneOut(sequences);
const rand = mulberry32(7);
const evalCases = split.test.slice().sort(() => rand() - 0.5).slice(0, Number(args['eval-users']));
const users = split.train.filter((s) => s.length >= 2);
const delta = 1 / sequences.length;
console.log(`${data.name}: ${sequences.length} users, ${data.itemKeys.length - 1} items; evaluating on ${evalCases.length} users`);

const model = new SasRec();
const table = new ItemTable(model.config.features, data.itemKeys.slice(1).map((key, i) => ({ key, attrs: data.itemAttrs[i + 1] ?? [] })));
const tableTensor = tf.tensor2d(table.rows, [table.size, table.width], 'int32') as tf.Tensor2D;
const initialWeights = await model.getWeights();

async function evaluateWeights(weights: readonly Float32Array[]): Promise<{ ndcg10: number; hr10: number }> {
  model.setWeights(weights);
  const items = model.itemEmbeddings(tableTensor);
  const r = await evaluate(evalCases, table.size, (h) => model.scoreNext(h, tableTensor, items), { batchSize: 128 });
  items.dispose();
  return { ndcg10: r.full['NDCG@10'], hr10: r.full['HR@10'] };
}

// ---- centralised reference: same model, trained on everyone's training prefixes ----
// (--central-epochs 0 skips it, e.g. when comparing several federated settings)
const t0 = performance.now();
const centralEpochs = Number(args['central-epochs']);
let central: { ndcg10: number; hr10: number } | null = null;
if (centralEpochs > 0) {
  const opt = tf.train.adam(1e-3);
  for (let e = 0; e < centralEpochs; e++) {
    const order = users.map((_, i) => i).sort(() => rand() - 0.5);
    for (let s = 0; s < order.length; s += 128) model.trainStep(opt, makeBatch(order.slice(s, s + 128).map((i) => users[i]), model.config.maxLen), tableTensor);
  }
  central = await evaluateWeights(await model.getWeights());
  console.log(`centralised (${centralEpochs} epoch): NDCG@10 ${central.ndcg10.toFixed(4)} HR@10 ${central.hr10.toFixed(4)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
}
const centralSeconds = (performance.now() - t0) / 1000;
model.setWeights(initialWeights);

// ---- federated: the real server on loopback ----
const selectionProbability = Math.min(1, clientsPerRound / users.length);
const noiseMultiplier = dpMode === 'none' ? 0 : noiseForEpsilon(selectionProbability, rounds, Number(args.epsilon), delta);
/** FedAvg's plain step (lr 1), FedAvgM or FedAdam (Reddi et al. 2021) on the averaged delta */
function serverOptimizer() {
  const lr = args['server-lr'] === undefined ? undefined : Number(args['server-lr']);
  if (args['server-optimizer'] === 'adam') return new ServerAdam(lr ?? 0.01);
  if (args['server-optimizer'] === 'momentum') return new ServerMomentum(lr ?? 1, 0.9);
  return new ServerSgd(lr ?? 1);
}
const dataDir = mkdtempSync(join(tmpdir(), 'silo-bench-fl-'));
const aggregator = await createAggregator({
  initialWeights: flattenWeights(initialWeights),
  dataDir,
  strategy: dpMode === 'none' ? new FedAvg(Number(args.clip)) : new DpFedAvg({ noiseMultiplier, initialClipNorm: Number(args.clip), noiseMode: dpMode }),
  serverOptimizer: serverOptimizer(),
  minParticipants: 1,
  maxParticipants: clientsPerRound * 2,
  roundDurationMs: 24 * 3600_000,
  // every user checks in once per round; the server selects each with probability q
  selectionProbability,
  training: { epochs: Number(args['local-epochs']), learningRate: Number(args['local-lr']), batchSize: 16, optimizer: 'adam' },
  bits: 16,
  delta,
});
const server = createServer(async (req, res) => {
  if (!(await aggregator.handle(req, res))) res.writeHead(404).end();
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const client = new FederatedHttpClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
console.log(`federated: ${clientsPerRound} clients/round (q = ${selectionProbability.toFixed(4)}), ${rounds} rounds, dp ${dpMode}${dpMode === 'none' ? '' : `, z = ${noiseMultiplier.toFixed(3)}, δ = 1/${sequences.length}`}`);

const perRound: { round: number; participants: number; ndcg10: number; hr10: number; epsilon: number | null; bytesPerClient: number; seconds: number }[] = [];
const personalModel = new SasRec(); // the shopper's own model: restored after every round update
const tf0 = performance.now();
for (let r = 0; r < rounds; r++) {
  const roundStart = performance.now();
  const startVersion = aggregator.status().modelVersion;
  let bytes = 0;
  let uploads = 0;
  let cached: { version: number; weights: Float32Array[] } | null = null;
  const order = users.map((_, i) => i).sort(() => rand() - 0.5);
  for (const u of order) {
    if (aggregator.status().modelVersion !== startVersion) break; // the round closed
    const answer = await client.checkIn();
    if (answer.status !== 'task' || !answer.token) continue;
    const task = answer.task;
    if (!cached || cached.version !== task.modelVersion) {
      const m = await client.downloadModel(task.modelVersion);
      cached = { version: m.version, weights: unflattenWeights(m.weights, initialWeights) };
    }
    const { summary } = await trainRoundUpdate({ model: personalModel, globalWeights: cached.weights, task, sequences: [users[u]], table: tableTensor });
    await client.uploadSummary(task.roundId, answer.token, summary);
    bytes += summary.length;
    uploads++;
  }
  // Poisson sampling may select fewer than the cap: every user has checked in, so end the
  // round as its deadline would
  if (aggregator.status().modelVersion === startVersion && !aggregator.closeRoundNow()) throw new Error(`round ${r + 1}: no participant`);
  const latest = await client.downloadModel('latest');
  const metrics = await evaluateWeights(unflattenWeights(latest.weights, initialWeights));
  const st = aggregator.status();
  const row = { round: r + 1, participants: uploads, ...metrics, epsilon: st.privacy.epsilon, bytesPerClient: uploads ? bytes / uploads : 0, seconds: (performance.now() - roundStart) / 1000 };
  perRound.push(row);
  console.log(`round ${row.round}: NDCG@10 ${row.ndcg10.toFixed(4)} HR@10 ${row.hr10.toFixed(4)} ε ${row.epsilon?.toFixed(3) ?? '—'} upload ${(row.bytesPerClient / 1024).toFixed(0)} KiB/client (${row.seconds.toFixed(0)} s)`);
}
const federatedSeconds = (performance.now() - tf0) / 1000;
await new Promise<void>((r) => server.close(() => r()));
await aggregator.close();
rmSync(dataDir, { recursive: true, force: true });

// ---- server accept-path throughput: decode + validate + durable append + streaming sum ----
let throughput: { updates: number; seconds: number; updatesPerSecond: number; rssGrowthMiB: number } | null = null;
const nThroughput = Number(args.throughput);
if (nThroughput > 0) {
  const dir = mkdtempSync(join(tmpdir(), 'silo-bench-tp-'));
  const length = flattenWeights(initialWeights).length;
  const agg = await createAggregator({ initialWeights: flattenWeights(initialWeights), dataDir: dir, strategy: new FedAvg(1), minParticipants: 1, maxParticipants: nThroughput + 1, selectionProbability: 1, bits: 16, roundDurationMs: 3600_000 });
  const srv = createServer(async (req, res) => {
    if (!(await agg.handle(req, res))) res.writeHead(404).end();
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const c = new FederatedHttpClient(`http://127.0.0.1:${(srv.address() as AddressInfo).port}`);
  const tasks = [];
  for (let i = 0; i < nThroughput; i++) {
    const a = await c.checkIn();
    if (a.status === 'task' && a.token) tasks.push({ task: a.task, token: a.token });
  }
  const vec = new Float32Array(length).fill(0.5 / Math.sqrt(length));
  const body = encodeSummary({ withinClip: true, roundId: tasks[0].task.roundId, modelVersion: tasks[0].task.modelVersion, scale: tasks[0].task.scale }, stochasticQuantize(vec, tasks[0].task.scale, 16, mulberry32(1)));
  const rss0 = process.memoryUsage().rss;
  const s0 = performance.now();
  for (const t of tasks) await c.uploadSummary(t.task.roundId, t.token, body);
  const seconds = (performance.now() - s0) / 1000;
  throughput = { updates: tasks.length, seconds, updatesPerSecond: tasks.length / seconds, rssGrowthMiB: (process.memoryUsage().rss - rss0) / 2 ** 20 };
  console.log(`server accept path: ${tasks.length} updates of ${length} values (${(body.length / 1024).toFixed(0)} KiB) in ${seconds.toFixed(1)} s = ${throughput.updatesPerSecond.toFixed(1)} updates/s, RSS growth ${throughput.rssGrowthMiB.toFixed(0)} MiB`);
  await new Promise<void>((r) => srv.close(() => r()));
  await agg.close();
  rmSync(dir, { recursive: true, force: true });
}

const last = perRound[perRound.length - 1];
const result = {
  dataset: data.name, users: sequences.length, evalUsers: evalCases.length, dp: dpMode, noiseMultiplier, delta,
  clientsPerRound, rounds, central: central && { ...central, seconds: centralSeconds }, perRound,
  final: last && { ...last, ndcgVsCentral: central ? last.ndcg10 / central.ndcg10 : null }, federatedSeconds, throughput,
  parameterCount: model.parameterCount,
};
console.log(`final: federated NDCG@10 ${last?.ndcg10.toFixed(4)}${central ? ` = ${(((last?.ndcg10 ?? 0) / central.ndcg10) * 100).toFixed(1)}% of centralised` : ''}; federated wall time ${federatedSeconds.toFixed(0)} s`);
if (args.json) writeFileSync(args.json, JSON.stringify(result, null, 2));
