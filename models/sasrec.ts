// SASRec-style causal Transformer over a shopper's item sequence (Kang & McAuley 2018),
// with pre-LayerNorm blocks, tied input/output item embeddings and items represented by
// hashed ids plus content features (see features.ts) so its size is fixed whatever the
// catalog. This one module is trained in Node by the benchmarks and in the browser worker.
// the union package registers gradients and the CPU/WebGL backends in Node and browsers alike
import * as tf from '@tensorflow/tfjs';
import { makeInputs, type TrainingBatch } from './batches.ts';
import { DEFAULT_FEATURES, type FeatureSpec, type ItemTable, slotWeights, vocabSize } from './features.ts';
import { mulberry32 } from './metrics.ts';
import { activeWidth, attentionBias, embeddingBag, gatherItemEmbeddings, hostBackend, layerNorm, mm, paddingBias, rowLogSumExp, softmaxCrossEntropy, tLast } from './sasrec-ops.ts';

export { makeBatch, makeInputs, trainingWindows, type TrainingBatch } from './batches.ts';
export { gatherItemEmbeddings, mm, softmaxCrossEntropy } from './sasrec-ops.ts';

export type LossKind = 'softmax' | 'sampled-softmax' | 'bce';

export interface SasRecConfig {
  features: FeatureSpec;
  dim: number;
  layers: number;
  heads: number;
  maxLen: number;
  dropout: number;
  loss: LossKind;
  /** negatives per batch for sampled softmax (shared by the batch), per position for bce */
  negatives: number;
  /**
   * sampled softmax only: add log(catalog / negatives) to the negatives' logits (the logQ
   * correction for uniform sampling) so the loss estimates the full softmax
   */
  logQ?: boolean;
  seed: number;
}

export const DEFAULT_CONFIG: SasRecConfig = {
  features: DEFAULT_FEATURES,
  dim: 64,
  layers: 2,
  heads: 2,
  maxLen: 50,
  dropout: 0.2,
  loss: 'sampled-softmax',
  negatives: 512,
  seed: 42,
};

interface Block {
  ln1g: tf.Variable; ln1b: tf.Variable;
  wq: tf.Variable; wk: tf.Variable; wv: tf.Variable; wo: tf.Variable;
  ln2g: tf.Variable; ln2b: tf.Variable;
  w1: tf.Variable; b1: tf.Variable; w2: tf.Variable; b2: tf.Variable;
}

/**
 * The sampled softmax's mask, [targets, negatives] flat: -1e9 where a sampled "negative" is
 * that row's target itself, which must not count against it; 0 elsewhere.
 */
function targetHitBias(targets: Int32Array, negatives: Int32Array): Float32Array {
  const hitBias = new Float32Array(targets.length * negatives.length);
  const negSlots = new Map<number, number[]>();
  negatives.forEach((id, s) => {
    const slots = negSlots.get(id);
    if (slots) slots.push(s);
    else negSlots.set(id, [s]);
  });
  targets.forEach((id, m) => {
    for (const s of negSlots.get(id) ?? []) hitBias[m * negatives.length + s] = -1e9;
  });
  return hitBias;
}

export class SasRec {
  readonly config: SasRecConfig;
  /** every trainable weight, in a fixed order: this order is the wire format */
  readonly variables: tf.Variable[] = [];
  readonly names: string[] = [];
  private readonly featureEmb: tf.Variable;
  private readonly posEmb: tf.Variable;
  private readonly blocks: Block[] = [];
  private readonly lnFg: tf.Variable;
  private readonly lnFb: tf.Variable;
  private seedCounter: number;

  constructor(config: Partial<SasRecConfig> = {}) {
    this.config = { ...DEFAULT_CONFIG, ...config, features: { ...DEFAULT_FEATURES, ...config.features } };
    const { dim, layers, maxLen, seed } = this.config;
    if (dim % this.config.heads !== 0) throw new Error('dim must be divisible by heads');
    this.seedCounter = seed;
    this.random = mulberry32(seed);
    const normal = (shape: number[], std: number) => tf.truncatedNormal(shape, 0, std, 'float32', this.nextSeed());
    const glorot = (fanIn: number, fanOut: number) => {
      const limit = Math.sqrt(6 / (fanIn + fanOut));
      return tf.randomUniform([fanIn, fanOut], -limit, limit, 'float32', this.nextSeed());
    };
    this.featureEmb = this.add('item_features', normal([vocabSize(this.config.features), dim], 0.05));
    this.posEmb = this.add('positions', normal([maxLen, dim], 0.05));
    for (let l = 0; l < layers; l++) {
      const p = `block${l}.`;
      this.blocks.push({
        ln1g: this.add(p + 'ln1.gamma', tf.ones([dim])),
        ln1b: this.add(p + 'ln1.beta', tf.zeros([dim])),
        wq: this.add(p + 'attn.q', glorot(dim, dim)),
        wk: this.add(p + 'attn.k', glorot(dim, dim)),
        wv: this.add(p + 'attn.v', glorot(dim, dim)),
        wo: this.add(p + 'attn.o', glorot(dim, dim)),
        ln2g: this.add(p + 'ln2.gamma', tf.ones([dim])),
        ln2b: this.add(p + 'ln2.beta', tf.zeros([dim])),
        w1: this.add(p + 'ffn.w1', glorot(dim, dim)),
        b1: this.add(p + 'ffn.b1', tf.zeros([dim])),
        w2: this.add(p + 'ffn.w2', glorot(dim, dim)),
        b2: this.add(p + 'ffn.b2', tf.zeros([dim])),
      });
    }
    this.lnFg = this.add('final_ln.gamma', tf.ones([dim]));
    this.lnFb = this.add('final_ln.beta', tf.zeros([dim]));
  }

  private add(name: string, init: tf.Tensor): tf.Variable {
    const v = tf.variable(init, true, `${name}_${Math.random().toString(36).slice(2, 8)}`);
    init.dispose();
    this.variables.push(v);
    this.names.push(name);
    return v;
  }

  private nextSeed(): number {
    return this.seedCounter++;
  }

  /** seeded uniform [0, 1) for negative sampling, so runs are reproducible */
  private random: () => number;

  get parameterCount(): number {
    return this.variables.reduce((n, v) => n + v.size, 0);
  }

  /** Item embeddings for every row of the table: mean of its feature embeddings. [N, dim] */
  itemEmbeddings(table: ItemTable | tf.Tensor2D): tf.Tensor2D {
    const { features } = this.config;
    if (hostBackend()) {
      // CPU / WASM: an embedding bag in plain JavaScript. tf.gather of N×F rows plus the
      // masked mean took ~380 ms per step for Beauty's 12k items on WASM; this takes ~15 ms.
      const rows = table instanceof tf.Tensor ? (table.dataSync() as Int32Array) : table.rows;
      const width = table instanceof tf.Tensor ? table.shape[1] : table.width;
      return embeddingBag(this.featureEmb, rows, width, slotWeights(features, rows, width));
    }
    return tf.tidy(() => {
      const rows = table instanceof tf.Tensor ? table : tf.tensor2d(table.rows, [table.size, table.width], 'int32');
      return gatherItemEmbeddings(this.featureEmb as tf.Tensor2D, rows, features);
    });
  }

  /** Hidden states for every position. inputs: int32 [B, L] item indices, 0 = padding. */
  encode(inputs: tf.Tensor2D, items: tf.Tensor2D, training: boolean): tf.Tensor3D {
    const { dim, heads, maxLen, dropout } = this.config;
    const [batch, len] = inputs.shape;
    if (len > maxLen) throw new Error(`inputs must be [batch, <= ${maxLen}]`);
    const drop = (x: tf.Tensor) => (training && dropout > 0 ? tf.dropout(x, dropout, undefined, this.nextSeed()) : x);
    // first, while `inputs` still holds its JavaScript values: reading it back after a GPU
    // backend has uploaded it would be a synchronous GPU read (slow, and on WebGPU in a
    // worker it can lose the device)
    const bias = attentionBias(inputs); // [B, 1, L, L]: 0 where attention is allowed, -1e9 elsewhere
    const keep = tf.expandDims(tf.cast(tf.greater(inputs, 0), 'float32'), 2); // [B, L, 1]
    let x: tf.Tensor = tf.reshape(tf.gather(items, tf.reshape(inputs, [batch * len])), [batch, len, dim]);
    // left-padded inputs end at the last position: a shorter window uses the last `len` rows
    const pos = len === maxLen ? this.posEmb : tf.slice(this.posEmb, [maxLen - len, 0], [len, dim]);
    x = tf.add(tf.mul(x, Math.sqrt(dim)), tf.expandDims(pos, 0));
    x = tf.mul(drop(x), keep);
    const dh = dim / heads;
    const split = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [batch, len, heads, dh]), [0, 2, 1, 3]);
    for (const b of this.blocks) {
      const h = layerNorm(x, b.ln1g, b.ln1b);
      const flat = tf.reshape(h, [batch * len, dim]);
      const q = split(mm(flat, b.wq));
      const k = split(mm(flat, b.wk));
      const v = split(mm(flat, b.wv));
      // explicit transposes (mm, tLast): the WASM backend's transposed matMul is ~10x slower
      const scores = tf.add(tf.div(mm(q, tLast(k)), Math.sqrt(dh)), bias);
      const attn = drop(tf.softmax(scores));
      const ctx = tf.reshape(tf.transpose(mm(attn, v), [0, 2, 1, 3]), [batch * len, dim]);
      x = tf.add(x, drop(tf.reshape(mm(ctx, b.wo), [batch, len, dim])));
      const h2 = tf.reshape(layerNorm(x, b.ln2g, b.ln2b), [batch * len, dim]);
      const ff = tf.add(mm(tf.relu(tf.add(mm(h2, b.w1), b.b1)), b.w2), b.b2);
      x = tf.mul(tf.add(x, drop(tf.reshape(ff, [batch, len, dim]))), keep);
    }
    return layerNorm(x, this.lnFg, this.lnFb) as tf.Tensor3D;
  }

  /**
   * Mean next-item loss over the non-padding positions of a batch.
   *
   * Speed matters here (this runs in a browser worker and in the WASM benchmark), so:
   * - leading columns that are padding for every sequence are cut off (exact: inputs are
   *   left-padded and position embeddings are aligned to the right end);
   * - for the sampled losses only the items the batch touches (inputs, targets, negatives)
   *   are embedded, instead of the whole catalog table every step;
   * - masks are built in JavaScript, where the WASM backend's broadcasting `equal` is slow.
   */
  loss(batch: TrainingBatch, table: tf.Tensor2D, training = true): tf.Scalar {
    const { maxLen, dim, loss, negatives } = this.config;
    const width = activeWidth(batch, maxLen);
    const first = maxLen - width;
    const inputIds = new Int32Array(batch.batch * width);
    const positions: number[] = []; // flat index into [batch, width] of every real target
    const targetIds: number[] = [];
    for (let b = 0; b < batch.batch; b++) {
      for (let t = 0; t < width; t++) {
        const src = b * maxLen + first + t;
        inputIds[b * width + t] = batch.inputs[src];
        if (batch.targets[src] > 0) {
          positions.push(b * width + t);
          targetIds.push(batch.targets[src]);
        }
      }
    }
    if (positions.length === 0) return tf.scalar(0);
    const n = table.shape[0];
    const hiddenAt = (items: tf.Tensor2D, ids: Int32Array) => {
      const inputs = tf.tensor2d(ids, [batch.batch, width], 'int32');
      const hidden = tf.reshape(this.encode(inputs, items, training), [batch.batch * width, dim]);
      return tf.gather(hidden, tf.tensor1d(positions, 'int32')) as tf.Tensor2D; // [M, d]
    };

    if (loss === 'softmax') {
      // full cross-entropy over every item (SASRec+, Klenitskiy & Vasilev 2023): the padding
      // row 0 is left out of the logits instead of being masked, so targets shift by one
      const items = this.itemEmbeddings(table);
      const h = hiddenAt(items, inputIds);
      const catalog = tf.slice(items, [1, 0], [n - 1, dim]);
      const logits = mm(h, tf.transpose(catalog)); // [M, N-1]
      return softmaxCrossEntropy(logits, Int32Array.from(targetIds, (t) => t - 1));
    }

    // uniform negatives: shared by the batch (sampled softmax) or one per position (bce)
    const negCount = loss === 'sampled-softmax' ? negatives : positions.length;
    const negIds = new Int32Array(negCount);
    for (let i = 0; i < negCount; i++) negIds[i] = 1 + Math.floor(this.random() * (n - 1));

    // renumber the touched items 0..U-1 (0 stays padding) and embed only those
    const local = new Map<number, number>([[0, 0]]);
    const touched: number[] = [0];
    const toLocal = (id: number) => {
      let i = local.get(id);
      if (i === undefined) {
        i = touched.length;
        local.set(id, i);
        touched.push(id);
      }
      return i;
    };
    const localInputs = inputIds.map(toLocal);
    const localTargets = Int32Array.from(targetIds, toLocal);
    const localNegs = negIds.map(toLocal);
    const items = this.itemEmbeddings(tf.gather(table, tf.tensor1d(touched, 'int32')) as tf.Tensor2D);
    const h = hiddenAt(items, localInputs);
    const posLogit = tf.sum(tf.mul(h, tf.gather(items, tf.tensor1d(localTargets, 'int32'))), 1); // [M]

    if (loss === 'sampled-softmax') {
      // + log((N-1)/S): the logQ correction for uniform sampling, so the sampled denominator
      // estimates the full softmax one (Bengio & Senécal 2008; Yi et al. 2019)
      const rawNeg = mm(h, tf.transpose(tf.gather(items, tf.tensor1d(localNegs, 'int32')))); // [M, S]
      const negLogits = this.config.logQ ? tf.add(rawNeg, Math.log((n - 1) / negCount)) : rawNeg;
      const masked = tf.add(negLogits, tf.tensor2d(targetHitBias(localTargets, localNegs), [positions.length, negCount]));
      const all = tf.concat([tf.expandDims(posLogit, 1), masked], 1);
      return tf.mean(tf.sub(rowLogSumExp(all), posLogit));
    }
    // bce: one uniform negative per position, as in the original SASRec
    const negLogit = tf.sum(tf.mul(h, tf.gather(items, tf.tensor1d(localNegs, 'int32'))), 1);
    return tf.add(tf.mean(tf.softplus(tf.neg(posLogit))), tf.mean(tf.softplus(negLogit)));
  }

  /** One optimiser step; returns the loss. */
  trainStep(optimizer: tf.Optimizer, batch: TrainingBatch, table: tf.Tensor2D): number {
    const cost = optimizer.minimize(() => this.loss(batch, table, true), true, this.variables);
    const value = cost ? cost.dataSync()[0] : NaN;
    cost?.dispose();
    return value;
  }

  /**
   * `steps` optimiser steps on one batch, reading the last loss back asynchronously: what
   * GPU backends need (WebGPU has no good synchronous read).
   */
  async trainSteps(optimizer: tf.Optimizer, batch: TrainingBatch, table: tf.Tensor2D, steps: number): Promise<number> {
    let cost: tf.Scalar | null = null;
    for (let s = 0; s < steps; s++) {
      cost?.dispose();
      cost = optimizer.minimize(() => this.loss(batch, table, true), true, this.variables);
    }
    if (!cost) return NaN;
    const value = (await cost.data())[0];
    cost.dispose();
    return value;
  }

  /**
   * Scores of every table item as the next item after each sequence. Returns
   * [sequences.length × table rows], row-major; index 0 (padding) is -Infinity.
   * Pass precomputed `items` (from itemEmbeddings) when scoring many batches.
   */
  async scoreNext(sequences: readonly ArrayLike<number>[], table: tf.Tensor2D, items?: tf.Tensor2D): Promise<Float32Array> {
    const { maxLen, dim } = this.config;
    // only as many (right-aligned) positions as the longest sequence needs: exact, and much
    // faster for short histories
    const width = Math.max(1, Math.min(maxLen, Math.max(...sequences.map((s) => s.length))));
    const scores = tf.tidy(() => {
      const emb = items ?? this.itemEmbeddings(table);
      const inputs = tf.tensor2d(makeInputs(sequences, width), [sequences.length, width], 'int32');
      const hidden = this.encode(inputs, emb, false);
      const last = tf.reshape(tf.slice(hidden, [0, width - 1, 0], [sequences.length, 1, dim]), [sequences.length, dim]);
      return tf.add(mm(last, tf.transpose(emb)), paddingBias(emb.shape[0]));
    });
    const out = (await scores.data()) as Float32Array;
    scores.dispose();
    return out;
  }

  /** Last-position hidden state: the shopper's learned embedding. */
  async embed(sequence: ArrayLike<number>, table: tf.Tensor2D): Promise<Float32Array> {
    const { maxLen, dim } = this.config;
    const t = tf.tidy(() => {
      const inputs = tf.tensor2d(makeInputs([sequence], maxLen), [1, maxLen], 'int32');
      return tf.reshape(tf.slice(this.encode(inputs, this.itemEmbeddings(table), false), [0, maxLen - 1, 0], [1, 1, dim]), [dim]);
    });
    const out = (await t.data()) as Float32Array;
    t.dispose();
    return out;
  }

  /** Copies of every weight, in `variables` order. */
  async getWeights(): Promise<Float32Array[]> {
    return Promise.all(this.variables.map(async (v) => (await v.data()) as Float32Array));
  }

  setWeights(weights: readonly Float32Array[]): void {
    if (weights.length !== this.variables.length) throw new Error('weight count mismatch');
    this.variables.forEach((v, i) => {
      if (weights[i].length !== v.size) throw new Error(`weight ${this.names[i]} has ${weights[i].length} values, expected ${v.size}`);
      const value = tf.tensor(weights[i], v.shape, 'float32');
      v.assign(value); // assign copies: the temporary must be freed, or every load leaks a model
      value.dispose();
    });
  }

  dispose(): void {
    for (const v of this.variables) v.dispose();
  }
}
