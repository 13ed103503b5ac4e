import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SasRec, makeBatch } from '../../models/sasrec.ts';
import { ItemTable, DEFAULT_FEATURES } from '../../models/features.ts';
import { saveCheckpoint, loadCheckpoint, loadEpochWeights, averageWeights, reduceOnPlateau, type CheckpointState } from '../../bench/checkpoint.ts';

// A resumed run must continue exactly where the interrupted one was: same weights and the
// same Adam moments and step count (Adam's bias correction depends on it).
const spec = { ...DEFAULT_FEATURES, idBuckets: 64, attrBuckets: 16, maxAttrs: 1 };
const items = Array.from({ length: 20 }, (_, i) => ({ key: `item${i + 1}`, attrs: [`cat${i % 4}`] }));
const config = { features: spec, dim: 8, heads: 2, layers: 1, maxLen: 8, dropout: 0, loss: 'softmax' as const };

describe('training checkpoints', () => {
  it('a resumed model and optimiser take the same next steps as the uninterrupted ones', async () => {
    await tf.setBackend('cpu');
    const dir = mkdtempSync(join(tmpdir(), 'silo-ckpt-'));
    try {
      const table = new ItemTable(spec, items);
      const tableTensor = tf.tensor2d(table.rows, [table.size, table.width], 'int32');
      const batch = makeBatch(Array.from({ length: 8 }, (_, u) => Array.from({ length: 6 }, (_, t) => 1 + ((u * 3 + t) % 20))), 8);
      const model = new SasRec(config);
      const optimizer = tf.train.adam(0.01);
      for (let i = 0; i < 3; i++) model.trainStep(optimizer, batch, tableTensor);
      const best = await model.getWeights();
      const state: CheckpointState = { fingerprint: 'same settings', epoch: 3, trainSeconds: 1.5, best: { ndcg: 0.25, epoch: 2, validation: { 'NDCG@10': 0.25 } } };
      await saveCheckpoint(dir, state, model, optimizer, best);

      const resumedModel = new SasRec({ ...config, seed: 99 }); // other initial weights
      const resumedOptimizer = tf.train.adam(0.01);
      const resumed = await loadCheckpoint(dir, 'same settings', resumedModel, resumedOptimizer);
      expect(resumed?.state).toEqual(state);
      expect(resumed?.bestWeights).toEqual(best);
      expect(await resumedModel.getWeights()).toEqual(await model.getWeights());

      for (let i = 0; i < 2; i++) {
        expect(resumedModel.trainStep(resumedOptimizer, batch, tableTensor)).toBeCloseTo(model.trainStep(optimizer, batch, tableTensor), 6);
      }
      const [a, b] = [await model.getWeights(), await resumedModel.getWeights()];
      a.forEach((w, i) => w.forEach((v, j) => expect(b[i][j]).toBeCloseTo(v, 6)));
      // the test would pass trivially if the steps changed nothing
      expect(a[0]).not.toEqual(best[0]);
      for (const m of [model, resumedModel]) m.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a checkpoint made with other settings, and finds none in an empty folder', async () => {
    await tf.setBackend('cpu');
    const dir = mkdtempSync(join(tmpdir(), 'silo-ckpt-'));
    try {
      const model = new SasRec(config);
      const optimizer = tf.train.adam(0.01);
      expect(await loadCheckpoint(dir, 'a', model, optimizer)).toBeNull();
      writeFileSync(join(dir, 'state.json'), JSON.stringify({ fingerprint: 'b', epoch: 1, trainSeconds: 1, best: { ndcg: 0, epoch: 1, validation: {} } }));
      await expect(loadCheckpoint(dir, 'a', model, optimizer)).rejects.toThrow(/other settings/);
      model.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('checkpoint averaging', () => {
  it('averages snapshots element-wise and refuses mismatched ones', () => {
    const mean = averageWeights([
      [Float32Array.of(1, 2), Float32Array.of(-3)],
      [Float32Array.of(3, 6), Float32Array.of(0)],
      [Float32Array.of(2, 1), Float32Array.of(6)],
    ]);
    expect(mean).toEqual([Float32Array.of(2, 3), Float32Array.of(1)]);
    expect(() => averageWeights([[Float32Array.of(1, 2)], [Float32Array.of(1)]])).toThrow(/differ/);
    expect(() => averageWeights([])).toThrow(/nothing/);
  });

  it('keeps every epoch and the best average, and reads them back', async () => {
    await tf.setBackend('cpu');
    const dir = mkdtempSync(join(tmpdir(), 'silo-ckpt-'));
    try {
      const model = new SasRec(config);
      const optimizer = tf.train.adam(0.01);
      const first = await model.getWeights();
      const base = { fingerprint: 'f', trainSeconds: 1, best: { ndcg: 0.2, epoch: 1, validation: { 'NDCG@10': 0.2 } } };
      await saveCheckpoint(dir, { ...base, epoch: 1 }, model, optimizer, first);
      const second = first.map((w) => w.map((v) => v + 1));
      model.setWeights(second);
      const mean = averageWeights([first, second]);
      const state: CheckpointState = { ...base, epoch: 2, averaged: { ndcg: 0.3, epoch: 2, epochs: 2, validation: { 'NDCG@10': 0.3 } } };
      await saveCheckpoint(dir, state, model, optimizer, first, mean);

      expect(loadEpochWeights(dir, 1)).toEqual(first);
      expect(loadEpochWeights(dir, 2)).toEqual(second);
      expect(loadEpochWeights(dir, 3)).toBeNull();
      const resumedModel = new SasRec(config);
      const resumed = await loadCheckpoint(dir, 'f', resumedModel, tf.train.adam(0.01));
      expect(resumed?.state.averaged).toEqual(state.averaged);
      expect(resumed?.averagedWeights).toEqual(mean);
      for (const m of [model, resumedModel]) m.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('reduceOnPlateau', () => {
  it('cuts the rate after `patience` epochs without a new best, counting from the best epoch or the last cut', () => {
    const start = { learningRate: 0.005, lastCutEpoch: 0 };
    expect(reduceOnPlateau(start, 12, 10, 0.3, 3)).toBe(start); // 2 epochs since the best
    const cut = reduceOnPlateau(start, 13, 10, 0.3, 3);
    expect(cut.learningRate).toBeCloseTo(0.0015, 12);
    expect(cut.lastCutEpoch).toBe(13);
    expect(reduceOnPlateau(cut, 15, 10, 0.3, 3)).toBe(cut); // 2 epochs since the cut
    expect(reduceOnPlateau(cut, 16, 10, 0.3, 3).learningRate).toBeCloseTo(0.00045, 12);
    expect(reduceOnPlateau(cut, 16, 14, 0.3, 3)).toBe(cut); // a new best since the cut
    expect(reduceOnPlateau(start, 40, 10, 1, 3)).toBe(start); // factor 1: no schedule
  });
});
