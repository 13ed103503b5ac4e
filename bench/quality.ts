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
import { parseArgs } from 'node:util';
import { loadDataset, interactionCount, type Dataset, type DatasetFormat } from './datasets.ts';
import { leaveOneOut, evaluate, mulberry32, ndcgAtRank, bootstrapMean, CUTOFFS, type EvalCase, type Metrics, type BatchScorer, type EvaluationResult, type MeanInterval } from '../models/metrics.ts';
import { PopularityModel, TransitionModel } from '../models/baselines.ts';
import { SasRec, makeBatch, trainingWindows, type SasRecConfig, type LossKind } from '../models/sasrec.ts';
import { ItemTable, DEFAULT_FEATURES, type FeatureSpec } from '../models/features.ts';
import { registerWasmPatches } from '../models/backend-patches.ts';
import { encodeWeights, decodeWeights } from '../models/weights.ts';
import { saveCheckpoint, loadCheckpoint, loadEpochWeights, averageWeights, reduceOnPlateau, type LearningRateState } from './checkpoint.ts';
import { join } from 'node:path';
import { argvWithPreset } from './presets.ts';

interface ModelReport {
  test: Metrics;
  testSampled: Metrics;
  /** 95% bootstrap interval of test NDCG@10: how much another draw of as many test users could move it */
  ndcg10Interval?: MeanInterval;
  validation: Metrics;
  epochs?: number;
  bestEpoch?: number;
  /** the first and last epoch whose weights were averaged into the scored model (--average) */
  averagedEpochs?: [number, number];
  trainSecondsPerEpoch?: number;
  inferenceMsPerUser?: number;
  parameters?: number;
  bytes?: number;
  config?: Partial<SasRecConfig>;
}

interface NeuralVariant {
  name: string;
  config: Partial<SasRecConfig>;
  /** use the dataset's attributes as content features */
  attrs: boolean;
  batchSize: number;
  learningRate: number;
}

const { values: args } = parseArgs({
  args: argvWithPreset('quality'),
  options: {
    data: { type: 'string' },
    format: { type: 'string', default: 'auto' },
    attributes: { type: 'string' },
    metadata: { type: 'string' },
    quick: { type: 'boolean', default: false },
    json: { type: 'string' },
    models: { type: 'string' },
    epochs: { type: 'string' },
    minutes: { type: 'string' },
    'val-users': { type: 'string' },
    patience: { type: 'string' },
    seed: { type: 'string', default: '42' },
    lr: { type: 'string', default: '0.005' },
    dropout: { type: 'string', default: '0.3' },
    negatives: { type: 'string', default: '1024' },
    loss: { type: 'string', default: 'sampled-softmax' },
    batch: { type: 'string', default: '256' },
    dim: { type: 'string', default: '64' },
    layers: { type: 'string', default: '2' },
    heads: { type: 'string', default: '2' },
    'max-len': { type: 'string', default: '50' },
    'id-hashes': { type: 'string' },
    'id-buckets': { type: 'string' },
    // validation only: no test scoring, no quantisation (for choosing hyperparameters)
    tune: { type: 'boolean', default: false },
    'log-q': { type: 'string', default: 'on' },
    pooling: { type: 'string', default: 'mean' },
    // a folder: save after every epoch, and carry on from what it holds (same settings only)
    checkpoint: { type: 'string' },
    // reduce-on-plateau: multiply the rate by --lr-decay after --lr-patience epochs without a new best
    'lr-decay': { type: 'string', default: '1' },
    'lr-patience': { type: 'string', default: '3' },
    // last: each user's last maxLen targets (SASRec's rule); all: every target, in windows
    windows: { type: 'string', default: 'last' },
    // checkpoint averaging: K > 1 also scores the mean of the last K epochs' weights
    average: { type: 'string', default: '1' },
  },
});
if (!args.data) {
  console.error('usage: npm run bench:quality -- --data PATH [--format auto] [--attributes PATH] [--quick] [--json OUT]');
  process.exit(2);
}
const quick = args.quick ?? false;
const seed = Number(args.seed);

function exactFeatures(numItems: number, withAttrs: boolean): FeatureSpec {
  // one embedding row per item (the classic SASRec table): grows with the catalog
  return { idMode: 'exact', idBuckets: numItems, idHashes: 1, attrBuckets: withAttrs ? 4096 : 0, maxAttrs: withAttrs ? 6 : 0 };
}

function variants(numItems: number): NeuralVariant[] {
  const loss = args.loss as LossKind;
  if (!['softmax', 'sampled-softmax', 'bce'].includes(loss)) throw new Error(`--loss must be softmax, sampled-softmax or bce, not ${loss}`);
  const base = {
    dim: Number(args.dim),
    layers: Number(args.layers),
    heads: Number(args.heads),
    maxLen: Number(args['max-len']),
    dropout: Number(args.dropout),
    loss,
    negatives: Number(args.negatives),
    logQ: args['log-q'] === 'on',
    seed,
  };
  const hashed: FeatureSpec = {
    ...DEFAULT_FEATURES,
    ...(args['id-hashes'] ? { idHashes: Number(args['id-hashes']) } : {}),
    ...(args['id-buckets'] ? { idBuckets: Number(args['id-buckets']) } : {}),
    pooling: args.pooling as 'mean' | 'split',
  };
  if (!['on', 'off'].includes(args['log-q']!)) throw new Error(`--log-q must be on or off, not ${args['log-q']}`);
  if (!['mean', 'split'].includes(args.pooling!)) throw new Error(`--pooling must be mean or split, not ${args.pooling}`);
  if (!['last', 'all'].includes(args.windows!)) throw new Error(`--windows must be last or all, not ${args.windows}`);
  const learningRate = Number(args.lr);
  const batchSize = Number(args.batch);
  return [
    { name: 'sasrec-hash+attrs', config: { ...base, features: hashed }, attrs: true, batchSize, learningRate },
    { name: 'sasrec-hash', config: { ...base, features: { ...hashed, attrBuckets: 0, maxAttrs: 0 } }, attrs: false, batchSize, learningRate },
    { name: 'sasrec-exact', config: { ...base, features: exactFeatures(numItems, false) }, attrs: false, batchSize, learningRate },
    { name: 'sasrec-exact+attrs', config: { ...base, features: exactFeatures(numItems, true) }, attrs: true, batchSize, learningRate },
    { name: 'sasrec-hash+attrs-bce', config: { ...base, loss: 'bce', features: hashed }, attrs: true, batchSize, learningRate },
  ];
}

/**
 * Training batches for one epoch: sequences (users, or their windows with --windows all)
 * shuffled, then sorted by length within groups of 16 batches, so a batch holds sequences of
 * similar length and the model only runs the positions they need (attention cost grows with
 * the square of the longest one).
 */
function epochBatches(train: number[][], batchSize: number, rand: () => number): number[][][] {
  const users = train.filter((s) => s.length >= 2);
  for (let i = users.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [users[i], users[j]] = [users[j], users[i]];
  }
  const window = batchSize * 16;
  const batches: number[][][] = [];
  for (let w = 0; w < users.length; w += window) {
    const group = users.slice(w, w + window).sort((a, b) => a.length - b.length);
    for (let b = 0; b < group.length; b += batchSize) batches.push(group.slice(b, b + batchSize));
  }
  for (let i = batches.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [batches[i], batches[j]] = [batches[j], batches[i]];
  }
  return batches;
}

function sasrecScorer(model: SasRec, tableTensor: tf.Tensor2D): { scorer: BatchScorer; dispose: () => void } {
  const items = tf.tidy(() => model.itemEmbeddings(tableTensor));
  return {
    scorer: (histories) => model.scoreNext(histories, tableTensor, items),
    dispose: () => items.dispose(),
  };
}

/** Sorts cases by history length so scoring batches are as short as possible. */
function byLength(cases: readonly EvalCase[]): EvalCase[] {
  return [...cases].sort((a, b) => Math.min(a.history.length, 50) - Math.min(b.history.length, 50));
}

async function trainSasRec(data: Dataset, variant: NeuralVariant, split: ReturnType<typeof leaveOneOut>, valCases: EvalCase[], budget: { epochs: number; minutes: number; patience: number }): Promise<ModelReport> {
  const numItems = data.itemKeys.length;
  const features = variant.config.features ?? DEFAULT_FEATURES;
  const table = new ItemTable(
    features,
    data.itemKeys.slice(1).map((key, i) => ({ key, attrs: variant.attrs ? data.itemAttrs[i + 1] : [] })),
  );
  const tableTensor = tf.tensor2d(table.rows, [table.size, table.width], 'int32');
  const model = new SasRec(variant.config);
  const { maxLen } = model.config;
  const optimizer = tf.train.adam(variant.learningRate);
  const rand = mulberry32(seed + 1);
  let best = { ndcg: -1, epoch: 0, weights: [] as Float32Array[], validation: {} as Metrics };
  let trainSeconds = 0;
  let epoch = 0;
  const checkpointDir = args.checkpoint ? join(args.checkpoint, variant.name) : undefined;
  const allWindows = args.windows === 'all';
  const trainSequences = allWindows ? split.train.flatMap((s) => trainingWindows(s, maxLen)) : split.train;
  // (windows enters the fingerprint only when set, so checkpoints made before it still resume)
  const fingerprint = JSON.stringify({ data: args.data, attributes: variant.attrs ? (args.attributes ?? args.metadata) : null, config: model.config, lr: variant.learningRate, batch: variant.batchSize, valUsers: valCases.length, seed, ...(allWindows ? { windows: 'all' } : {}) });
  let schedule: LearningRateState = { learningRate: variant.learningRate, lastCutEpoch: 0 };
  const [lrDecay, lrPatience] = [Number(args['lr-decay']), Number(args['lr-patience'])];
  if (!(lrDecay > 0 && lrDecay <= 1)) throw new Error(`--lr-decay must be in (0, 1], not ${args['lr-decay']}`);
  if (!(Number.isInteger(lrPatience) && lrPatience >= 1)) throw new Error(`--lr-patience must be a positive integer, not ${args['lr-patience']}`);
  // Checkpoint averaging is scored beside the single epochs, never instead of them: the best
  // single epoch alone drives the learning-rate schedule and early stopping, so a run makes
  // the same steps with or without it.
  const averageOf = Number(args.average);
  if (!(Number.isInteger(averageOf) && averageOf >= 1)) throw new Error(`--average must be a positive integer, not ${args.average}`);
  let averaged = { ndcg: -1, epoch: 0, epochs: averageOf, weights: [] as Float32Array[], validation: {} as Metrics };
  /** the weights after each of the last `averageOf` epochs, oldest first */
  let recent: Float32Array[][] = [];
  if (checkpointDir) {
    const resumed = await loadCheckpoint(checkpointDir, fingerprint, model, optimizer);
    if (resumed) {
      ({ epoch, trainSeconds } = resumed.state);
      schedule = resumed.state.schedule ?? schedule;
      best = { ...resumed.state.best, weights: resumed.bestWeights };
      // an average of another length (or --average 1) is another experiment's
      if (resumed.state.averaged?.epochs === averageOf && averageOf > 1 && resumed.averagedWeights) averaged = { ...resumed.state.averaged, weights: resumed.averagedWeights };
      if (averageOf > 1) {
        for (let e = Math.max(1, epoch - averageOf + 1); e <= epoch; e++) {
          const w = loadEpochWeights(checkpointDir, e);
          // averaged epochs must be consecutive: a gap (snapshots not kept) starts over after it
          recent = w ? [...recent, w] : [];
        }
      }
      // replay the shuffles of the finished epochs, so batches come in the uninterrupted order
      for (let e = 0; e < epoch; e++) epochBatches(trainSequences, variant.batchSize, rand);
      console.log(`  ${variant.name}: resumed after epoch ${epoch} from ${checkpointDir} (best validation NDCG@10 ${best.ndcg.toFixed(4)} at epoch ${best.epoch}, learning rate ${schedule.learningRate})`);
    }
  }
  // tfjs optimisers read their rate at every step; the field is not public in the typings
  const setRate = (rate: number) => ((optimizer as unknown as { learningRate: number }).learningRate = rate);
  setRate(schedule.learningRate);
  const started = Date.now();
  while (epoch < budget.epochs && epoch - best.epoch < budget.patience && (Date.now() - started) / 60000 < budget.minutes) {
    epoch++;
    const t0 = performance.now();
    let lossSum = 0;
    const batches = epochBatches(trainSequences, variant.batchSize, rand);
    // the time cap also ends an epoch part-way (so --quick keeps its budget on a slow machine),
    // except with a checkpoint: that holds finished epochs only, so a resumed run is the
    // uninterrupted one
    let steps = 0;
    for (const seqs of batches) {
      lossSum += model.trainStep(optimizer, makeBatch(seqs, maxLen), tableTensor);
      steps++;
      if (!checkpointDir && (Date.now() - started) / 60000 >= budget.minutes) break;
    }
    if (steps < batches.length) console.log(`  ${variant.name} epoch ${epoch} cut by the time cap after ${steps} of ${batches.length} steps`);
    const seconds = (performance.now() - t0) / 1000;
    trainSeconds += seconds;
    const { scorer, dispose } = sasrecScorer(model, tableTensor);
    const val = await evaluate(valCases, numItems, scorer, { seed });
    dispose();
    const ndcg = val.full['NDCG@10'];
    console.log(`  ${variant.name} epoch ${epoch}: loss ${(lossSum / steps).toFixed(4)}, ${seconds.toFixed(1)} s, val NDCG@10 ${ndcg.toFixed(4)} HR@10 ${val.full['HR@10'].toFixed(4)}`);
    const weights = await model.getWeights();
    if (ndcg > best.ndcg) best = { ndcg, epoch, weights, validation: val.full };
    if (averageOf > 1) {
      recent = [...recent, weights].slice(-averageOf);
      if (recent.length === averageOf) {
        const mean = averageWeights(recent);
        model.setWeights(mean);
        const scored = sasrecScorer(model, tableTensor);
        const avgVal = (await evaluate(valCases, numItems, scored.scorer, { seed })).full;
        scored.dispose();
        model.setWeights(weights);
        console.log(`  ${variant.name} epochs ${epoch - averageOf + 1}–${epoch} averaged: val NDCG@10 ${avgVal['NDCG@10'].toFixed(4)} HR@10 ${avgVal['HR@10'].toFixed(4)}`);
        if (avgVal['NDCG@10'] > averaged.ndcg) averaged = { ndcg: avgVal['NDCG@10'], epoch, epochs: averageOf, weights: mean, validation: avgVal };
      }
    }
    const next = reduceOnPlateau(schedule, epoch, best.epoch, lrDecay, lrPatience);
    if (next !== schedule) console.log(`  ${variant.name}: no new best for ${lrPatience} epochs: learning rate ${schedule.learningRate} → ${next.learningRate}`);
    schedule = next;
    setRate(schedule.learningRate);
    if (checkpointDir) {
      const averagedState = averaged.epoch > 0 ? { averaged: { ndcg: averaged.ndcg, epoch: averaged.epoch, epochs: averaged.epochs, validation: averaged.validation } } : {};
      await saveCheckpoint(checkpointDir, { fingerprint, epoch, trainSeconds, best: { ndcg: best.ndcg, epoch: best.epoch, validation: best.validation }, schedule, ...averagedState }, model, optimizer, best.weights, averaged.epoch > 0 ? averaged.weights : undefined);
    }
  }
  // the model scored on test: the best single epoch, or the best average where it validates higher
  const useAverage = averaged.epoch > 0 && averaged.ndcg > best.ndcg;
  const chosen = useAverage ? averaged : best;
  const averagedEpochs: [number, number] | undefined = useAverage ? [averaged.epoch - averaged.epochs + 1, averaged.epoch] : undefined;
  if (averaged.epoch > 0) console.log(`  ${variant.name}: best single epoch ${best.epoch} (val NDCG@10 ${best.ndcg.toFixed(4)}), best average of ${averaged.epochs} epochs ending at ${averaged.epoch} (${averaged.ndcg.toFixed(4)}): keeping the ${useAverage ? 'average' : 'single epoch'}`);
  model.setWeights(chosen.weights);
  if (args.tune) {
    // hyperparameter search: the test split is not looked at
    console.log(`  ${variant.name}: best validation NDCG@10 ${chosen.ndcg.toFixed(4)} HR@10 ${chosen.validation['HR@10'].toFixed(4)} at epoch ${chosen.epoch}; ${(trainSeconds / epoch).toFixed(1)} s per epoch`);
    model.dispose();
    tableTensor.dispose();
    optimizer.dispose();
    return { test: {}, testSampled: {}, validation: chosen.validation, epochs: epoch, bestEpoch: best.epoch, averagedEpochs, trainSecondsPerEpoch: trainSeconds / epoch };
  }
  const { scorer, dispose } = sasrecScorer(model, tableTensor);
  const t0 = performance.now();
  const test = await evaluate(byLength(testCases), numItems, scorer, { seed });
  const inferenceMsPerUser = (performance.now() - t0) / testCases.length;
  dispose();
  // compact weights: the same model after a float16 / int8 round trip
  const report: ModelReport = {
    test: test.full,
    testSampled: test.sampled,
    ndcg10Interval: ndcg10Interval(test),
    validation: chosen.validation,
    epochs: epoch,
    bestEpoch: best.epoch,
    averagedEpochs,
    trainSecondsPerEpoch: trainSeconds / epoch,
    inferenceMsPerUser,
    parameters: model.parameterCount,
    bytes: model.parameterCount * 4,
    config: { ...model.config },
  };
  const quantised: Record<string, ModelReport> = {};
  // --quick checks the shipped form (int8) only: each extra test pass costs ~30 s on Beauty
  for (const dtype of quick ? (['int8'] as const) : (['float16', 'int8'] as const)) {
    const buffer = encodeWeights(model.config, model.names, model.variables.map((v) => v.shape), chosen.weights, dtype);
    const decoded = decodeWeights<SasRecConfig>(buffer);
    const copy = new SasRec(decoded.config);
    copy.setWeights(decoded.weights);
    const q = sasrecScorer(copy, tableTensor);
    const qt = await evaluate(byLength(testCases), numItems, q.scorer, { seed });
    q.dispose();
    copy.dispose();
    quantised[`${variant.name}@${dtype}`] = { test: qt.full, testSampled: qt.sampled, ndcg10Interval: ndcg10Interval(qt), validation: {}, bytes: buffer.byteLength };
  }
  model.dispose();
  tableTensor.dispose();
  optimizer.dispose();
  Object.assign(extraReports, quantised);
  return report;
}

const extraReports: Record<string, ModelReport> = {};
/** the users scored on the test split: all of them, or a fixed random 5,000 in --quick */
let testCases: EvalCase[] = [];

async function main(): Promise<void> {
  const wallStart = performance.now();
  await tf.setBackend('wasm');
  registerWasmPatches();
  const data = loadDataset(args.data!, { format: args.format as DatasetFormat | 'auto', attributesPath: args.attributes, metadataPath: args.metadata });
  const numItems = data.itemKeys.length;
  const split = leaveOneOut(data.sequences);
  console.log(`${data.name}: ${data.sequences.length} users, ${numItems - 1} items, ${interactionCount(data)} interactions; backend ${tf.getBackend()}`);

  // early stopping looks at a fixed random subset of validation users (all in full mode
  // when the dataset is small): scoring every user each epoch would cost more than training
  const valUsers = Number(args['val-users'] ?? (quick ? 2000 : 5000));
  const pick = mulberry32(seed + 7);
  const valCases = byLength(
    split.validation.length <= valUsers ? split.validation : split.validation.map((c) => ({ c, r: pick() })).sort((a, b) => a.r - b.r).slice(0, valUsers).map((x) => x.c),
  );

  const testPick = mulberry32(seed + 11);
  testCases = quick && split.test.length > 5000 ? split.test.map((c) => ({ c, r: testPick() })).sort((a, b) => a.r - b.r).slice(0, 5000).map((x) => x.c) : split.test;

  const reports: Record<string, ModelReport> = {};
  const wanted = args.models?.split(',');
  const run = (name: string) => !wanted || wanted.includes(name);

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

  // default: the shipped representation only; the comparison rows (exact ids, no attributes,
  // bce) are separate runs with --models, at the same --minutes/--epochs budget
  const neural = variants(numItems).filter((v) => (wanted ? run(v.name) : v.name === 'sasrec-hash+attrs'));
  const budget = {
    epochs: Number(args.epochs ?? (quick ? 3 : 200)),
    minutes: Number(args.minutes ?? (quick ? 1.5 : 24)),
    patience: Number(args.patience ?? 5),
  };
  for (const v of neural) {
    if (!v.attrs || data.itemAttrs.some((a) => a.length > 0)) reports[v.name] = await trainSasRec(data, v, split, valCases, budget);
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
    const models: Record<string, Record<string, unknown>> = {};
    for (const [name, r] of Object.entries(reports)) {
      models[name] = {
        ...r.test,
        sampled: r.testSampled,
        ...(r.ndcg10Interval ? { 'NDCG@10 interval': r.ndcg10Interval } : {}),
        validation: r.validation,
        ...(r.epochs !== undefined ? { epochs: r.epochs, bestEpoch: r.bestEpoch, averagedEpochs: r.averagedEpochs, trainSecondsPerEpoch: r.trainSecondsPerEpoch, parameters: r.parameters } : {}),
        ...(r.inferenceMsPerUser !== undefined ? { inferenceMsPerUser: r.inferenceMsPerUser } : {}),
        ...(r.bytes !== undefined ? { bytes: r.bytes } : {}),
        ...(r.config ? { config: r.config } : {}),
      };
    }
    const out = {
      dataset: data.name,
      users: data.sequences.length,
      testUsers: testCases.length,
      items: numItems - 1,
      interactions: interactionCount(data),
      protocol: 'leave-one-out; full ranking over all items, history items excluded (primary); sampled = 100 uniform negatives',
      backend: tf.getBackend(),
      wallSeconds,
      command: process.argv.slice(2).join(' '),
      models,
    };
    writeFileSync(args.json, JSON.stringify(out, null, 2));
    console.log(`wrote ${args.json}`);
  }
}

/** Per-user NDCG@10 of a test pass, bootstrapped over its users. */
function ndcg10Interval(result: EvaluationResult): MeanInterval {
  return bootstrapMean(Float64Array.from(result.fullRanks, (rank) => ndcgAtRank(rank)));
}

function printTable(reports: Record<string, ModelReport>): void {
  const cols = [...CUTOFFS.flatMap((k) => [`HR@${k}`, `NDCG@${k}`]), 'MRR'];
  const header = ['model'.padEnd(28), ...cols.map((c) => c.padStart(8)), 'HR@10(s100)'.padStart(12), 'NDCG@10(s100)'.padStart(14), 'NDCG@10 95%'.padStart(14)].join(' ');
  console.log('\nTest split, full ranking (history items excluded); s100 = 100 sampled negatives; 95% = bootstrap over test users');
  console.log(header);
  for (const [name, r] of Object.entries(reports)) {
    const interval = r.ndcg10Interval ? `${r.ndcg10Interval.low.toFixed(4)}–${r.ndcg10Interval.high.toFixed(4)}` : '';
    console.log(
      [
        name.padEnd(28),
        ...cols.map((c) => r.test[c].toFixed(4).padStart(8)),
        r.testSampled['HR@10'].toFixed(4).padStart(12),
        r.testSampled['NDCG@10'].toFixed(4).padStart(14),
        interval.padStart(14),
      ].join(' '),
    );
  }
}

await main();
