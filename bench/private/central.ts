// The reference a deployment cannot have: the same architecture trained centrally on every
// shopper's training prefix, with Adam, stopped early on validation NDCG@10 (the weights of
// the best validation epoch are kept).
import * as tf from '@tensorflow/tfjs';
import { type EvalCase, evaluate, mulberry32 } from '../../models/metrics.ts';
import { makeBatch, SasRec, type SasRecConfig } from '../../models/sasrec.ts';

export interface CentralSettings {
  maxEpochs: number;
  /** epochs without a new best validation score before stopping */
  patience: number;
  learningRate: number;
  batchSize: number;
  seed: number;
}

export interface CentralResult {
  weights: Float32Array[];
  bestEpoch: number;
  epochsRun: number;
  validationNdcg10: number;
  /** whether the run stopped because validation stopped improving (not at the epoch cap) */
  converged: boolean;
  seconds: number;
}

export async function validationNdcg10(model: SasRec, table: tf.Tensor2D, cases: readonly EvalCase[]): Promise<number> {
  const items = model.itemEmbeddings(table);
  try {
    const r = await evaluate(cases, table.shape[0], (h) => model.scoreNext(h, table, items), { batchSize: 128 });
    return r.full['NDCG@10'];
  } finally {
    items.dispose();
  }
}

export async function trainCentral(config: Partial<SasRecConfig>, table: tf.Tensor2D, train: readonly number[][], validation: readonly EvalCase[], settings: CentralSettings, log: (line: string) => void): Promise<CentralResult> {
  const started = performance.now();
  const model = new SasRec(config);
  const optimizer = tf.train.adam(settings.learningRate);
  const rand = mulberry32(settings.seed);
  const users = train.filter((s) => s.length >= 2);
  let best = { ndcg10: -1, epoch: 0, weights: [] as Float32Array[] };
  let epoch = 0;
  try {
    while (epoch < settings.maxEpochs && epoch - best.epoch < settings.patience) {
      epoch++;
      const t0 = performance.now();
      const order = users.map((_, i) => i);
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
      for (let s = 0; s < order.length; s += settings.batchSize) {
        model.trainStep(optimizer, makeBatch(order.slice(s, s + settings.batchSize).map((i) => users[i]), model.config.maxLen), table);
      }
      const ndcg10 = await validationNdcg10(model, table, validation);
      log(`centralised epoch ${epoch}: validation NDCG@10 ${ndcg10.toFixed(4)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
      if (ndcg10 > best.ndcg10) best = { ndcg10, epoch, weights: await model.getWeights() };
    }
    return { weights: best.weights, bestEpoch: best.epoch, epochsRun: epoch, validationNdcg10: best.ndcg10, converged: epoch - best.epoch >= settings.patience, seconds: (performance.now() - started) / 1000 };
  } finally {
    model.dispose();
    optimizer.dispose();
  }
}
