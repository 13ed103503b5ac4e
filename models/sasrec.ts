// SASRec-style causal Transformer over a shopper's item sequence (Kang & McAuley 2018),
// with pre-LayerNorm blocks, tied input/output item embeddings and items represented by
// hashed ids plus content features (see features.ts) so its size is fixed whatever the
// catalog. This one module is trained in Node by the benchmarks and in the browser worker.
// the union package registers gradients and the CPU/WebGL backends in Node and browsers alike
import * as tf from '@tensorflow/tfjs';
import { DEFAULT_FEATURES, type FeatureSpec, type ItemTable, slotWeights, vocabSize } from './features.ts';
import { mulberry32 } from './metrics.ts';

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

/** A batch of left-padded next-item training examples (0 = padding). */
export interface TrainingBatch {
  inputs: Int32Array; // [batch, maxLen]
  targets: Int32Array; // [batch, maxLen]
  batch: number;
}

/** Builds a batch from full item sequences: input s[0..n-2], target s[1..n-1], last maxLen. */
export function makeBatch(sequences: readonly ArrayLike<number>[], maxLen: number): TrainingBatch {
  const batch = sequences.length;
  const inputs = new Int32Array(batch * maxLen);
  const targets = new Int32Array(batch * maxLen);
  sequences.forEach((seq, b) => {
    const n = Math.max(0, Math.min(seq.length - 1, maxLen));
    const start = seq.length - 1 - n;
    for (let t = 0; t < n; t++) {
      const pos = b * maxLen + (maxLen - n + t);
      inputs[pos] = seq[start + t];
      targets[pos] = seq[start + t + 1];
    }
  });
  return { inputs, targets, batch };
}

/**
 * Cuts a sequence into training windows of at most maxLen + 1 items that together cover every
 * next-item target once: the last window is the one makeBatch would take, and each earlier
 * one ends on the item where the next begins. makeBatch alone trains on the last maxLen targets
 * of a sequence; on long histories (ML-1M at maxLen 100) that leaves most of them unused.
 */
export function trainingWindows(seq: readonly number[], maxLen: number): number[][] {
  const windows: number[][] = [];
  for (let end = seq.length; end >= 2; end -= maxLen) windows.push(seq.slice(Math.max(0, end - maxLen - 1), end));
  return windows.reverse();
}

/** Left-pads the last maxLen items of each sequence for inference. */
export function makeInputs(sequences: readonly ArrayLike<number>[], maxLen: number): Int32Array {
  const out = new Int32Array(sequences.length * maxLen);
  sequences.forEach((seq, b) => {
    const n = Math.min(seq.length, maxLen);
    for (let t = 0; t < n; t++) out[b * maxLen + maxLen - n + t] = seq[seq.length - n + t];
  });
  return out;
}

interface Block {
  ln1g: tf.Variable; ln1b: tf.Variable;
  wq: tf.Variable; wk: tf.Variable; wv: tf.Variable; wo: tf.Variable;
  ln2g: tf.Variable; ln2b: tf.Variable;
  w1: tf.Variable; b1: tf.Variable; w2: tf.Variable; b2: tf.Variable;
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
      // a sampled "negative" that is the target itself must not count against it
      const hitBias = new Float32Array(positions.length * negCount);
      const negSlots = new Map<number, number[]>();
      localNegs.forEach((id, s) => {
        const slots = negSlots.get(id);
        if (slots) slots.push(s);
        else negSlots.set(id, [s]);
      });
      localTargets.forEach((id, m) => {
        for (const s of negSlots.get(id) ?? []) hitBias[m * negCount + s] = -1e9;
      });
      const masked = tf.add(negLogits, tf.tensor2d(hitBias, [positions.length, negCount]));
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

function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-6))), gamma), beta);
}

/**
 * Attention bias for left-padded inputs [B, L] → [B, 1, L, L]: 0 where query t may attend
 * to key s (s <= t and s is a real item), -1e9 elsewhere. A padding query, which has no
 * allowed key, may see itself so its softmax is defined (its output is masked later).
 * Built in JavaScript: the broadcasting ops it would take are slow on WASM.
 */
function attentionBias(inputs: tf.Tensor2D): tf.Tensor4D {
  const [batch, len] = inputs.shape;
  const ids = inputs.dataSync();
  const bias = new Float32Array(batch * len * len).fill(-1e9);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < len; t++) {
      const row = (b * len + t) * len;
      bias[row + t] = 0;
      for (let s = 0; s <= t; s++) if (ids[b * len + s] > 0) bias[row + s] = 0;
    }
  }
  return tf.tensor4d(bias, [batch, 1, len, len]);
}

/**
 * log(sum(exp(x))) over the last axis of [M, K], with the gradient written directly as
 * softmax(x): tf.logSumExp's own gradient goes through max → equal, slow on WASM.
 */
const rowLogSumExp = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  const max = tf.max(x, 1, true);
  const value = tf.add(tf.log(tf.sum(tf.exp(tf.sub(x, max)), 1)), tf.reshape(max, [-1]));
  save([x]);
  return {
    value,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(tf.expandDims(dy, 1), tf.softmax(saved[0])),
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor) => tf.Tensor1D;

/** How many trailing columns of the batch hold at least one real input or target. */
function activeWidth(batch: TrainingBatch, maxLen: number): number {
  let first = maxLen;
  for (let b = 0; b < batch.batch; b++) {
    for (let t = 0; t < first; t++) {
      const i = b * maxLen + t;
      if (batch.inputs[i] > 0 || batch.targets[i] > 0) {
        first = t;
        break;
      }
    }
  }
  return Math.max(1, maxLen - first);
}

/** -1e9 on column 0 (the padding item) so it is never predicted. */
function paddingBias(n: number): tf.Tensor1D {
  return tf.concat([tf.tensor1d([-1e9]), tf.zeros([n - 1])]) as tf.Tensor1D;
}

/** true on backends whose tensors live in JavaScript-visible memory (reads are cheap). */
function hostBackend(): boolean {
  const name = tf.getBackend();
  return name === 'wasm' || name === 'cpu';
}

/** Swaps the last two axes. */
function tLast(x: tf.Tensor): tf.Tensor {
  const perm = x.shape.map((_, i) => i);
  [perm[x.rank - 2], perm[x.rank - 1]] = [perm[x.rank - 1], perm[x.rank - 2]];
  return tf.transpose(x, perm);
}

/**
 * a × b (batched over leading axes) whose gradient uses explicit transposes: tf.matMul's
 * own gradient calls the transposed matMul, which on the WASM backend (4.22) is ~10x
 * slower than a transpose plus a plain matMul ([6400,64]ᵀ×[6400,64]: 35 ms vs 5 ms;
 * [1221,64]×[12102,64]ᵀ: 1358 ms vs 142 ms).
 */
export const mm = tf.customGrad(((a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.matMul(dy, tLast(saved[1])), tf.matMul(tLast(saved[0]), dy)],
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/**
 * Weighted sum of feature embeddings (weights from slotWeights) for every row of a feature
 * table (`rows`, width `width`), computed in JavaScript with its gradient (a scatter-add).
 * Host backends only.
 */
function embeddingBag(emb: tf.Variable, rows: Int32Array, width: number, weight: Float32Array): tf.Tensor2D {
  const [vocab, dim] = emb.shape;
  const n = rows.length / width;
  const bag = tf.customGrad(((table: tf.Tensor, save: tf.GradSaveFunc) => {
    save([]);
    const e = table.dataSync() as Float32Array;
    const out = new Float32Array(n * dim);
    for (let r = 0; r < n; r++) {
      const o = r * dim;
      for (let f = 0; f < width; f++) {
        const w = weight[r * width + f];
        if (w === 0) continue;
        const src = rows[r * width + f] * dim;
        for (let j = 0; j < dim; j++) out[o + j] += w * e[src + j];
      }
    }
    return {
      value: tf.tensor2d(out, [n, dim]),
      gradFunc: (dy: tf.Tensor) => {
        const g = dy.dataSync() as Float32Array;
        const grad = new Float32Array(vocab * dim);
        for (let r = 0; r < n; r++) {
          const o = r * dim;
          for (let f = 0; f < width; f++) {
            const w = weight[r * width + f];
            if (w === 0) continue;
            const dst = rows[r * width + f] * dim;
            for (let j = 0; j < dim; j++) grad[dst + j] += w * g[o + j];
          }
        }
        return tf.tensor2d(grad, [vocab, dim]);
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as (t: tf.Tensor) => tf.Tensor2D;
  return bag(emb);
}

/**
 * Mean cross-entropy of rows of `logits` [M, K] against column `targets[m]`, with the
 * gradient written as (softmax − one-hot) / M. It uses the backend's fused softmax kernel
 * once: tf.exp alone over Beauty's [1221, 12101] logits took 214 ms on WASM, softmax 76 ms.
 */
export function softmaxCrossEntropy(logits: tf.Tensor, targets: Int32Array): tf.Scalar {
  const [m, k] = logits.shape;
  const flatTargets = tf.tensor1d(Int32Array.from(targets, (t, i) => i * k + t), 'int32');
  const f = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
    const p = tf.softmax(x);
    save([p]);
    // the value is for reporting only; clamped so an underflowed probability is not Infinity
    const picked = tf.gather(tf.reshape(p, [-1]), flatTargets);
    return {
      value: tf.neg(tf.mean(tf.log(tf.maximum(picked, 1e-30)))),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        // tf.oneHot(…, 'float32') on the WASM backend (4.22) writes int32 ones into the float
        // buffer (1.4e-45 each), which silently dropped the target's pull from this gradient;
        // an int32 one-hot cast to float32 is right on every backend
        tf.mul(tf.sub(saved[0], tf.cast(tf.oneHot(tf.tensor1d(targets, 'int32'), k), 'float32')), tf.div(dy, m)),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor) => tf.Scalar;
  return f(logits);
}

/**
 * The item embeddings with tensor ops only (gather + weighted sum), for GPU backends where
 * reading `rows` back would be a synchronous GPU read. Same weights as slotWeights().
 */
export function gatherItemEmbeddings(featureEmb: tf.Tensor2D, rows: tf.Tensor2D, features: FeatureSpec): tf.Tensor2D {
  return tf.tidy(() => {
    const [n, width] = rows.shape;
    const dim = featureEmb.shape[1];
    const gathered = tf.reshape(tf.gather(featureEmb, tf.reshape(rows, [n * width])), [n, width, dim]);
    const mask = tf.cast(tf.greater(rows, 0), 'float32'); // [N, F]
    const groups = features.pooling === 'split' ? [[0, features.idHashes], [features.idHashes, width]] : [[0, width]];
    const weights = tf.concat(
      groups
        .filter(([from, to]) => to > from)
        .map(([from, to]) => {
          const m = tf.slice(mask, [0, from], [n, to - from]);
          return tf.div(m, tf.maximum(tf.sum(m, 1, true), 1));
        }),
      1,
    );
    return tf.sum(tf.mul(gathered, tf.expandDims(weights, 2)), 1) as tf.Tensor2D;
  });
}
