// Federated benchmark: virtual shoppers (one per dataset user) run the SAME client code as
// the browser worker (federated/client.ts + federated/transport.ts) against the real
// aggregation server over loopback HTTP. Reports full-ranking leave-one-out NDCG@10/HR@10
// of the global model after every round, ε, bytes uploaded per client and wall time, next
// to a centrally trained model with the same architecture (1 epoch of Adam by default).
// The model is the browser worker's (BROWSER_MODEL) unless --model says otherwise.
//
//   npm run bench:federated -- --data /work/shared/datasets/beauty/Beauty.txt \
//     --attributes /work/shared/datasets/beauty/Beauty_item2attributes.json \
//     [--clients-per-round 50] [--rounds 10] [--dp none|central|distributed] [--epsilon 8]
//     [--users N (first N users only)] [--eval-users all|N (default all: every user's test target, the
//     published protocol; a random N of them is quicker and noisier)] [--eval-every 5] [--central-steps S | --central-epochs E]
//     [--central-lr 0.002] [--central-id-rows trained|frozen|zero] [--model browser|browser-522k|browser-ids2048|default] [--bits 8|16|32]
//     [--local-epochs 1] [--local-optimizer adam|sgd] [--local-lr LR] [--clip C] [--clip-quantile γ (DP: adaptive clipping's target
//     fraction of unclipped updates; default 0.5)]
//     [--server-optimizer sgd|momentum|adam] [--server-lr LR] [--server-lr-final LR2 (FedAdam: cosine decay
//      from LR to LR2 over the rounds)] [--server-tau T] [--denoise K (DP: soft-threshold
//     the noised mean at K noise stds and raise FedAdam's τ to the noise std; default 0 = off)] [--max-minutes M] [--json OUT]
//     [--throughput 200 (also time the server's accept path on N synthetic updates)]
//     [--prior-epsilon E (first run the server's popularity round: every user uploads its ≤ 20
//      most recent distinct training items, the server releases the noised counts at ε E alone;
//      the model rounds are calibrated so that both together stay within --epsilon, and the
//      final models are also scored with β·log(1 + count) added, β chosen on validation and
//      the server's published weight)] [--prior-buckets 65536]
//     [--save-weights PREFIX (write the final centralised / global weights, flat float32, to
//      PREFIX-central.f32 / PREFIX-federated.f32 for later analysis)] [--save-rounds (with
//      --save-weights: also every round's global model, PREFIX-round-N.f32)]
//     [--accountant rdp|pld (pld: calibrate the rounds' noise with the PLD accountant, which
//      is tighter, and have the server report its ε; default rdp)]
//     [--score-weights FILE[,FILE…] (also score weights written by --save-weights, with the prior;
//      FILE may be A.f32+B.f32+… to score the element-wise mean of several, e.g. the last rounds;
//      each file after the first gets its NDCG@10 ratio to the first with a 95% paired bootstrap
//      interval over the test users)]
//
// Datasets are research-only: read by path, never copied into the repository.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { computeRdp, DEFAULT_ORDERS, noiseForEpsilon, rdpToDp } from '../federated/accountant.ts';
import { trainRoundUpdate } from '../federated/client.ts';
import { type GaussianRounds, pldEpsilon, pldNoiseForEpsilon } from '../federated/pld.ts';
import { popularityBucket, popularitySummary } from '../federated/popularity.ts';
import { flattenWeights, unflattenWeights } from '../federated/summary.ts';
import { type CheckInResult, FederatedHttpClient } from '../federated/transport.ts';
import { registerWasmPatches } from '../models/backend-patches.ts';
import { ItemTable } from '../models/features.ts';
import { type EvalCase, evaluate, leaveOneOut, mulberry32, ndcgAtRank, pairedBootstrapRatio, type RatioInterval } from '../models/metrics.ts';
import { makeBatch, SasRec } from '../models/sasrec.ts';
import { createAggregator } from '../server/aggregator.ts';
import { DpFedAvg, FedAvg } from '../server/strategies.ts';
import { ServerAdam, ServerMomentum, ServerSgd } from '../server/server-optimizers.ts';
import { cosineDecay } from './cosine-decay.ts';
import { loadDataset } from './datasets.ts';
import { idRowsPin } from './federated/id-rows.ts';
import { MODELS, parseFederatedArgs } from './federated/options.ts';
import { readSavedWeights } from './federated/saved-weights.ts';
import { measureAcceptPath, type Throughput } from './federated/throughput.ts';
import { inProcessCheckIn } from './private/check-in.ts';

const args = parseFederatedArgs();
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
const evalUsers = args['eval-users'] === 'all' ? split.test.length : Number(args['eval-users']);
if (!Number.isInteger(evalUsers) || evalUsers < 1) throw new Error(`--eval-users must be 'all' or a positive integer, not ${args['eval-users']}`);
// the whole test list is shuffled whatever N is, so rand's later draws (training order, client
// sampling) do not depend on --eval-users
const evalCases = split.test.slice().sort(() => rand() - 0.5).slice(0, evalUsers);
const users = split.train.filter((s) => s.length >= 2);
const delta = 1 / sequences.length;
console.log(`${data.name}: ${sequences.length} users, ${data.itemKeys.length - 1} items; evaluating on ${evalCases.length} users`);

const modelConfig = MODELS[args.model!];
if (!modelConfig) throw new Error(`--model must be one of ${Object.keys(MODELS).join(', ')}`);
const bits = Number(args.bits) as 8 | 16 | 32;
if (![8, 16, 32].includes(bits)) throw new Error('--bits must be 8, 16 or 32');
const evalEvery = Math.max(1, Number(args['eval-every']));
const clipQuantile = args['clip-quantile'] === undefined ? undefined : Number(args['clip-quantile']);
if (clipQuantile !== undefined && !(clipQuantile > 0 && clipQuantile < 1)) throw new Error('--clip-quantile must be between 0 and 1');
if (clipQuantile !== undefined && args.dp === 'none') throw new Error('--clip-quantile is adaptive clipping under DP; it needs --dp central or distributed');
const maxMs = args['max-minutes'] ? Number(args['max-minutes']) * 60_000 : Infinity;
const model = new SasRec(modelConfig);
console.log(`model ${args.model}: ${model.parameterCount} parameters; ${bits}-bit summaries`);
const table = new ItemTable(model.config.features, data.itemKeys.slice(1).map((key, i) => ({ key, attrs: data.itemAttrs[i + 1] ?? [] })));
const tableTensor = tf.tensor2d(table.rows, [table.size, table.width], 'int32') as tf.Tensor2D;
const initialWeights = await model.getWeights();

/**
 * Full-ranking NDCG@10/HR@10 of `weights` on `cases`, and each case's NDCG@10 (for paired
 * comparisons; left out of --json); with `prior`, β·prior[item] is added to every score.
 */
async function evaluateWeights(weights: readonly Float32Array[], cases: readonly EvalCase[] = evalCases, prior?: { scores: Float32Array; beta: number }): Promise<{ ndcg10: number; hr10: number; perUserNdcg10: Float64Array }> {
  tf.tidy(() => model.setWeights(weights)); // tidy frees setWeights' temporaries
  const items = model.itemEmbeddings(tableTensor);
  const r = await evaluate(cases, table.size, async (h) => {
    const scores = await model.scoreNext(h, tableTensor, items);
    if (prior && prior.beta !== 0) for (let i = 0; i < scores.length; i++) scores[i] += prior.beta * prior.scores[i % table.size];
    return scores;
  }, { batchSize: 128 });
  items.dispose();
  return { ndcg10: r.full['NDCG@10'], hr10: r.full['HR@10'], perUserNdcg10: Float64Array.from(r.fullRanks, (rank) => ndcgAtRank(rank)) };
}

// ---- optional popularity prior: the server's popularity round, released once ----
// Each user's ≤ 20 most recent distinct training items count once (L2 sensitivity √20); the
// server adds Gaussian noise and accounts the release in the same ledger as the model rounds.
const PRIOR_MAX_ITEMS = 20;
const priorEpsilon = args['prior-epsilon'] === undefined ? null : Number(args['prior-epsilon']);
const priorNoise = priorEpsilon === null ? null : noiseForEpsilon(1, 1, priorEpsilon, delta);
const priorRdp = priorNoise === null ? undefined : computeRdp(1, priorNoise, 1);
/** log(1 + max(0, count)) per item index, from the server's release; set by the popularity round below */
let prior: Float32Array | null = null;
let priorRelease: { version: number; weight: number; participants: number; seconds: number } | null = null;
// β is chosen on 5,000 validation targets (each user's second-to-last item), never on test
const pickValidation = mulberry32(8);
const validationCases = split.validation.slice().sort(() => pickValidation() - 0.5).slice(0, 5000);
const PRIOR_BETAS = [0, 0.25, 0.5, 1, 2, 4];
async function withPrior(weights: readonly Float32Array[]) {
  if (!prior || !priorRelease) return null;
  const tuning = [];
  for (const beta of PRIOR_BETAS) {
    const { ndcg10, hr10 } = await evaluateWeights(weights, validationCases, { scores: prior, beta });
    tuning.push({ beta, ndcg10, hr10 });
  }
  const best = tuning.reduce((a, b) => (b.ndcg10 > a.ndcg10 ? b : a));
  const test = await evaluateWeights(weights, evalCases, { scores: prior, beta: best.beta });
  // what a deployment gets without tuning: the weight the server publishes with the release
  const published = best.beta === priorRelease.weight ? test : await evaluateWeights(weights, evalCases, { scores: prior, beta: priorRelease.weight });
  console.log(`  + DP popularity prior (ε ${priorEpsilon} alone, z ${priorNoise!.toFixed(3)}): β ${best.beta} (validation NDCG@10 ${tuning.map((t) => `${t.beta}: ${t.ndcg10.toFixed(4)}`).join(', ')}) → test NDCG@10 ${test.ndcg10.toFixed(4)} HR@10 ${test.hr10.toFixed(4)}; at the published β ${priorRelease.weight}: NDCG@10 ${published.ndcg10.toFixed(4)} HR@10 ${published.hr10.toFixed(4)}`);
  return { beta: best.beta, tuning, 'NDCG@10': test.ndcg10, 'HR@10': test.hr10, perUserNdcg10: test.perUserNdcg10, publishedBeta: { beta: priorRelease.weight, 'NDCG@10': published.ndcg10, 'HR@10': published.hr10 } };
}

// ---- federated: the real server on loopback ----
const selectionProbability = Math.min(1, clientsPerRound / users.length);
const accountant = args.accountant as 'rdp' | 'pld';
if (!['rdp', 'pld'].includes(accountant)) throw new Error('--accountant must be rdp or pld');
const priorRounds: GaussianRounds[] = priorNoise === null ? [] : [{ q: 1, noiseMultiplier: priorNoise, count: 1 }];
const noiseMultiplier = dpMode === 'none' ? 0
  : accountant === 'pld' ? pldNoiseForEpsilon(selectionProbability, rounds, Number(args.epsilon), delta, priorRounds)
  : noiseForEpsilon(selectionProbability, rounds, Number(args.epsilon), delta, 'improved', priorRdp);
/** FedAvg's plain step (lr 1), FedAvgM or FedAdam (Reddi et al. 2021) on the averaged delta */
function serverOptimizer() {
  const lr = args['server-lr'] === undefined ? undefined : Number(args['server-lr']);
  // 0.01, not ServerAdam's default 0.02: the runs made before that default used it, so their
  // recorded commands without --server-lr still reproduce (the presets all set it)
  if (args['server-lr-final'] !== undefined && args['server-optimizer'] !== 'adam') throw new Error('--server-lr-final needs --server-optimizer adam');
  const schedule = args['server-lr-final'] === undefined ? (lr ?? 0.01) : cosineDecay(lr ?? 0.01, Number(args['server-lr-final']), rounds);
  if (args['server-optimizer'] === 'adam') return new ServerAdam(schedule, 0.9, 0.99, Number(args['server-tau']), Number(args.denoise ?? 0) > 0);
  if (args['server-optimizer'] === 'momentum') return new ServerMomentum(lr ?? 1, 0.9);
  return new ServerSgd(lr ?? 1);
}
const dataDir = mkdtempSync(join(tmpdir(), 'silo-bench-fl-'));
const aggregator = await createAggregator({
  initialWeights: flattenWeights(initialWeights),
  dataDir,
  strategy: dpMode === 'none' ? new FedAvg(Number(args.clip)) : new DpFedAvg({
    noiseMultiplier,
    initialClipNorm: Number(args.clip),
    noiseMode: dpMode,
    ...(args.denoise === undefined ? {} : { denoiseThreshold: Number(args.denoise) }),
    ...(clipQuantile === undefined ? {} : { targetUnclippedQuantile: clipQuantile }),
  }),
  serverOptimizer: serverOptimizer(),
  minParticipants: 1,
  // no cap that could bind (every user may be selected): the accountant's Poisson sampling
  // holds with sensitivity C; the fixed denominator is the cohort the sampling aims at
  maxParticipants: users.length,
  population: users.length,
  expectedCohort: clientsPerRound,
  roundDurationMs: 24 * 3600_000,
  // every user checks in once per round; the server selects each with probability q
  selectionProbability,
  training: { epochs: Number(args['local-epochs']), learningRate: Number(args['local-lr']), batchSize: 16, optimizer: args['local-optimizer'] === 'sgd' ? 'sgd' : 'adam' },
  bits,
  delta,
  accountant,
  // the popularity round first (prior), then only model rounds
  ...(priorNoise === null ? {} : { popularity: { noiseMultiplier: priorNoise, buckets: Number(args['prior-buckets']), maxItems: PRIOR_MAX_ITEMS, everyRounds: rounds + 1, maxParticipants: sequences.length, selectionProbability: 1 } }),
});
const server = createServer(async (req, res) => {
  if (!(await aggregator.handle(req, res))) res.writeHead(404).end();
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const client = new FederatedHttpClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
/** `--checkin in-process` (default) skips the TCP/HTTP layer for the many check-ins (bench/private/check-in.ts) */
async function checkIn(): Promise<CheckInResult> {
  return args.checkin === 'http' ? client.checkIn() : inProcessCheckIn(aggregator);
}

if (priorNoise !== null) {
  // ---- the popularity round: every user uploads its indicator, the same code as the worker ----
  const t = performance.now();
  let participants = 0;
  for (const seq of split.train) {
    const answer = await checkIn();
    if (answer.status !== 'task' || !answer.token) continue;
    if (answer.task.kind !== 'popularity') throw new Error(`expected the popularity round first, got a ${answer.task.kind} round`);
    await client.uploadSummary(answer.task.roundId, answer.token, popularitySummary(answer.task, seq.map((i) => data.itemKeys[i])));
    participants++;
  }
  // the last upload may have filled the round (every user took part): it has closed itself
  if (!(await aggregator.fetchStatus()).popularity && !(await aggregator.closeRoundNow())) throw new Error('popularity round released nothing');
  const release = await client.downloadPopularity();
  prior = new Float32Array(table.size);
  for (let i = 1; i < table.size; i++) prior[i] = Math.log1p(Math.max(0, release.counts[popularityBucket(data.itemKeys[i], release.counts.length)]));
  priorRelease = { version: release.version, weight: release.weight, participants, seconds: (performance.now() - t) / 1000 };
  const st = await aggregator.fetchStatus();
  console.log(`popularity round: ${participants} users, ${release.counts.length} buckets, z ${priorNoise.toFixed(3)}, ε ${st.privacy.epsilon?.toFixed(3)} (${priorRelease.seconds.toFixed(0)} s)`);
}
const scored: { file: string; 'NDCG@10': number; 'HR@10': number; perUserNdcg10: Float64Array; prior: Awaited<ReturnType<typeof withPrior>>; vsFirst?: { ndcg10: RatioInterval; withPrior: RatioInterval | null } }[] = [];
for (const file of args['score-weights']?.split(',') ?? []) {
  const weights = unflattenWeights(readSavedWeights(file), initialWeights);
  const m = await evaluateWeights(weights);
  console.log(`${file}: NDCG@10 ${m.ndcg10.toFixed(4)} HR@10 ${m.hr10.toFixed(4)}`);
  scored.push({ file, 'NDCG@10': m.ndcg10, 'HR@10': m.hr10, perUserNdcg10: m.perUserNdcg10, prior: await withPrior(weights) });
}
// every file after the first against the first (e.g. a reference), on the same test users
for (const s of scored.slice(1)) {
  const first = scored[0];
  const withPriorBoth = s.prior && first.prior ? pairedBootstrapRatio(s.prior.perUserNdcg10, first.prior.perUserNdcg10) : null;
  s.vsFirst = { ndcg10: pairedBootstrapRatio(s.perUserNdcg10, first.perUserNdcg10), withPrior: withPriorBoth };
  const pct = (r: RatioInterval) => `${(r.ratio * 100).toFixed(1)}% (95% paired bootstrap ${(r.low * 100).toFixed(1)}–${(r.high * 100).toFixed(1)}%)`;
  console.log(`${s.file} / ${first.file}: NDCG@10 ${pct(s.vsFirst.ndcg10)}${withPriorBoth ? `; each with its prior: ${pct(withPriorBoth)}` : ''}`);
}
tf.tidy(() => model.setWeights(initialWeights)); // the centralised reference starts from scratch

// ---- centralised reference: same model, trained on everyone's training prefixes ----
// Budget: --central-steps Adam steps of 128 sequences (default: the federated run's planned
// sequence-steps, rounds × clients-per-round × local epochs / 128, so both see the same
// number of per-user gradient evaluations), scored at four checkpoints; --central-epochs E
// instead trains E epochs; --central-epochs 0 skips it.
const t0 = performance.now();
const centralEpochs = Number(args['central-epochs']);
const centralSteps = args['central-steps'] !== undefined
  ? Number(args['central-steps'])
  : args['central-epochs'] !== undefined
    ? centralEpochs * Math.ceil(users.length / 128)
    : Math.round((rounds * clientsPerRound * Number(args['local-epochs'])) / 128);
let central: { ndcg10: number; hr10: number; steps: number } | null = null;
let centralPrior: Awaited<ReturnType<typeof withPrior>> = null;
const centralCurve: { steps: number; ndcg10: number; hr10: number; prior: Awaited<ReturnType<typeof withPrior>> }[] = [];
if (centralSteps > 0) {
  const opt = tf.train.adam(Number(args['central-lr']));
  const pinIdRows = idRowsPin(model, args['central-id-rows']!);
  pinIdRows?.();
  const checkpoints = new Set([1, 2, 3, 4].map((k) => Math.round((centralSteps * k) / 4)));
  let order: number[] = [];
  for (let step = 1; step <= centralSteps; step++) {
    if (order.length < 128) order = order.concat(users.map((_, i) => i).sort(() => rand() - 0.5)); // next epoch
    model.trainStep(opt, makeBatch(order.splice(0, 128).map((i) => users[i]), model.config.maxLen), tableTensor);
    pinIdRows?.();
    if (checkpoints.has(step)) {
      const weights = await model.getWeights();
      const m = await evaluateWeights(weights);
      console.log(`centralised after ${step} steps (${((step * 128) / users.length).toFixed(2)} epochs): NDCG@10 ${m.ndcg10.toFixed(4)} HR@10 ${m.hr10.toFixed(4)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
      centralCurve.push({ steps: step, ...m, prior: await withPrior(weights) });
    }
  }
  const { prior: lastPrior, ...lastCentral } = centralCurve[centralCurve.length - 1];
  central = lastCentral;
  centralPrior = lastPrior;
  if (args['save-weights']) writeFileSync(`${args['save-weights']}-central.f32`, flattenWeights(await model.getWeights()));
}
const centralSeconds = (performance.now() - t0) / 1000;
tf.tidy(() => model.setWeights(initialWeights));

console.log(`federated: ${clientsPerRound} clients/round (q = ${selectionProbability.toFixed(4)}), ${rounds} rounds, dp ${dpMode}${dpMode === 'none' ? '' : `, z = ${noiseMultiplier.toFixed(3)}, δ = 1/${sequences.length}`}`);

const perRound: { round: number; participants: number; ndcg10: number | null; hr10: number | null; epsilon: number | null; bytesPerClient: number; modelStep: number; seconds: number }[] = [];
const personalModel = new SasRec(modelConfig); // the shopper's own model: restored after every round update
const tf0 = performance.now();
let previousGlobal = flattenWeights(initialWeights);
for (let r = 0; r < rounds; r++) {
  if (performance.now() - tf0 > maxMs) {
    console.log(`stopping after ${r} rounds: --max-minutes ${args['max-minutes']} reached`);
    break;
  }
  const roundStart = performance.now();
  const startVersion = aggregator.status().modelVersion;
  let bytes = 0;
  let uploads = 0;
  let cached: { version: number; weights: Float32Array[] } | null = null;
  const order = users.map((_, i) => i).sort(() => rand() - 0.5);
  const time = { checkIn: 0, train: 0, upload: 0 };
  for (const u of order) {
    let t = performance.now();
    const answer = await checkIn();
    time.checkIn += performance.now() - t;
    if (answer.status !== 'task' || !answer.token) continue;
    const task = answer.task;
    if (!cached || cached.version !== task.modelVersion) {
      const m = await client.downloadModel(task.modelVersion);
      cached = { version: m.version, weights: unflattenWeights(m.weights, initialWeights) };
    }
    t = performance.now();
    const { summary } = await trainRoundUpdate({ model: personalModel, globalWeights: cached.weights, task, sequences: [users[u]], table: tableTensor });
    time.train += performance.now() - t;
    t = performance.now();
    await client.uploadSummary(task.roundId, answer.token, summary);
    time.upload += performance.now() - t;
    bytes += summary.length;
    uploads++;
    // only an upload can fill the round (its deadline is a day away)
    if (aggregator.status().modelVersion !== startVersion) break;
  }
  // Poisson sampling may select fewer than the cap: every user has checked in, so end the
  // round as its deadline would
  if (aggregator.status().modelVersion === startVersion && !(await aggregator.closeRoundNow())) throw new Error(`round ${r + 1}: no participant`);
  const latest = await client.downloadModel('latest');
  // how far the global model moved this round: a federated run that scores 0 must at least move
  let step = 0;
  for (let i = 0; i < latest.weights.length; i++) step += (latest.weights[i] - previousGlobal[i]) ** 2;
  previousGlobal = latest.weights;
  if (args['save-weights'] && args['save-rounds']) writeFileSync(`${args['save-weights']}-round-${r + 1}.f32`, latest.weights);
  const last = r === rounds - 1 || performance.now() - tf0 > maxMs;
  const te = performance.now();
  const metrics = (r + 1) % evalEvery === 0 || last ? await evaluateWeights(unflattenWeights(latest.weights, initialWeights)) : { ndcg10: null, hr10: null };
  const evalSeconds = (performance.now() - te) / 1000;
  const st = aggregator.status();
  const row = { round: r + 1, participants: uploads, ...metrics, epsilon: st.privacy.epsilon, bytesPerClient: uploads ? bytes / uploads : 0, modelStep: Math.sqrt(step), seconds: (performance.now() - roundStart) / 1000 };
  perRound.push(row);
  console.log(`round ${row.round}: ${uploads} clients, NDCG@10 ${row.ndcg10?.toFixed(4) ?? '—'} HR@10 ${row.hr10?.toFixed(4) ?? '—'} ε ${row.epsilon?.toFixed(3) ?? '—'} upload ${row.bytesPerClient} B/client, global step ‖Δw‖ ${row.modelStep.toFixed(4)} (${row.seconds.toFixed(1)} s: check-ins ${(time.checkIn / 1000).toFixed(1)}, training ${(time.train / 1000).toFixed(1)}, uploads ${(time.upload / 1000).toFixed(1)}, eval ${evalSeconds.toFixed(1)})`);
}
const federatedSeconds = (performance.now() - tf0) / 1000;
const federatedPrior = perRound.length ? await withPrior(unflattenWeights(previousGlobal, initialWeights)) : null;
// the whole release: every round the server ran, composed with the prior's histogram
const totalEpsilon = dpMode === 'none' ? (priorRdp ? Infinity : null)
  : accountant === 'pld' ? pldEpsilon([...priorRounds, { q: selectionProbability, noiseMultiplier, count: perRound.length }], delta)
  : rdpToDp(DEFAULT_ORDERS, computeRdp(selectionProbability, noiseMultiplier, perRound.length).map((v, i) => v + (priorRdp?.[i] ?? 0)), delta).epsilon;
if (prior && totalEpsilon !== null && perRound.length) console.log(`ε of the rounds and the prior together: ${totalEpsilon.toFixed(3)} (δ = 1/${sequences.length})`);
if (args['save-weights'] && perRound.length) writeFileSync(`${args['save-weights']}-federated.f32`, previousGlobal);
await new Promise<void>((r) => server.close(() => r()));
await aggregator.close();
rmSync(dataDir, { recursive: true, force: true });

// ---- server accept-path throughput: decode + validate + durable append + streaming sum ----
const nThroughput = Number(args.throughput);
const throughput: Throughput | null = nThroughput > 0 ? await measureAcceptPath(flattenWeights(initialWeights), bits, nThroughput) : null;

const last = perRound[perRound.length - 1] as (typeof perRound)[number] & { ndcg10: number; hr10: number };
const result = {
  dataset: data.name, users: sequences.length, evalUsers: evalCases.length, dp: dpMode, accountant, noiseMultiplier, delta, epsilon: last?.epsilon ?? null,
  model: args.model, bits, args,
  prior: priorRelease && { epsilonAlone: priorEpsilon, noiseMultiplier: priorNoise, maxItemsPerUser: PRIOR_MAX_ITEMS, buckets: Number(args['prior-buckets']), ...priorRelease, totalEpsilon, centralised: centralPrior, federated: federatedPrior },
  scored,
  clientsPerRound, roundsPlanned: rounds, rounds: perRound, centralised: central && { 'NDCG@10': central.ndcg10, 'HR@10': central.hr10, ...central, seconds: centralSeconds, curve: centralCurve, lr: Number(args['central-lr']), batch: 128 },
  final: last && { 'NDCG@10': last.ndcg10, 'HR@10': last.hr10, ...last, ndcgVsCentral: central ? last.ndcg10 / central.ndcg10 : null }, federatedSeconds, throughput,
  parameterCount: model.parameterCount,
};
if (last) console.log(`final: federated NDCG@10 ${last.ndcg10.toFixed(4)}${central ? ` = ${((last.ndcg10 / central.ndcg10) * 100).toFixed(1)}% of centralised` : ''}; federated wall time ${federatedSeconds.toFixed(0)} s`);
// per-user scores stay out of the file (22,363 numbers per model on Beauty)
if (args.json) writeFileSync(args.json, JSON.stringify(result, (_, v) => (v instanceof Float64Array ? undefined : v), 2));
