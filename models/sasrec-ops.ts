// The tensor operations SasRec is built from, with the custom gradients and JavaScript-side
// masks that keep it fast on the WASM backend.
import * as tf from '@tensorflow/tfjs-core';
import type { TrainingBatch } from './batches.ts';
import { type FeatureSpec, slotWeights } from './features.ts';

export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-6))), gamma), beta);
}

/**
 * Attention bias for left-padded inputs [B, L] → [B, 1, L, L]: 0 where query t may attend
 * to key s (s <= t and s is a real item), -1e9 elsewhere. A padding query, which has no
 * allowed key, may see itself so its softmax is defined (its output is masked later).
 * Built in JavaScript: the broadcasting ops it would take are slow on WASM.
 */
export function attentionBias(inputs: tf.Tensor2D): tf.Tensor4D {
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
export const rowLogSumExp = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  const max = tf.max(x, 1, true);
  const value = tf.add(tf.log(tf.sum(tf.exp(tf.sub(x, max)), 1)), tf.reshape(max, [-1]));
  save([x]);
  return {
    value,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(tf.expandDims(dy, 1), tf.softmax(saved[0])),
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor) => tf.Tensor1D;

/** How many trailing columns of the batch hold at least one real input or target. */
export function activeWidth(batch: TrainingBatch, maxLen: number): number {
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
export function paddingBias(n: number): tf.Tensor1D {
  return tf.concat([tf.tensor1d([-1e9]), tf.zeros([n - 1])]) as tf.Tensor1D;
}

/** true on backends whose tensors live in JavaScript-visible memory (reads are cheap). */
export function hostBackend(): boolean {
  const name = tf.getBackend();
  return name === 'wasm' || name === 'cpu';
}

/** Swaps the last two axes. */
export function tLast(x: tf.Tensor): tf.Tensor {
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
export function embeddingBag(emb: tf.Variable, rows: Int32Array, width: number, weight: Float32Array): tf.Tensor2D {
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
