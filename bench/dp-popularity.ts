// Reference point for the ε–quality curve: the most popular items, released with user-level DP.
//
// Every user adds 1 to the count of each distinct item in their training prefix (at most
// --max-items of them, the most recent), so one user changes the count vector by at most
// √(max-items) in L2; the counts are released once with Gaussian noise of std z·√(max-items),
// z from the same RDP accountant as the federated rounds (sampling rate 1, one release,
// δ = 1/users). Recommendations are the noisy counts, ranked with the user's history
// excluded, scored on the same leave-one-out test subset as bench:federated (seed 7).
// It is what a storefront gets from one private histogram, to set the DP model's numbers
// against; it is not part of the SDK.
//
//   npm run bench:dp-popularity -- --data PATH [--eval-users 10000] [--max-items 20]
//     [--epsilons 0.5,1,2,8] [--repeats 5] [--json OUT]
//
// Datasets are research-only: read by path, never copied into the repository.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { noiseForEpsilon } from '../federated/accountant.ts';
import { gaussian } from '../federated/summary.ts';
import { distinctItemCounts } from '../models/baselines.ts';
import { evaluate, leaveOneOut, mulberry32 } from '../models/metrics.ts';
import { loadDataset } from './datasets.ts';
import { argvWithPreset } from './presets.ts';

const { values: args } = parseArgs({
  args: argvWithPreset('dp-popularity'),
  options: {
    data: { type: 'string' },
    'eval-users': { type: 'string', default: '10000' },
    'max-items': { type: 'string', default: '20' },
    epsilons: { type: 'string', default: '0.5,1,2,8' },
    repeats: { type: 'string', default: '5' },
    json: { type: 'string' },
  },
});
if (!args.data) throw new Error('--data PATH is required');

const data = loadDataset(args.data);
const split = leaveOneOut(data.sequences);
const numItems = data.itemKeys.length;
// the same evaluation subset as bench/federated.ts
const pick = mulberry32(7);
const evalCases = split.test.slice().sort(() => pick() - 0.5).slice(0, Number(args['eval-users']));
const maxItems = Number(args['max-items']);
const delta = 1 / data.sequences.length;

// each user's contribution: their most recent `maxItems` distinct training items, once each
const counts = distinctItemCounts(split.train, numItems, maxItems);
counts[0] = -Infinity;

async function score(counts: Float32Array) {
  // every user gets the same scores; evaluate() excludes their history
  const r = await evaluate(evalCases, numItems, (histories) => {
    const out = new Float32Array(histories.length * numItems);
    histories.forEach((_, b) => out.set(counts, b * numItems));
    return out;
  });
  return { 'NDCG@10': r.full['NDCG@10'], 'HR@10': r.full['HR@10'] };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`${data.name}: ${data.sequences.length} users, ${numItems - 1} items; evaluating on ${evalCases.length} users; ≤ ${maxItems} distinct items per user`);
const exact = await score(counts);
console.log(`popularity, exact counts: NDCG@10 ${exact['NDCG@10'].toFixed(4)} HR@10 ${exact['HR@10'].toFixed(4)}`);

const rows = [];
const normal = gaussian(mulberry32(11));
for (const epsilon of args.epsilons.split(',').map(Number)) {
  const z = noiseForEpsilon(1, 1, epsilon, delta);
  const std = z * Math.sqrt(maxItems);
  const runs = [];
  for (let r = 0; r < Number(args.repeats); r++) {
    const noisy = counts.map((c, i) => (i === 0 ? c : c + std * normal()));
    runs.push(await score(noisy));
  }
  const row = { epsilon, noiseMultiplier: z, countNoiseStd: std, 'NDCG@10': median(runs.map((m) => m['NDCG@10'])), 'HR@10': median(runs.map((m) => m['HR@10'])) };
  console.log(`ε ${epsilon}: z ${z.toFixed(3)}, count noise std ${std.toFixed(2)}; NDCG@10 ${row['NDCG@10'].toFixed(4)} HR@10 ${row['HR@10'].toFixed(4)} (median of ${runs.length} noise draws)`);
  rows.push(row);
}
if (args.json) writeFileSync(args.json, JSON.stringify({ dataset: data.name, users: data.sequences.length, evalUsers: evalCases.length, delta, maxItems, exact, rows }, null, 2));
