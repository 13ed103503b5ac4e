// Signal against DP noise in one federated round, measured on real clients.
//
// User-level DP-FedAvg releases mean = (Σ clip(Δ_i) + N(0, (z·C)²·I)) / m. The noise part of
// that mean has L2 norm ≈ z·C·√d / m whatever the data; the signal part is the norm of the
// mean of the clipped deltas, which depends on how much the clients agree. This bench trains
// N randomly drawn dataset users with the browser's client code (federated/client.ts) from
// the same global model, and prints:
//   - per-client delta norms (median, mean), split by parameter group (hashed-id rows of the
//     item table, attribute rows, everything else), so a clip bound can be chosen;
//   - the norm of the mean of the clipped deltas, per group, next to 1/√N (what unaligned
//     deltas would give);
//   - for each ε, the noise multiplier the accountant needs at the given cohort and rounds,
//     the noise norm of the mean, and signal / noise.
// (The signal is measured on N clients, the noise computed for a cohort of m: both are norms
// of a mean, and the signal's own sampling noise shrinks like 1/√N.)
//
//   npm run bench:federated-signal -- --data PATH [--attributes PATH] [--clients 300]
//     [--clips 1,0.3] [--local-lr 0.1] [--local-epochs 2] [--cohort 500] [--rounds 12]
//     [--epsilons 2,4,8,16,64,256] [--json OUT]
//
// Datasets are research-only: read by path, never copied into the repository.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { noiseForEpsilon } from '../federated/accountant.ts';
import { localTrainingDelta } from '../federated/client.ts';
import { registerWasmPatches } from '../models/backend-patches.ts';
import { ItemTable } from '../models/features.ts';
import { leaveOneOut, mulberry32 } from '../models/metrics.ts';
import { SasRec } from '../models/sasrec.ts';
import { BROWSER_MODEL } from '../workers/recommender.ts';
import { loadDataset } from './datasets.ts';
import { argvWithPreset } from './presets.ts';

const { values: args } = parseArgs({
  args: argvWithPreset('federated-signal'),
  options: {
    data: { type: 'string' },
    attributes: { type: 'string' },
    clients: { type: 'string', default: '300' },
    clips: { type: 'string', default: '1,0.3' },
    'local-lr': { type: 'string', default: '0.1' },
    'local-epochs': { type: 'string', default: '2' },
    cohort: { type: 'string', default: '500' },
    rounds: { type: 'string', default: '12' },
    epsilons: { type: 'string', default: '2,4,8,16,64,256' },
    seed: { type: 'string', default: '3' },
    json: { type: 'string' },
  },
});
if (!args.data) throw new Error('--data PATH is required');

await tf.setBackend('wasm');
registerWasmPatches();

const data = loadDataset(args.data, { attributesPath: args.attributes });
// train split only: the same sequences the simulation's clients hold
const users = leaveOneOut(data.sequences).train.filter((s) => s.length >= 2);
const model = new SasRec(BROWSER_MODEL);
const table = new ItemTable(
  model.config.features,
  data.itemKeys.slice(1).map((key, i) => ({ key, attrs: data.itemAttrs[i + 1] ?? [] })),
);
const tableTensor = tf.tensor2d(table.rows, [table.size, table.width], 'int32') as tf.Tensor2D;
const globalWeights = await model.getWeights();

// parameter groups: variables[0] is the item feature table, id buckets first (row 0 = padding)
const dim = model.config.dim;
const groups = [
  { name: 'hashed-id rows', end: (1 + model.config.features.idBuckets) * dim },
  { name: 'attribute rows', end: model.variables[0].size },
  { name: 'rest', end: globalWeights.reduce((n, w) => n + w.length, 0) },
];
const d = groups[groups.length - 1].end;
const groupNorms = (v: Float32Array | Float64Array, scale = 1) => {
  let start = 0;
  return groups.map((g) => {
    let s = 0;
    for (let i = start; i < g.end; i++) s += (v[i] * scale) ** 2;
    start = g.end;
    return Math.sqrt(s);
  });
};

const n = Number(args.clients);
const clips = args.clips.split(',').map(Number);
const training = { optimizer: 'sgd' as const, learningRate: Number(args['local-lr']), epochs: Number(args['local-epochs']), batchSize: 16 };
const random = mulberry32(Number(args.seed));
const clippedSums = clips.map(() => new Float64Array(d));
const norms: number[][] = []; // per client: [total, ...groups]
const unclipped = clips.map(() => 0);
const started = performance.now();
for (let k = 0; k < n; k++) {
  const sequence = users[Math.floor(random() * users.length)];
  const { delta } = await localTrainingDelta(model, globalWeights, training, [sequence], tableTensor, random);
  const parts = groupNorms(delta);
  const total = Math.hypot(...parts);
  norms.push([total, ...parts]);
  clips.forEach((clip, c) => {
    const factor = Math.min(1, clip / total);
    if (factor === 1) unclipped[c]++;
    const sum = clippedSums[c];
    for (let i = 0; i < d; i++) sum[i] += delta[i] * factor;
  });
}
const seconds = (performance.now() - started) / 1000;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const column = (j: number) => norms.map((r) => r[j]);
const names = ['total', ...groups.map((g) => g.name)];
const dims = groups.map((g, i) => g.end - (i ? groups[i - 1].end : 0));

console.log(`${args.data}: ${users.length} training users; ${n} clients drawn, ${training.epochs} local SGD epochs at lr ${training.learningRate} (${seconds.toFixed(0)} s)`);
console.log(`model: ${d} parameters (${names.slice(1).map((g, i) => `${g} ${dims[i]}`).join(', ')})`);
console.log('\nper-client delta norm          median    mean');
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
names.forEach((name, j) => console.log(`  ${name.padEnd(28)}${median(column(j)).toFixed(4).padStart(8)}${mean(column(j)).toFixed(4).padStart(8)}`));

const cohort = Number(args.cohort);
const rounds = Number(args.rounds);
const delta = 1 / data.sequences.length;
const q = cohort / data.sequences.length;
const epsilons = args.epsilons.split(',').map(Number);
const noiseMultipliers = epsilons.map((epsilon) => noiseForEpsilon(q, rounds, epsilon, delta));
console.log(`\nnoise: cohort m = ${cohort} of ${data.sequences.length} (q = ${q.toFixed(4)}), ${rounds} rounds, δ = 1/${data.sequences.length}`);
const perClip = clips.map((clip, c) => {
  const parts = groupNorms(clippedSums[c], 1 / n);
  const signal = Math.hypot(...parts);
  const unaligned = mean(norms.map((r) => Math.min(r[0], clip))) / Math.sqrt(n);
  console.log(`\nclip C = ${clip}: ${unclipped[c]} of ${n} clients unclipped`);
  console.log(`  norm of the mean of clipped deltas ${signal.toFixed(4)} (${names.slice(1).map((g, i) => `${g} ${parts[i].toFixed(4)}`).join(', ')}); unaligned deltas would give about ${unaligned.toFixed(4)}`);
  console.log('  ε        z       noise norm z·C·√d/m   signal / noise');
  const rows = epsilons.map((epsilon, e) => {
    const z = noiseMultipliers[e];
    const noise = (z * clip * Math.sqrt(d)) / cohort;
    console.log(`  ${String(epsilon).padEnd(9)}${z.toFixed(3).padEnd(8)}${noise.toFixed(4).padEnd(22)}${(signal / noise).toFixed(3)}`);
    return { epsilon, noiseMultiplier: z, noiseNorm: noise, signalToNoise: signal / noise };
  });
  return { clip, unclipped: unclipped[c], meanClippedNorm: { total: signal, ...Object.fromEntries(groups.map((g, i) => [g.name, parts[i]])) }, rows };
});

if (args.json) {
  const deltaNorms = Object.fromEntries(names.map((name, j) => [name, { median: median(column(j)), mean: mean(column(j)) }]));
  writeFileSync(args.json, JSON.stringify({ dataset: args.data, parameters: d, clients: n, training, deltaNorms, cohort, rounds, delta, clips: perClip }, null, 2));
}
