// The model variants bench:quality compares, and what their training and scoring share:
// epoch batches, a scorer over the whole catalog, and scoring order.
import * as tf from '@tensorflow/tfjs';
import type { BatchScorer, EvalCase } from '../../models/metrics.ts';
import { DEFAULT_FEATURES, type FeatureSpec } from '../../models/features.ts';
import type { LossKind, SasRec, SasRecConfig } from '../../models/sasrec.ts';
import type { QualityArgs } from './options.ts';

export interface NeuralVariant {
  name: string;
  config: Partial<SasRecConfig>;
  /** use the dataset's attributes as content features */
  attrs: boolean;
  batchSize: number;
  learningRate: number;
}

function exactFeatures(numItems: number, withAttrs: boolean): FeatureSpec {
  // one embedding row per item (the classic SASRec table): grows with the catalog
  return { idMode: 'exact', idBuckets: numItems, idHashes: 1, attrBuckets: withAttrs ? 4096 : 0, maxAttrs: withAttrs ? 6 : 0 };
}

/** Every SASRec variant --models may name, configured from the command line. */
export function variants(args: QualityArgs, seed: number, numItems: number): NeuralVariant[] {
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
export function epochBatches(train: number[][], batchSize: number, rand: () => number): number[][][] {
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

export function sasrecScorer(model: SasRec, tableTensor: tf.Tensor2D): { scorer: BatchScorer; dispose: () => void } {
  const items = tf.tidy(() => model.itemEmbeddings(tableTensor));
  return {
    scorer: (histories) => model.scoreNext(histories, tableTensor, items),
    dispose: () => items.dispose(),
  };
}

/** Sorts cases by history length so scoring batches are as short as possible. */
export function byLength(cases: readonly EvalCase[]): EvalCase[] {
  return [...cases].sort((a, b) => Math.min(a.history.length, 50) - Math.min(b.history.length, 50));
}
