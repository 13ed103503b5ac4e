// One federated round on a shopper's device: start from the round's global weights, train
// locally on the shopper's own sequences, and turn the change into a clipped, noised,
// quantised summary. The shopper's personal model is restored afterwards, so the fine-tuned
// model that serves their recommendations is not disturbed by taking part in a round.
// Pure TypeScript + tfjs: runs in the Web Worker and in Node (the federated benchmark).
import * as tf from '@tensorflow/tfjs-core';
import type { ItemTable } from '../models/features.ts';
import { makeBatch, type SasRec } from '../models/sasrec.ts';
import type { RoundTask } from './protocol.ts';
import { flattenWeights, secureRandom, summariseDelta } from './summary.ts';

export interface RoundUpdateInput {
  model: SasRec;
  /** the round's global weights, in model.variables order (as downloaded) */
  globalWeights: readonly Float32Array[];
  task: RoundTask;
  /** the shopper's item sequences (item indices into `table`) */
  sequences: readonly number[][];
  table: ItemTable | tf.Tensor2D;
  /** uniform [0,1) source for shuffling, noise and rounding; defaults to the platform CSPRNG */
  random?: () => number;
}

export interface RoundUpdateResult {
  /** the encoded summary: the only thing to upload */
  summary: Uint8Array;
  /** stays on the device: mean local training loss and number of optimiser steps */
  meanLoss: number;
  steps: number;
}

function tableTensor(table: ItemTable | tf.Tensor2D): { tensor: tf.Tensor2D; owned: boolean } {
  if (table instanceof tf.Tensor) return { tensor: table as tf.Tensor2D, owned: false };
  return { tensor: tf.tensor2d(table.rows, [table.size, table.width], 'int32'), owned: true };
}

/** Local training settings: the part of a round task that decides the delta. */
export type LocalTraining = Pick<RoundTask, 'optimizer' | 'learningRate' | 'epochs' | 'batchSize'>;

export interface LocalDelta {
  /** trained weights − global weights, flattened in model.variables order (before clipping) */
  delta: Float32Array;
  meanLoss: number;
  steps: number;
}

/**
 * Train from `globalWeights` on the shopper's sequences and return the change, unclipped.
 * The model's own (personal) weights are restored afterwards. trainRoundUpdate turns this
 * into a summary; bench/federated-signal.ts measures it.
 */
export async function localTrainingDelta(
  model: SasRec,
  globalWeights: readonly Float32Array[],
  training: LocalTraining,
  sequences: readonly number[][],
  table: ItemTable | tf.Tensor2D,
  random: () => number,
): Promise<LocalDelta> {
  // only sequences with at least one (input, target) pair can train
  const usable = sequences.filter((s) => s.length >= 2);
  const personal = await model.getWeights();
  const { tensor, owned } = tableTensor(table);
  const optimizer = training.optimizer === 'adam' ? tf.train.adam(training.learningRate) : tf.train.sgd(training.learningRate);
  let lossSum = 0;
  let steps = 0;
  try {
    // tidy: setWeights' temporary tensors would otherwise stay allocated, one model copy
    // per call (a simulated round of 500 clients ran the WASM heap out)
    tf.tidy(() => model.setWeights(globalWeights));
    const order = usable.map((_, i) => i);
    for (let epoch = 0; epoch < training.epochs; epoch++) {
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
      for (let start = 0; start < order.length; start += training.batchSize) {
        const batch = order.slice(start, start + training.batchSize).map((k) => usable[k]);
        lossSum += model.trainStep(optimizer, makeBatch(batch, model.config.maxLen), tensor);
        steps++;
      }
    }
    const delta = flattenWeights(await model.getWeights());
    const global = flattenWeights(globalWeights);
    for (let i = 0; i < delta.length; i++) delta[i] -= global[i];
    return { delta, meanLoss: steps ? lossSum / steps : NaN, steps };
  } finally {
    tf.tidy(() => model.setWeights(personal));
    optimizer.dispose();
    if (owned) tensor.dispose();
  }
}

export async function trainRoundUpdate(input: RoundUpdateInput): Promise<RoundUpdateResult> {
  const { model, globalWeights, task } = input;
  const random = input.random ?? secureRandom();
  const total = globalWeights.reduce((n, w) => n + w.length, 0);
  if (total !== task.length) throw new Error(`round expects ${task.length} values, global model has ${total}`);
  const { delta, meanLoss, steps } = await localTrainingDelta(model, globalWeights, task, input.sequences, input.table, random);
  const { bytes } = summariseDelta(delta, {
    roundId: task.roundId,
    modelVersion: task.modelVersion,
    clipNorm: task.clipNorm,
    clientNoiseStd: task.clientNoiseStd,
    bits: task.bits,
    scale: task.scale,
    normBound: task.normBound,
    random,
  });
  return { summary: bytes, meanLoss, steps };
}
