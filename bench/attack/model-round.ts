// A model round in central mode: the operator receives each shopper's clipped, 8-bit update
// (federated/client.ts trainRoundUpdate with the shipped task) and ranks the catalog items
// by how far the upload moved their hashed-id rows of the item feature table. The items a
// shopper trained on get gradients as inputs and targets; the rest only as sampled
// negatives, so their rows move less.
import * as tf from '@tensorflow/tfjs';
import { trainRoundUpdate } from '../../federated/client.ts';
import type { RoundTask } from '../../federated/protocol.ts';
import { decodeSummary, dequantize } from '../../federated/summary.ts';
import { ItemTable, describeCatalogItem } from '../../models/features.ts';
import { SasRec } from '../../models/sasrec.ts';
import { AttackScore, entropyBitsPerByte } from './stats.ts';

export interface ModelRoundResult {
  /** ranked by the summed change of an item's id rows */
  score: AttackScore;
  /** ranked by the smaller change of its id rows: a sampled negative that shares one hashed row with a viewed item does not rank */
  weakestRowScore: AttackScore;
  uploadBytes: number;
  uploadEntropy: number;
  secondsPerShopper: number;
}

/**
 * The squared change of each catalog item's id rows (variables[0] is the feature table,
 * row-major), summed over its hashed rows and the smallest of them.
 */
export function idRowChange(delta: Float32Array, table: ItemTable, dim: number, idHashes: number): { sum: Float64Array; weakest: Float64Array } {
  const sum = new Float64Array(table.size);
  const weakest = new Float64Array(table.size).fill(Infinity);
  for (let i = 1; i < table.size; i++) {
    for (let h = 0; h < idHashes; h++) {
      const row = table.rows[i * table.width + h];
      let s = 0;
      for (let d = 0; d < dim; d++) s += delta[row * dim + d] ** 2;
      sum[i] += s;
      weakest[i] = Math.min(weakest[i], s);
    }
  }
  return { sum, weakest };
}

function topItems(change: Float64Array, table: ItemTable, k: number): string[] {
  const ranked = Array.from({ length: table.size - 1 }, (_, i) => i + 1).sort((a, b) => change[b] - change[a]);
  return ranked.slice(0, k).map((i) => table.keys[i]);
}

export async function modelRoundAttack(
  model: SasRec,
  catalogItems: readonly Parameters<typeof describeCatalogItem>[0][],
  shoppers: readonly string[][],
  task: RoundTask,
  random: () => number,
): Promise<ModelRoundResult> {
  const table = new ItemTable(model.config.features, catalogItems.map(describeCatalogItem));
  const tableTensor = tf.tensor2d(table.rows, [table.size, table.width], 'int32') as tf.Tensor2D;
  const globalWeights = await model.getWeights();
  const score = new AttackScore();
  const weakestRowScore = new AttackScore();
  let uploadBytes = 0;
  let entropySum = 0;
  const started = performance.now();
  try {
    for (const items of shoppers) {
      const sequence = items.map((key) => {
        const index = table.indexOf(key);
        if (index === undefined) throw new Error(`${key} is not in the catalog`);
        return index;
      });
      // the worker's call: the shopper's one cleaned sequence, the round's global weights
      const { summary } = await trainRoundUpdate({ model, globalWeights, task, sequences: [sequence], table: tableTensor, random });
      uploadBytes += summary.length;
      entropySum += entropyBitsPerByte(summary);
      const change = idRowChange(dequantize(decodeSummary(summary)), table, model.config.dim, model.config.features.idHashes);
      const actual = new Set(items);
      score.add(topItems(change.sum, table, actual.size), actual, catalogItems.length);
      weakestRowScore.add(topItems(change.weakest, table, actual.size), actual, catalogItems.length);
    }
  } finally {
    tableTensor.dispose();
  }
  return { score, weakestRowScore, uploadBytes: uploadBytes / shoppers.length, uploadEntropy: entropySum / shoppers.length, secondsPerShopper: (performance.now() - started) / 1000 / shoppers.length };
}
