// The quality a shopper actually gets from the private path, end to end:
//   1. global model: federated rounds with the browser's client code against the real
//      aggregation server over loopback, DP with central noise (total ε ≤ --epsilon per
//      shopper including the popularity release, δ 1e-6);
//   2. + on-device update: for every test user, the worker's own fine-tuning (Recommender.train,
//      its default 8 steps) on the history before the target, starting from the global model;
//   3. + the released popularity prior (β chosen on validation);
//   4. + nearest neighbours over public item features (γ, β chosen on validation).
// Beside them: the same architecture trained centrally with early stopping on validation, and
// the centralised item-to-item transition baseline (models/baselines.ts). Full-ranking
// leave-one-out HR@10/NDCG@10 on the test item; each stage's gain over the previous one with
// a 95% paired bootstrap interval over the test users.
//
//   npm run bench:private -- --data FILE [--attributes FILE] [--epsilon 8] [--json OUT]
//     [--metadata TSV (item features from a metadata table, as ML-1M's)]
//     [--preset recommended|beauty|ml-1m|quick] [--users N] [--rounds R] [--clients-per-round C]
//     [--central-epochs E (cap; 0 skips the reference)] [--test-users all|N] [--validation-users N]
//     [--device-schedule catch-up|replay] [--device-threads 2 (worker threads for the per-shopper updates)]
//
// Datasets are research-only: read by path, never copied into the repository.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { TransitionModel } from '../models/baselines.ts';
import { registerWasmPatches } from '../models/backend-patches.ts';
import { ItemTable } from '../models/features.ts';
import { evaluate, leaveOneOut, mulberry32, pairedBootstrapRatio } from '../models/metrics.ts';
import { SasRec } from '../models/sasrec.ts';
import { BROWSER_MODEL } from '../workers/recommender.ts';
import { loadDataset } from './datasets.ts';
import { trainCentral } from './private/central.ts';
import { runFederation } from './private/federation.ts';
import { AttributeNeighbours } from './private/neighbours.ts';
import { DevicePool } from './private/device-pool.ts';
import { PRESETS } from './private/presets.ts';
import { describeStage, stageReports } from './private/report.ts';
import { bestOnValidation, metricsOf, rankVariants, type StageMetrics, type Variant, variantKey } from './private/stages.ts';

const { values: args } = parseArgs({
  options: {
    data: { type: 'string' },
    attributes: { type: 'string' },
    metadata: { type: 'string' },
    epsilon: { type: 'string' },
    json: { type: 'string' },
    preset: { type: 'string', default: 'recommended' },
    users: { type: 'string' },
    rounds: { type: 'string' },
    'clients-per-round': { type: 'string' },
    'central-epochs': { type: 'string' },
    'test-users': { type: 'string' },
    'validation-users': { type: 'string' },
    'device-schedule': { type: 'string' },
    'device-threads': { type: 'string' },
  },
});
const preset = PRESETS[args.preset!];
if (!preset) throw new Error(`--preset must be one of ${Object.keys(PRESETS).join(', ')}`);
const positive = (name: string, v: string | undefined, allowZero = false) => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1)) throw new Error(`--${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer, not ${v}`);
  return n;
};
const config = {
  ...preset,
  data: args.data ?? preset.data,
  attributes: args.attributes ?? preset.attributes,
  metadata: args.metadata ?? preset.metadata,
  users: positive('users', args.users) ?? preset.users,
  federation: {
    ...preset.federation,
    epsilon: args.epsilon === undefined ? preset.federation.epsilon : Number(args.epsilon),
    rounds: positive('rounds', args.rounds) ?? preset.federation.rounds,
    clientsPerRound: positive('clients-per-round', args['clients-per-round']) ?? preset.federation.clientsPerRound,
  },
  central: { ...preset.central, maxEpochs: positive('central-epochs', args['central-epochs'], true) ?? preset.central.maxEpochs },
  device: { schedule: (args['device-schedule'] ?? preset.device.schedule) as 'catch-up' | 'replay', threads: positive('device-threads', args['device-threads']) ?? preset.device.threads },
  validationUsers: positive('validation-users', args['validation-users']) ?? preset.validationUsers,
  testUsers: args['test-users'] === undefined ? preset.testUsers : args['test-users'] === 'all' ? ('all' as const) : positive('test-users', args['test-users'])!,
};
if (!config.data) throw new Error('--data FILE is required (or a --preset that names one)');
if (!(config.federation.epsilon > 0)) throw new Error(`--epsilon must be positive, not ${args.epsilon}`);
if (config.federation.priorEpsilon !== null && config.federation.priorEpsilon >= config.federation.epsilon) throw new Error(`--epsilon ${config.federation.epsilon} leaves nothing for the model rounds after the popularity release's ε ${config.federation.priorEpsilon}`);
if (!['catch-up', 'replay'].includes(config.device.schedule)) throw new Error('--device-schedule must be catch-up or replay');
if (config.federation.delta > 1e-6) throw new Error('δ must be at most 1e-6');

const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 60_000).toFixed(1)} min`;
const log = (line: string) => console.log(`[${elapsed()}] ${line}`);
await tf.setBackend('wasm');
registerWasmPatches();

const data = loadDataset(config.data, { ...(config.attributes ? { attributesPath: config.attributes } : {}), ...(config.metadata ? { metadataPath: config.metadata } : {}) });
const sequences = config.users ? data.sequences.slice(0, config.users) : data.sequences;
const split = leaveOneOut(sequences);
const shuffled = <T>(xs: readonly T[], seed: number) => {
  const rand = mulberry32(seed);
  return xs.map((x) => ({ x, k: rand() })).sort((a, b) => a.k - b.k).map((e) => e.x);
};
const testCases = config.testUsers === 'all' ? split.test : shuffled(split.test, 7).slice(0, config.testUsers);
const validationCases = shuffled(split.validation, 8).slice(0, config.validationUsers);
const numItems = data.itemKeys.length;
log(`${data.name}: ${sequences.length} users, ${numItems - 1} items; ${testCases.length} test users, ${validationCases.length} validation users (preset ${args.preset})`);

const globalModel = new SasRec(BROWSER_MODEL);
const table = new ItemTable(globalModel.config.features, data.itemKeys.slice(1).map((key, i) => ({ key, attrs: data.itemAttrs[i + 1] ?? [] })));
const tableTensor = tf.tensor2d(table.rows, [table.size, table.width], 'int32') as tf.Tensor2D;
log(`browser model: ${globalModel.parameterCount} parameters`);

const result: Record<string, unknown> = { partial: true, dataset: data.name, users: sequences.length, testUsers: testCases.length, validationUsers: validationCases.length, preset: args.preset, config };
const save = () => {
  if (args.json) writeFileSync(args.json, JSON.stringify(result, (_, v) => (v instanceof Float64Array ? undefined : v), 2));
};

// ---- the centralised item-to-item baseline (cheap, so first) ----
const transitions = new TransitionModel(split.train, numItems);
const itemToItem = (await evaluate(testCases, numItems, (h) => transitions.score(h), { batchSize: 128 })).full;
result.itemToItem = { 'NDCG@10': itemToItem['NDCG@10'], 'HR@10': itemToItem['HR@10'] };
log(`item-to-item transitions (centralised): NDCG@10 ${itemToItem['NDCG@10'].toFixed(4)} HR@10 ${itemToItem['HR@10'].toFixed(4)}`);
save();

// ---- stage 1: the global model, trained privately ----
const fed = await runFederation(globalModel, tableTensor, data.itemKeys, split.train, config.federation, log, mulberry32(9));
tf.tidy(() => globalModel.setWeights(fed.weights));
Object.assign(result, { epsilon: fed.epsilon, delta: config.federation.delta, federation: { ...fed, weights: undefined, prior: undefined } });
log(`federated done: ε ${fed.epsilon.toFixed(3)} at δ ${config.federation.delta} (server's ledger: ${fed.serverEpsilon?.toFixed(3)}), ${fed.meanUploadBytes.toFixed(0)} B per upload`);
save();

// ---- weights of the additive signals, chosen on validation ----
const device = await DevicePool.create(config.device.threads, globalModel.config, table.rows, [table.size, table.width], fed.weights, config.device.schedule);
log(`on-device update: the worker's Recommender.train, ${device.settings.steps} steps, Adam lr ${device.settings.learningRate}, ${config.device.schedule}, on ${config.device.threads} threads`);
const neighbours = new AttributeNeighbours(data.itemAttrs);
const inputs = { globalModel, table: tableTensor, device, prior: fed.prior, neighbours: neighbours.informative ? neighbours : null };
const BETAS = fed.prior ? [0, 0.25, 0.5, 1, 2, 4, 8] : [0];
const GAMMAS = inputs.neighbours ? [0, 1, 2, 4, 8, 16, 32] : [0];
const grid: Variant[] = [
  ...BETAS.map((beta): Variant => ({ base: 'global', beta, gamma: 0 })),
  ...BETAS.flatMap((beta) => GAMMAS.map((gamma): Variant => ({ base: 'device', beta, gamma }))),
];
/** a log line about every 1,024 cases (rankVariants reports after each batch of 128) */
const progress = (what: string, total: number) => {
  let logged = 0;
  return (done: number) => {
    if (done - logged < 1024 && done < total) return;
    logged = done;
    log(`${what}: ${done}/${total}`);
  };
};
const validationRanks = await rankVariants(validationCases, grid, inputs, progress('validation', validationCases.length));
const pick = (filter: (v: Variant) => boolean) => bestOnValidation(grid.filter(filter), validationRanks);
const chosen = {
  globalPrior: pick((v) => v.base === 'global'),
  prior: pick((v) => v.base === 'device' && v.gamma === 0),
  neighbours: pick((v) => v.base === 'device'),
};
const validation = Object.fromEntries(grid.map((v) => [variantKey(v), metricsOf(validationRanks.get(variantKey(v))!)['NDCG@10']]));
result.validation = { chosen, ndcg10: validation };
log(`validation NDCG@10: global ${validation[variantKey(grid[0])].toFixed(4)}, on-device ${validation[variantKey({ base: 'device', beta: 0, gamma: 0 })].toFixed(4)}; prior β ${chosen.prior.variant.beta} → ${chosen.prior.ndcg10.toFixed(4)}; with neighbours β ${chosen.neighbours.variant.beta} γ ${chosen.neighbours.variant.gamma} → ${chosen.neighbours.ndcg10.toFixed(4)}`);
save();

// ---- the stages on test ----
const stageVariants: [string, Variant][] = [
  ['global', { base: 'global', beta: 0, gamma: 0 }],
  ['on-device', { base: 'device', beta: 0, gamma: 0 }],
  ...(fed.prior ? [['popularity-prior', chosen.prior.variant] as [string, Variant]] : []),
  ...(inputs.neighbours ? [['feature-neighbours', chosen.neighbours.variant] as [string, Variant]] : []),
];
const testVariants = [...stageVariants.map(([, v]) => v), chosen.globalPrior.variant];
const testRanks = await rankVariants(testCases, testVariants, inputs, progress('test', testCases.length));
await device.close();
const stageMetrics: [string, StageMetrics][] = stageVariants.map(([name, v]) => [name, metricsOf(testRanks.get(variantKey(v))!)]);
const stages = stageReports(stageMetrics);
const final = stageMetrics[stageMetrics.length - 1][1];
const globalWithPrior = metricsOf(testRanks.get(variantKey(chosen.globalPrior.variant))!);
Object.assign(result, { stages, final: { 'NDCG@10': final['NDCG@10'], 'HR@10': final['HR@10'] }, globalWithPrior: { beta: chosen.globalPrior.variant.beta, 'NDCG@10': globalWithPrior['NDCG@10'], 'HR@10': globalWithPrior['HR@10'] } });
log('stages on test (each gain over the stage before it):');
for (const [name, r] of Object.entries(stages)) console.log(`  ${describeStage(name, r)}`);
console.log(`  (aside: global + prior at β ${chosen.globalPrior.variant.beta}: NDCG@10 ${globalWithPrior['NDCG@10'].toFixed(4)} HR@10 ${globalWithPrior['HR@10'].toFixed(4)})`);
save();

// ---- the centralised reference ----
if (config.central.maxEpochs > 0) {
  const central = await trainCentral(BROWSER_MODEL, tableTensor, split.train, validationCases, config.central, log);
  tf.tidy(() => globalModel.setWeights(central.weights));
  const centralRanks = await rankVariants(testCases, [{ base: 'global', beta: 0, gamma: 0 }], { ...inputs, device: null });
  const c = metricsOf([...centralRanks.values()][0]);
  const vsCentral = pairedBootstrapRatio(final.perUserNdcg10, c.perUserNdcg10);
  result.centralised = { 'NDCG@10': c['NDCG@10'], 'HR@10': c['HR@10'], bestEpoch: central.bestEpoch, epochsRun: central.epochsRun, converged: central.converged, validationNdcg10: central.validationNdcg10, seconds: central.seconds, finalVsCentral: vsCentral };
  log(`centralised (same architecture, best of ${central.epochsRun} epochs at epoch ${central.bestEpoch}${central.converged ? ', stopped on validation' : ', stopped at the epoch cap'}): NDCG@10 ${c['NDCG@10'].toFixed(4)} HR@10 ${c['HR@10'].toFixed(4)}; the private path's final stage is ${(vsCentral.ratio * 100).toFixed(1)}% of it (95% paired bootstrap ${(vsCentral.low * 100).toFixed(1)}–${(vsCentral.high * 100).toFixed(1)}%)`);
}
result.partial = false;
result.seconds = (performance.now() - started) / 1000;
save();
log(`done: private path NDCG@10 ${final['NDCG@10'].toFixed(4)} HR@10 ${final['HR@10'].toFixed(4)} at ε ${fed.epsilon.toFixed(3)}, δ ${config.federation.delta}; item-to-item ${itemToItem['NDCG@10'].toFixed(4)}`);
