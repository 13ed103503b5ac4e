// What each server can learn about one shopper, measured (threat model: README.md and
// server/PROTOCOL.md). Popularity rounds before (central: the operator reads the plain
// indicator) and after (secure: each aggregator holds a Prio3 share), model rounds in
// central mode, and membership inference on the released popularity counts against ε.
//
//   npm run bench:attack                       # demo catalog, a few minutes
//   npm run bench:attack -- --preset full      # more shoppers and trials, ε 1 and 4 (about 10 minutes)
//   npm run bench:attack -- --beauty ../shared/datasets/beauty/Beauty.txt   # also Beauty users
//   [--shoppers 200] [--secure-shoppers 12] [--buckets 65536] [--model-shoppers 10]
//   [--mia-trials 10000] [--epsilons 1] [--skip model,secure,...] [--seed 7] [--json OUT]
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { noiseForEpsilon } from '../federated/accountant.ts';
import { registerWasmPatches } from '../models/backend-patches.ts';
import { BROWSER_MODEL } from '../models/browser-model.ts';
import { mulberry32 } from '../models/metrics.ts';
import { SasRec } from '../models/sasrec.ts';
import { runMembership } from './attack/membership-runs.ts';
import { modelRoundAttack } from './attack/model-round.ts';
import { centralPopularityAttack } from './attack/popularity-central.ts';
import { PUBLIC_SHARE_AS_SEED, securePopularityAttack } from './attack/popularity-secure.ts';
import { SHARE_ATTACKS } from './attack/share-attacks.ts';
import { type ShopperSet, beautyShoppers, demoShoppers } from './attack/shoppers.ts';
import { type ScoredRow, attackTable, entropyTable, membershipTable } from './attack/tables.ts';
import { shippedConfig, shippedModelTask, shippedPopularityTask } from './attack/tasks.ts';

const PRESETS: Record<string, string[]> = {
  quick: [],
  full: ['--shoppers', '1000', '--secure-shoppers', '40', '--model-shoppers', '30', '--mia-trials', '40000', '--epsilons', '1,4'],
};

function argv(): string[] {
  const raw = process.argv.slice(2);
  const at = raw.indexOf('--preset');
  if (at < 0) return raw;
  const preset = PRESETS[raw[at + 1]];
  if (!preset) throw new Error(`--preset ${raw[at + 1]}: use ${Object.keys(PRESETS).join(' or ')}`);
  return [...preset, ...raw.slice(0, at), ...raw.slice(at + 2)];
}

const { values: args } = parseArgs({
  args: argv(),
  options: {
    shoppers: { type: 'string', default: '200' },
    'items-each': { type: 'string', default: '12' },
    'secure-shoppers': { type: 'string', default: '12' },
    buckets: { type: 'string' },
    'model-shoppers': { type: 'string', default: '10' },
    'mia-trials': { type: 'string', default: '10000' },
    epsilons: { type: 'string' },
    beauty: { type: 'string' },
    'beauty-shoppers': { type: 'string', default: '200' },
    skip: { type: 'string', default: '' },
    seed: { type: 'string', default: '7' },
    json: { type: 'string' },
  },
});
const skip = new Set(args.skip.split(',').filter(Boolean));
const random = mulberry32(Number(args.seed));

await tf.setBackend('wasm');
registerWasmPatches();
const model = new SasRec(BROWSER_MODEL);
const config = shippedConfig(model.parameterCount, args.buckets ? Number(args.buckets) : undefined);
const popularityTask = shippedPopularityTask(config);
const modelTask = shippedModelTask(config);
const maxItems = popularityTask.maxItems!;
const itemsEach = Number(args['items-each']);
console.log(`shipped popularity task: ${popularityTask.length} buckets, maxItems ${maxItems}; model task: ${modelTask.optimizer} lr ${modelTask.learningRate}, clip ${modelTask.clipNorm}, ${modelTask.bits}-bit, client noise ${modelTask.clientNoiseStd}`);

const sets: ShopperSet[] = [demoShoppers(Number(args.shoppers), itemsEach, random)];
if (args.beauty) sets.push(beautyShoppers(args.beauty, Number(args['beauty-shoppers']), maxItems, random));

const json: Record<string, unknown> = { settings: { ...args, popularityBuckets: popularityTask.length, maxItems, modelTask }, sets: [] };
const sections: string[] = [];

for (const set of sets) {
  const rows: ScoredRow[] = [];
  let entropySection = '';
  const entry: Record<string, unknown> = { name: set.name };
  (json.sets as unknown[]).push(entry);
  if (!skip.has('central')) {
    const central = centralPopularityAttack(set, popularityTask);
    rows.push({ view: 'central (before): operator', attack: 'decode upload, map catalog to buckets', score: central.score });
    entry.central = { ...central.score.toJSON(), uploadBytes: central.uploadBytes, uploadEntropy: central.uploadEntropy };
    console.log(`[${set.name}] central upload: ${central.uploadBytes} bytes, ${central.uploadEntropy.toFixed(4)} bits/byte`);
  }
  if (!skip.has('secure')) {
    const secureSet = { ...set, shoppers: set.shoppers.slice(0, Number(args['secure-shoppers'])) };
    const secure = await securePopularityAttack(secureSet, { buckets: popularityTask.length, maxItems });
    for (const [view, scores] of [['secure (after): leader', secure.leader], ['secure (after): helper', secure.helper]] as const) {
      for (const [attack, score] of scores.scores) rows.push({ view, attack, score });
    }
    entry.secure = {
      accepted: secure.accepted, secondsPerShopper: secure.secondsPerShopper,
      leader: Object.fromEntries([...secure.leader.scores].map(([k, s]) => [k, s.toJSON()])),
      helper: Object.fromEntries([...secure.helper.scores].map(([k, s]) => [k, s.toJSON()])),
      entropy: secure.entropy.results(),
    };
    entropySection = `### ${set.name}: bytes each server can read (secure popularity round, ${secure.accepted} reports, all verified)\n\n${entropyTable(secure.entropy.results())}`;
  }
  sections.push(`### ${set.name}: popularity round, item recovery\n\n${attackTable(rows)}`);
  if (entropySection) sections.push(entropySection);
}

if (!skip.has('model')) {
  const catalogItems = JSON.parse(readFileSync('public/catalog.json', 'utf8'));
  const shoppers = sets[0].shoppers.slice(0, Number(args['model-shoppers']));
  const result = await modelRoundAttack(model, catalogItems, shoppers, modelTask, random);
  json.modelRound = { summedRows: result.score.toJSON(), weakestRow: result.weakestRowScore.toJSON(), uploadBytes: result.uploadBytes, uploadEntropy: result.uploadEntropy, secondsPerShopper: result.secondsPerShopper };
  sections.push(`### model round, central mode (before and after: model rounds stay central-DP)\n\nupload ${result.uploadBytes.toLocaleString('en')} bytes, ${result.uploadEntropy.toFixed(3)} bits/byte\n\n${attackTable([
    { view: 'central: operator', attack: `top-${itemsEach} items by summed id-row change`, score: result.score },
    { view: 'central: operator', attack: `top-${itemsEach} items by their weaker id row's change`, score: result.weakestRowScore },
  ])}`);
}

if (!skip.has('membership')) {
  const epsilons = args.epsilons ? args.epsilons.split(',').map(Number) : [1];
  const runs = runMembership({ epsilons, delta: config.delta, maxItems, itemsEach, trials: Number(args['mia-trials']), shippedEpsilon: 1, shippedNoise: config.popularity!.noiseMultiplier, cohort: sets[0], buckets: popularityTask.length, noiseForEpsilon });
  json.membership = runs;
  sections.push(`### membership inference on the released popularity counts\n\n${membershipTable(runs)}`);
}

console.log(`\nshare attacks: ${SHARE_ATTACKS.map((a) => `${a.name}: ${a.idea}`).join('; ')}; ${PUBLIC_SHARE_AS_SEED}: expand each public-share seed as if it were the helper's and look for 0/1 sums\n`);
console.log(sections.join('\n\n'));
if (args.json) {
  mkdirSync(dirname(args.json), { recursive: true });
  writeFileSync(args.json, JSON.stringify(json, null, 2));
}
model.dispose();
