import { describe, expect, it } from 'vitest';
import { trainRoundUpdate } from '../../federated/client.ts';
import type { RoundTask } from '../../federated/protocol.ts';
import { decodeSummary, defaultScale, dequantize, flattenWeights, l2Norm } from '../../federated/summary.ts';
import { ItemTable } from '../../models/features.ts';
import { mulberry32 } from '../../models/metrics.ts';
import { makeBatch, SasRec } from '../../models/sasrec.ts';
import * as tf from '@tensorflow/tfjs';

const features = { idMode: 'hash' as const, idBuckets: 64, idHashes: 2, attrBuckets: 16, maxAttrs: 1 };

function setup() {
  const model = new SasRec({ features, dim: 16, layers: 1, heads: 1, maxLen: 8, negatives: 8, dropout: 0, seed: 1 });
  const items = Array.from({ length: 30 }, (_, i) => ({ key: `item${i}`, attrs: [`cat${i % 3}`] }));
  const table = new ItemTable(model.config.features, items);
  return { model, table };
}

describe('trainRoundUpdate', () => {
  it('trains from the global weights, emits a valid clipped summary and restores personal weights', async () => {
    const { model, table } = setup();
    const personal = await model.getWeights();
    // the round's global model differs from the shopper's personal one
    const globalWeights = personal.map((w) => w.map((x) => x * 0.9));
    const length = model.parameterCount;
    const clipNorm = 0.05;
    const task: RoundTask = {
      roundId: 4, modelVersion: 2, length, epochs: 2, learningRate: 0.01, batchSize: 2, optimizer: 'adam',
      clipNorm, clientNoiseStd: 0, bits: 16, scale: defaultScale(clipNorm, 16), deadline: Date.now() + 60_000,
    };
    const sequences = [[1, 2, 3, 4, 5], [3, 4, 5, 6], [7, 8, 9, 1, 2, 3]];
    const memory = tf.memory();
    const result = await trainRoundUpdate({ model, globalWeights, task, sequences, table, random: mulberry32(2) });
    // nothing left allocated: a simulation runs thousands of these in one process
    expect(tf.memory().numTensors).toBe(memory.numTensors);
    expect(tf.memory().numBytes).toBe(memory.numBytes);
    expect(result.steps).toBe(4);
    expect(Number.isFinite(result.meanLoss)).toBe(true);

    const decoded = decodeSummary(result.summary);
    expect(decoded).toMatchObject({ roundId: 4, modelVersion: 2, length, bits: 16 });
    const delta = dequantize(decoded);
    const norm = l2Norm(delta);
    expect(norm).toBeGreaterThan(0); // training moved the weights
    expect(norm).toBeLessThanOrEqual(clipNorm * 1.01);

    // the personal model is back, bit for bit
    expect(flattenWeights(await model.getWeights())).toEqual(flattenWeights(personal));
    model.dispose();
  });

  it('averaging 8-bit summaries over rounds (FedAvg) lowers the clients\' loss: the federated path moves the model the right way', async () => {
    // the question behind an all-zero federated benchmark: does the summary → mean → global
    // step path train at all? Deterministic full-softmax loss, no dropout.
    const model = new SasRec({ features, dim: 16, layers: 1, heads: 1, maxLen: 8, loss: 'softmax', dropout: 0, seed: 3 });
    const items = Array.from({ length: 30 }, (_, i) => ({ key: `item${i}`, attrs: [`cat${i % 3}`] }));
    const table = new ItemTable(model.config.features, items);
    const tableTensor = tf.tensor2d(table.rows, [table.size, table.width], 'int32') as tf.Tensor2D;
    // each client: one shopper following the same chain i → i+1 from their own start
    const clients = Array.from({ length: 8 }, (_, c) => [Array.from({ length: 6 }, (_, t) => 1 + ((3 * c + t) % 30))]);
    const lossOf = (weights: Float32Array[]) => {
      model.setWeights(weights);
      const l = model.loss(makeBatch(clients.flat(), 8), tableTensor, false);
      const v = l.dataSync()[0];
      l.dispose();
      return v;
    };
    const shapes = await model.getWeights();
    let global = flattenWeights(shapes);
    const before = lossOf(shapes);
    const clipNorm = 1;
    const random = mulberry32(9);
    for (let round = 1; round <= 15; round++) {
      const task: RoundTask = {
        roundId: round, modelVersion: round, length: global.length, epochs: 2, learningRate: 0.01, batchSize: 16, optimizer: 'adam',
        clipNorm, clientNoiseStd: 0, bits: 8, scale: defaultScale(clipNorm, 8), deadline: 0,
      };
      const globalWeights = shapes.map((w, i) => global.subarray(shapes.slice(0, i).reduce((n, x) => n + x.length, 0)).slice(0, w.length));
      const mean = new Float32Array(global.length);
      for (const sequences of clients) {
        const { summary } = await trainRoundUpdate({ model, globalWeights, task, sequences, table: tableTensor, random });
        const delta = dequantize(decodeSummary(summary));
        for (let i = 0; i < mean.length; i++) mean[i] += delta[i] / clients.length;
      }
      global = global.map((w, i) => w + mean[i]);
    }
    const after = lossOf(shapes.map((w, i) => global.subarray(shapes.slice(0, i).reduce((n, x) => n + x.length, 0)).slice(0, w.length)));
    expect(after).toBeLessThan(before * 0.8);
    tableTensor.dispose();
    model.dispose();
  });

  it('a shopper with one item (nothing to learn) sends a zero update, noised like any other where the round says so', async () => {
    const { model, table } = setup();
    const globalWeights = await model.getWeights();
    const length = model.parameterCount;
    const task: RoundTask = {
      roundId: 2, modelVersion: 1, length, epochs: 1, learningRate: 0.2, batchSize: 1, optimizer: 'sgd',
      clipNorm: 0.3, clientNoiseStd: 0, bits: 8, scale: defaultScale(0.3, 8), deadline: Date.now() + 60_000,
    };
    const silent = await trainRoundUpdate({ model, globalWeights, task, sequences: [[7]], table, random: mulberry32(3) });
    expect(silent.steps).toBe(0);
    const zero = decodeSummary(silent.summary);
    expect(zero).toMatchObject({ roundId: 2, length, bits: 8 });
    expect(zero.ints.every((x) => x === 0)).toBe(true);
    // distributed DP: the client's share of the noise goes on even when the update is zero
    const noised = decodeSummary((await trainRoundUpdate({ model, globalWeights, task: { ...task, clientNoiseStd: 0.01 }, sequences: [[7]], table, random: mulberry32(3) })).summary);
    expect(l2Norm(dequantize(noised))).toBeGreaterThan(0.01 * Math.sqrt(length) * 0.5);
    model.dispose();
  });

  it('refuses a task whose length does not match the model', async () => {
    const { model, table } = setup();
    const globalWeights = await model.getWeights();
    const task = { roundId: 1, modelVersion: 1, length: 5, epochs: 1, learningRate: 0.01, batchSize: 2, optimizer: 'sgd', clipNorm: 1, clientNoiseStd: 0, bits: 16, scale: 100, deadline: 0 } as RoundTask;
    await expect(trainRoundUpdate({ model, globalWeights, task, sequences: [[1, 2, 3]], table })).rejects.toThrow(/expects 5 values/);
    model.dispose();
  });
});
