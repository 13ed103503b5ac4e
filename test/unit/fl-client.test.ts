import { describe, expect, it } from 'vitest';
import { trainRoundUpdate } from '../../federated/client.ts';
import type { RoundTask } from '../../federated/protocol.ts';
import { decodeSummary, defaultScale, dequantize, flattenWeights, l2Norm } from '../../federated/summary.ts';
import { ItemTable } from '../../models/features.ts';
import { mulberry32 } from '../../models/metrics.ts';
import { SasRec } from '../../models/sasrec.ts';

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
    const result = await trainRoundUpdate({ model, globalWeights, task, sequences, table, random: mulberry32(2) });
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

  it('refuses a task whose length does not match the model', async () => {
    const { model, table } = setup();
    const globalWeights = await model.getWeights();
    const task = { roundId: 1, modelVersion: 1, length: 5, epochs: 1, learningRate: 0.01, batchSize: 2, optimizer: 'sgd', clipNorm: 1, clientNoiseStd: 0, bits: 16, scale: 100, deadline: 0 } as RoundTask;
    await expect(trainRoundUpdate({ model, globalWeights, task, sequences: [[1, 2, 3]], table })).rejects.toThrow(/expects 5 values/);
    model.dispose();
  });
});
