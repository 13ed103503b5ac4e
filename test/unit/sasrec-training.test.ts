import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { SasRec, makeBatch, makeInputs, trainingWindows } from '../../models/sasrec.ts';
import { ItemTable, DEFAULT_FEATURES } from '../../models/features.ts';

// A tiny model on the CPU backend: checks the speed-ups in loss()/scoreNext() keep the maths.
const spec = { ...DEFAULT_FEATURES, idBuckets: 64, attrBuckets: 16, maxAttrs: 1 };
const items = Array.from({ length: 20 }, (_, i) => ({ key: `item${i + 1}`, attrs: [`cat${i % 4}`] }));

describe('SasRec fast paths', () => {
  it('setWeights loads the values and frees its temporaries (a worker loads models repeatedly)', async () => {
    await tf.setBackend('cpu');
    const model = new SasRec({ features: spec, dim: 8, heads: 2, layers: 1, maxLen: 10, dropout: 0 });
    const source = new SasRec({ features: spec, dim: 8, heads: 2, layers: 1, maxLen: 10, dropout: 0, seed: 7 });
    const weights = await source.getWeights();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) model.setWeights(weights);
    expect(tf.memory().numTensors).toBe(before);
    expect(await model.getWeights()).toEqual(weights);
    model.dispose();
    source.dispose();
  });

  it('scores short histories the same with the trimmed window as with the full maxLen', async () => {
    await tf.setBackend('cpu');
    const table = new ItemTable(spec, items);
    const tableTensor = tf.tensor2d(table.rows, [table.size, table.width], 'int32');
    const model = new SasRec({ features: spec, dim: 8, heads: 2, layers: 1, maxLen: 10, dropout: 0 });
    const seqs = [[1, 2, 3], [4, 5]];
    const trimmed = await model.scoreNext(seqs, tableTensor);
    const full = tf.tidy(() => {
      const emb = model.itemEmbeddings(tableTensor);
      const hidden = model.encode(tf.tensor2d(makeInputs(seqs, 10), [2, 10], 'int32'), emb, false);
      const last = tf.reshape(tf.slice(hidden, [0, 9, 0], [2, 1, 8]), [2, 8]);
      return tf.matMul(last, emb, false, true).dataSync();
    });
    for (let b = 0; b < 2; b++) for (let j = 1; j < table.size; j++) expect(trimmed[b * table.size + j]).toBeCloseTo(full[b * table.size + j], 4);
    expect(trimmed[0]).toBeLessThan(-1e8); // padding is never recommended
    model.dispose();
  });

  it.each([
    ['sampled-softmax', false],
    ['sampled-softmax', true],
    ['bce', false],
    ['softmax', false],
  ] as const)('%s (logQ %s) training lowers the loss on a repeated pattern', async (loss, logQ) => {
    await tf.setBackend('cpu');
    const table = new ItemTable({ ...spec, pooling: logQ ? 'split' : 'mean' }, items);
    const tableTensor = tf.tensor2d(table.rows, [table.size, table.width], 'int32');
    const model = new SasRec({ features: table.spec, dim: 16, heads: 2, layers: 1, maxLen: 8, dropout: 0, loss, negatives: 8, logQ });
    const seqs = Array.from({ length: 16 }, (_, u) => Array.from({ length: 6 }, (_, t) => 1 + ((u + t) % 20)));
    const batch = makeBatch(seqs, 8);
    const optimizer = tf.train.adam(0.01);
    const first = model.trainStep(optimizer, batch, tableTensor);
    let last = first;
    for (let i = 0; i < 40; i++) last = model.trainStep(optimizer, batch, tableTensor);
    expect(Number.isFinite(first)).toBe(true);
    expect(last).toBeLessThan(first * 0.7);
    model.dispose();
  });
});

describe('trainingWindows', () => {
  // every (input, target) pair a window's batch row trains on
  const pairs = (seqs: number[][], maxLen: number) => {
    const { inputs, targets } = makeBatch(seqs, maxLen);
    const out: string[] = [];
    for (let i = 0; i < inputs.length; i++) if (targets[i] !== 0) out.push(`${inputs[i]}>${targets[i]}`);
    return out;
  };

  it('covers every next-item target of a long sequence exactly once', () => {
    const seq = Array.from({ length: 23 }, (_, i) => i + 1);
    const windows = trainingWindows(seq, 5);
    expect(windows.at(-1)).toEqual(seq.slice(-6)); // the window makeBatch alone would take
    expect(windows.every((w) => w.length >= 2 && w.length <= 6)).toBe(true);
    expect(pairs(windows, 5).sort()).toEqual(seq.slice(1).map((t, i) => `${seq[i]}>${t}`).sort());
    expect(pairs([seq], 5)).toHaveLength(5); // without windows: only the last maxLen targets
  });

  it('leaves short sequences whole and drops ones with no target', () => {
    expect(trainingWindows([1, 2, 3], 5)).toEqual([[1, 2, 3]]);
    expect(trainingWindows([1, 2, 3, 4, 5, 6], 5)).toEqual([[1, 2, 3, 4, 5, 6]]);
    expect(trainingWindows([1, 2, 3, 4, 5, 6, 7], 5)).toEqual([[1, 2], [2, 3, 4, 5, 6, 7]]);
    expect(trainingWindows([9], 5)).toEqual([]);
  });
});
