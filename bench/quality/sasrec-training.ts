// bench:quality's SASRec runs: train with early stopping on validation NDCG@10 (with
// --checkpoint, resumable per epoch; with --average, checkpoint averaging scored beside the
// single epochs), then score the chosen weights on test, also after a float16 / int8 round trip.
import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { evaluate, type EvalCase, type leaveOneOut, type Metrics, mulberry32 } from '../../models/metrics.ts';
import { DEFAULT_FEATURES, ItemTable } from '../../models/features.ts';
import { makeBatch, SasRec, type SasRecConfig, trainingWindows } from '../../models/sasrec.ts';
import { decodeWeights, encodeWeights } from '../../models/weights.ts';
import { averageWeights, type LearningRateState, loadCheckpoint, loadEpochWeights, reduceOnPlateau, saveCheckpoint } from '../checkpoint.ts';
import type { Dataset } from '../datasets.ts';
import type { QualityArgs } from './options.ts';
import { type ModelReport, ndcg10Interval } from './report.ts';
import { byLength, epochBatches, type NeuralVariant, sasrecScorer } from './variants.ts';

/** The run's settings, and the test users (all, or a fixed random 5,000 in --quick). */
export interface QualityContext {
  args: QualityArgs;
  seed: number;
  quick: boolean;
  testCases: EvalCase[];
}

export interface Budget {
  epochs: number;
  minutes: number;
  patience: number;
}

interface Scored {
  ndcg: number;
  epoch: number;
  weights: Float32Array[];
  validation: Metrics;
}

/** What changes from epoch to epoch, and what a checkpoint restores. */
interface TrainingState {
  epoch: number;
  trainSeconds: number;
  schedule: LearningRateState;
  best: Scored;
  averaged: Scored & { epochs: number };
  /** the weights after each of the last `averageOf` epochs, oldest first */
  recent: Float32Array[][];
}

/** What stays fixed for one variant's run. */
interface Run {
  ctx: QualityContext;
  variant: NeuralVariant;
  model: SasRec;
  optimizer: tf.Optimizer;
  tableTensor: tf.Tensor2D;
  numItems: number;
  valCases: EvalCase[];
  trainSequences: number[][];
  rand: () => number;
  checkpointDir: string | undefined;
  fingerprint: string;
  lrDecay: number;
  lrPatience: number;
  averageOf: number;
}

function prepareRun(ctx: QualityContext, data: Dataset, variant: NeuralVariant, split: ReturnType<typeof leaveOneOut>, valCases: EvalCase[]): Run {
  const { args, seed } = ctx;
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
  const checkpointDir = args.checkpoint ? join(args.checkpoint, variant.name) : undefined;
  const allWindows = args.windows === 'all';
  const trainSequences = allWindows ? split.train.flatMap((s) => trainingWindows(s, maxLen)) : split.train;
  // (windows enters the fingerprint only when set, so checkpoints made before it still resume)
  const fingerprint = JSON.stringify({ data: args.data, attributes: variant.attrs ? (args.attributes ?? args.metadata) : null, config: model.config, lr: variant.learningRate, batch: variant.batchSize, valUsers: valCases.length, seed, ...(allWindows ? { windows: 'all' } : {}) });
  const [lrDecay, lrPatience] = [Number(args['lr-decay']), Number(args['lr-patience'])];
  if (!(lrDecay > 0 && lrDecay <= 1)) throw new Error(`--lr-decay must be in (0, 1], not ${args['lr-decay']}`);
  if (!(Number.isInteger(lrPatience) && lrPatience >= 1)) throw new Error(`--lr-patience must be a positive integer, not ${args['lr-patience']}`);
  // Checkpoint averaging is scored beside the single epochs, never instead of them: the best
  // single epoch alone drives the learning-rate schedule and early stopping, so a run makes
  // the same steps with or without it.
  const averageOf = Number(args.average);
  if (!(Number.isInteger(averageOf) && averageOf >= 1)) throw new Error(`--average must be a positive integer, not ${args.average}`);
  return { ctx, variant, model, optimizer, tableTensor, numItems: data.itemKeys.length, valCases, trainSequences, rand, checkpointDir, fingerprint, lrDecay, lrPatience, averageOf };
}

/** Carries on from the checkpoint, when there is one made with the same settings. */
async function resume(run: Run, state: TrainingState): Promise<void> {
  const { checkpointDir, averageOf, variant } = run;
  if (!checkpointDir) return;
  const resumed = await loadCheckpoint(checkpointDir, run.fingerprint, run.model, run.optimizer);
  if (!resumed) return;
  ({ epoch: state.epoch, trainSeconds: state.trainSeconds } = resumed.state);
  state.schedule = resumed.state.schedule ?? state.schedule;
  state.best = { ...resumed.state.best, weights: resumed.bestWeights };
  // an average of another length (or --average 1) is another experiment's
  if (resumed.state.averaged?.epochs === averageOf && averageOf > 1 && resumed.averagedWeights) state.averaged = { ...resumed.state.averaged, weights: resumed.averagedWeights };
  if (averageOf > 1) {
    for (let e = Math.max(1, state.epoch - averageOf + 1); e <= state.epoch; e++) {
      const w = loadEpochWeights(checkpointDir, e);
      // averaged epochs must be consecutive: a gap (snapshots not kept) starts over after it
      state.recent = w ? [...state.recent, w] : [];
    }
  }
  // replay the shuffles of the finished epochs, so batches come in the uninterrupted order
  for (let e = 0; e < state.epoch; e++) epochBatches(run.trainSequences, variant.batchSize, run.rand);
  console.log(`  ${variant.name}: resumed after epoch ${state.epoch} from ${checkpointDir} (best validation NDCG@10 ${state.best.ndcg.toFixed(4)} at epoch ${state.best.epoch}, learning rate ${state.schedule.learningRate})`);
}

/** Validation NDCG@10 of the mean of the last `averageOf` epochs' weights, once there are that many. */
async function scoreAverage(run: Run, state: TrainingState, weights: Float32Array[]): Promise<void> {
  const { model, averageOf, variant, ctx } = run;
  state.recent = [...state.recent, weights].slice(-averageOf);
  if (state.recent.length !== averageOf) return;
  const mean = averageWeights(state.recent);
  model.setWeights(mean);
  const scored = sasrecScorer(model, run.tableTensor);
  const avgVal = (await evaluate(run.valCases, run.numItems, scored.scorer, { seed: ctx.seed })).full;
  scored.dispose();
  model.setWeights(weights);
  console.log(`  ${variant.name} epochs ${state.epoch - averageOf + 1}–${state.epoch} averaged: val NDCG@10 ${avgVal['NDCG@10'].toFixed(4)} HR@10 ${avgVal['HR@10'].toFixed(4)}`);
  if (avgVal['NDCG@10'] > state.averaged.ndcg) state.averaged = { ndcg: avgVal['NDCG@10'], epoch: state.epoch, epochs: averageOf, weights: mean, validation: avgVal };
}

/** One epoch: train, score on validation, step the learning-rate schedule, save the checkpoint. */
async function trainEpoch(run: Run, state: TrainingState, budget: Budget, started: number): Promise<void> {
  const { model, optimizer, variant, checkpointDir } = run;
  state.epoch++;
  const t0 = performance.now();
  let lossSum = 0;
  const batches = epochBatches(run.trainSequences, variant.batchSize, run.rand);
  // the time cap also ends an epoch part-way (so --quick keeps its budget on a slow machine),
  // except with a checkpoint: that holds finished epochs only, so a resumed run is the
  // uninterrupted one
  let steps = 0;
  for (const seqs of batches) {
    lossSum += model.trainStep(optimizer, makeBatch(seqs, model.config.maxLen), run.tableTensor);
    steps++;
    if (!checkpointDir && (Date.now() - started) / 60000 >= budget.minutes) break;
  }
  if (steps < batches.length) console.log(`  ${variant.name} epoch ${state.epoch} cut by the time cap after ${steps} of ${batches.length} steps`);
  const seconds = (performance.now() - t0) / 1000;
  state.trainSeconds += seconds;
  const { scorer, dispose } = sasrecScorer(model, run.tableTensor);
  const val = await evaluate(run.valCases, run.numItems, scorer, { seed: run.ctx.seed });
  dispose();
  const ndcg = val.full['NDCG@10'];
  console.log(`  ${variant.name} epoch ${state.epoch}: loss ${(lossSum / steps).toFixed(4)}, ${seconds.toFixed(1)} s, val NDCG@10 ${ndcg.toFixed(4)} HR@10 ${val.full['HR@10'].toFixed(4)}`);
  const weights = await model.getWeights();
  if (ndcg > state.best.ndcg) state.best = { ndcg, epoch: state.epoch, weights, validation: val.full };
  if (run.averageOf > 1) await scoreAverage(run, state, weights);
  const next = reduceOnPlateau(state.schedule, state.epoch, state.best.epoch, run.lrDecay, run.lrPatience);
  if (next !== state.schedule) console.log(`  ${variant.name}: no new best for ${run.lrPatience} epochs: learning rate ${state.schedule.learningRate} → ${next.learningRate}`);
  state.schedule = next;
  setRate(optimizer, state.schedule.learningRate);
  if (checkpointDir) {
    const { best, averaged } = state;
    const averagedState = averaged.epoch > 0 ? { averaged: { ndcg: averaged.ndcg, epoch: averaged.epoch, epochs: averaged.epochs, validation: averaged.validation } } : {};
    await saveCheckpoint(checkpointDir, { fingerprint: run.fingerprint, epoch: state.epoch, trainSeconds: state.trainSeconds, best: { ndcg: best.ndcg, epoch: best.epoch, validation: best.validation }, schedule: state.schedule, ...averagedState }, model, optimizer, best.weights, averaged.epoch > 0 ? averaged.weights : undefined);
  }
}

/** tfjs optimisers read their rate at every step; the field is not public in the typings */
function setRate(optimizer: tf.Optimizer, rate: number): void {
  (optimizer as unknown as { learningRate: number }).learningRate = rate;
}

/** The chosen weights on test, as trained and after a float16 / int8 round trip (reported under `name@dtype`). */
async function scoreOnTest(run: Run, state: TrainingState, chosen: Scored, averagedEpochs: [number, number] | undefined): Promise<{ report: ModelReport; quantised: Record<string, ModelReport> }> {
  const { model, tableTensor, numItems, variant, ctx } = run;
  const { scorer, dispose } = sasrecScorer(model, tableTensor);
  const t0 = performance.now();
  const test = await evaluate(byLength(ctx.testCases), numItems, scorer, { seed: ctx.seed });
  const inferenceMsPerUser = (performance.now() - t0) / ctx.testCases.length;
  dispose();
  // compact weights: the same model after a float16 / int8 round trip
  const report: ModelReport = {
    test: test.full,
    testSampled: test.sampled,
    ndcg10Interval: ndcg10Interval(test),
    validation: chosen.validation,
    epochs: state.epoch,
    bestEpoch: state.best.epoch,
    averagedEpochs,
    trainSecondsPerEpoch: state.trainSeconds / state.epoch,
    inferenceMsPerUser,
    parameters: model.parameterCount,
    bytes: model.parameterCount * 4,
    config: { ...model.config },
  };
  const quantised: Record<string, ModelReport> = {};
  // --quick checks the shipped form (int8) only: each extra test pass costs ~30 s on Beauty
  for (const dtype of ctx.quick ? (['int8'] as const) : (['float16', 'int8'] as const)) {
    const buffer = encodeWeights(model.config, model.names, model.variables.map((v) => v.shape), chosen.weights, dtype);
    const decoded = decodeWeights<SasRecConfig>(buffer);
    const copy = new SasRec(decoded.config);
    copy.setWeights(decoded.weights);
    const q = sasrecScorer(copy, tableTensor);
    const qt = await evaluate(byLength(ctx.testCases), numItems, q.scorer, { seed: ctx.seed });
    q.dispose();
    copy.dispose();
    quantised[`${variant.name}@${dtype}`] = { test: qt.full, testSampled: qt.sampled, ndcg10Interval: ndcg10Interval(qt), validation: {}, bytes: buffer.byteLength };
  }
  return { report, quantised };
}

/**
 * Trains one variant and scores it; the quantised copies' reports go into `extraReports`.
 * With --tune, validation only: the test split is not looked at.
 */
export async function trainSasRec(ctx: QualityContext, extraReports: Record<string, ModelReport>, data: Dataset, variant: NeuralVariant, split: ReturnType<typeof leaveOneOut>, valCases: EvalCase[], budget: Budget): Promise<ModelReport> {
  const run = prepareRun(ctx, data, variant, split, valCases);
  const { model, optimizer, tableTensor } = run;
  const state: TrainingState = {
    epoch: 0,
    trainSeconds: 0,
    schedule: { learningRate: variant.learningRate, lastCutEpoch: 0 },
    best: { ndcg: -1, epoch: 0, weights: [], validation: {} },
    averaged: { ndcg: -1, epoch: 0, epochs: run.averageOf, weights: [], validation: {} },
    recent: [],
  };
  await resume(run, state);
  setRate(optimizer, state.schedule.learningRate);
  const started = Date.now();
  while (state.epoch < budget.epochs && state.epoch - state.best.epoch < budget.patience && (Date.now() - started) / 60000 < budget.minutes) {
    await trainEpoch(run, state, budget, started);
  }
  const { best, averaged, epoch, trainSeconds } = state;
  // the model scored on test: the best single epoch, or the best average where it validates higher
  const useAverage = averaged.epoch > 0 && averaged.ndcg > best.ndcg;
  const chosen = useAverage ? averaged : best;
  const averagedEpochs: [number, number] | undefined = useAverage ? [averaged.epoch - averaged.epochs + 1, averaged.epoch] : undefined;
  if (averaged.epoch > 0) console.log(`  ${variant.name}: best single epoch ${best.epoch} (val NDCG@10 ${best.ndcg.toFixed(4)}), best average of ${averaged.epochs} epochs ending at ${averaged.epoch} (${averaged.ndcg.toFixed(4)}): keeping the ${useAverage ? 'average' : 'single epoch'}`);
  model.setWeights(chosen.weights);
  if (ctx.args.tune) {
    console.log(`  ${variant.name}: best validation NDCG@10 ${chosen.ndcg.toFixed(4)} HR@10 ${chosen.validation['HR@10'].toFixed(4)} at epoch ${chosen.epoch}; ${(trainSeconds / epoch).toFixed(1)} s per epoch`);
    model.dispose();
    tableTensor.dispose();
    optimizer.dispose();
    return { test: {}, testSampled: {}, validation: chosen.validation, epochs: epoch, bestEpoch: best.epoch, averagedEpochs, trainSecondsPerEpoch: trainSeconds / epoch };
  }
  const { report, quantised } = await scoreOnTest(run, state, chosen, averagedEpochs);
  model.dispose();
  tableTensor.dispose();
  optimizer.dispose();
  Object.assign(extraReports, quantised);
  return report;
}
