import * as tf from '@tensorflow/tfjs';
import type { SasRec } from '../../models/sasrec.ts';

/**
 * Ablation for the centralised reference (--central-id-rows): 'frozen' keeps the item table's
 * hashed-id rows at their initial values, 'zero' at zero (items are then told apart by their
 * attributes only); returns the function that puts them back after each step, or null for
 * 'trained'. It measures how much of the model's quality needs learned id rows, the part of
 * a federated update that DP noise hits hardest (most rows are touched by few clients).
 */
export function idRowsPin(model: SasRec, mode: string): (() => void) | null {
  if (mode === 'trained') return null;
  if (mode !== 'frozen' && mode !== 'zero') throw new Error('--central-id-rows must be trained, frozen or zero');
  const table = model.variables[0]; // [1 + idBuckets + attribute rows, dim], id rows first
  const idRows = 1 + model.config.features.idBuckets;
  const pinned = mode === 'zero' ? tf.zeros([idRows, model.config.dim]) : tf.slice(table, [0, 0], [idRows, -1]);
  return () => tf.tidy(() => table.assign(tf.concat([pinned, tf.slice(table, [idRows, 0], [-1, -1])], 0)));
}
