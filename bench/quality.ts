// Recommendation quality benchmark: every model × every metric on a real dataset, under the
// leave-one-out protocol in models/metrics.ts.
//
//   npm run bench:quality -- --data ../shared/datasets/beauty/Beauty.txt \
//     --attributes ../shared/datasets/beauty/Beauty_item2attributes.json [--quick] [--json OUT]
//
// Options: --format auto|sequences|pairs|csv, --metadata TSV, --models a,b,c (default:
// popularity, item-to-item, sasrec-hash+attrs; also sasrec-hash, sasrec-exact,
// sasrec-exact+attrs, sasrec-hash+attrs-bce), --epochs N, --minutes M (training time cap per
// neural model), --val-users N (validation users used for early stopping), --seed S, --lr,
// --dropout, --batch, --dim, --layers, --heads, --max-len, --loss softmax|sampled-softmax|bce,
// --negatives (sampled-softmax negatives per batch), --log-q on|off, --pooling mean|split,
// --id-hashes, --id-buckets, --tune (validation only: no test scoring), --checkpoint DIR (save
// every finished epoch; a rerun with the same settings resumes there, and --minutes counts that
// run and then ends it at the next epoch boundary),
// --lr-decay F --lr-patience P (cut the rate by F after P epochs without a new best),
// --windows last|all (train on each user's last maxLen targets, or on all of them in windows),
// --average K (also score the mean of the last K epochs' weights on validation after every
// epoch; the test split gets whichever of that and the best single epoch validates higher).
// Hyperparameters are chosen on the validation target only; the test target is scored once,
// with the weights of the best validation epoch (early stopping on validation NDCG@10).
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { writeFileSync } from 'node:fs';
import { registerWasmPatches } from '../models/backend-patches.ts';
import { PopularityModel, TransitionModel } from '../models/baselines.ts';
import { type BatchScorer, type EvalCase, evaluate, leaveOneOut, mulberry32 } from '../models/metrics.ts';
import { type DatasetFormat, interactionCount, loadDataset } from './datasets.ts';
import { parseQualityArgs } from './quality/options.ts';
import { type ModelReport, ndcg10Interval, printTable, writeResultsJson } from './quality/report.ts';
import { type QualityContext, trainSasRec } from './quality/sasrec-training.ts';
import { byLength, variants } from './quality/variants.ts';

const args = parseQualityArgs();
if (!args.data) {
  console.error('usage: npm run bench:quality -- --data PATH [--format auto] [--attributes PATH] [--quick] [--json OUT]');
  process.exit(2);
}
const quick = args.quick ?? false;
const seed = Number(args.seed);

/**
 * Early stopping looks at a fixed random subset of validation users (all in full mode when
 * the dataset is small): scoring every user each epoch would cost more than training. The
 * test split is every user, or a fixed random 5,000 in --quick.
 */
function pickCases(split: ReturnType<typeof leaveOneOut>): { valCases: EvalCase[]; testCases: EvalCase[] } {
  const valUsers = Number(args['val-users'] ?? (quick ? 2000 : 5000));
  const pick = mulberry32(seed + 7);
  const valCases = byLength(
    split.validation.length <= valUsers ? split.validation : split.validation.map((c) => ({ c, r: pick() })).sort((a, b) => a.r - b.r).slice(0, valUsers).map((x) => x.c),
  );
  const testPick = mulberry32(seed + 11);
  const testCases = quick && split.test.length > 5000 ? split.test.map((c) => ({ c, r: testPick() })).sort((a, b) => a.r - b.r).slice(0, 5000).map((x) => x.c) : split.test;
  return { valCases, testCases };
}

/** The two non-neural baselines, those --models asks for, into `reports`. */
async function scoreBaselines(split: ReturnType<typeof leaveOneOut>, numItems: number, valCases: EvalCase[], testCases: EvalCase[], run: (name: string) => boolean, reports: Record<string, ModelReport>): Promise<void> {
  for (const [name, make] of [
    ['popularity', () => new PopularityModel(split.train, numItems)],
    ['item-to-item', () => new TransitionModel(split.train, numItems)],
  ] as const) {
    if (!run(name)) continue;
    const model = make();
    const scorer: BatchScorer = (h) => model.score(h);
    // the same validation users as the neural models' early stopping (all of them would cost
    // a minute per baseline on Beauty)
    const val = await evaluate(valCases, numItems, scorer, { seed });
    if (args.tune) {
      reports[name] = { test: {}, testSampled: {}, validation: val.full };
      console.log(`  ${name}: validation NDCG@10 ${val.full['NDCG@10'].toFixed(4)}`);
      continue;
    }
    const t0 = performance.now();
    const test = await evaluate(testCases, numItems, scorer, { seed });
    reports[name] = { test: test.full, testSampled: test.sampled, ndcg10Interval: ndcg10Interval(test), validation: val.full, inferenceMsPerUser: (performance.now() - t0) / testCases.length };
    console.log(`  ${name}: test NDCG@10 ${test.full['NDCG@10'].toFixed(4)}`);
  }
}

async function main(): Promise<void> {
  const wallStart = performance.now();
  await tf.setBackend('wasm');
  registerWasmPatches();
  const data = loadDataset(args.data!, { format: args.format as DatasetFormat | 'auto', attributesPath: args.attributes, metadataPath: args.metadata });
  const numItems = data.itemKeys.length;
  const split = leaveOneOut(data.sequences);
  console.log(`${data.name}: ${data.sequences.length} users, ${numItems - 1} items, ${interactionCount(data)} interactions; backend ${tf.getBackend()}`);
  const { valCases, testCases } = pickCases(split);

  const reports: Record<string, ModelReport> = {};
  const wanted = args.models?.split(',');
  const run = (name: string) => !wanted || wanted.includes(name);
  await scoreBaselines(split, numItems, valCases, testCases, run, reports);

  // default: the shipped representation only; the comparison rows (exact ids, no attributes,
  // bce) are separate runs with --models, at the same --minutes/--epochs budget
  const neural = variants(args, seed, numItems).filter((v) => (wanted ? run(v.name) : v.name === 'sasrec-hash+attrs'));
  const budget = {
    epochs: Number(args.epochs ?? (quick ? 3 : 200)),
    minutes: Number(args.minutes ?? (quick ? 1.5 : 24)),
    patience: Number(args.patience ?? 5),
  };
  const ctx: QualityContext = { args, seed, quick, testCases };
  const extraReports: Record<string, ModelReport> = {};
  for (const v of neural) {
    if (!v.attrs || data.itemAttrs.some((a) => a.length > 0)) reports[v.name] = await trainSasRec(ctx, extraReports, data, v, split, valCases, budget);
  }
  Object.assign(reports, extraReports);

  const wallSeconds = (performance.now() - wallStart) / 1000;
  if (args.tune) {
    console.log(`tuning run (validation only), wall time ${wallSeconds.toFixed(0)} s`);
    if (args.json) writeFileSync(args.json, JSON.stringify({ dataset: data.name, command: process.argv.slice(2).join(' '), wallSeconds, validation: Object.fromEntries(Object.entries(reports).map(([k, r]) => [k, { ...r.validation, epochs: r.epochs, bestEpoch: r.bestEpoch, averagedEpochs: r.averagedEpochs, trainSecondsPerEpoch: r.trainSecondsPerEpoch }])) }, null, 2));
    return;
  }
  printTable(reports);
  console.log(`backend ${tf.getBackend()}, wall time ${wallSeconds.toFixed(0)} s, ${testCases.length} test users${quick ? ' (--quick: a fixed random subset)' : ''}`);
  if (args.json) {
    writeResultsJson(args.json, data, reports, { testUsers: testCases.length, backend: tf.getBackend(), wallSeconds });
    console.log(`wrote ${args.json}`);
  }
}

await main();
