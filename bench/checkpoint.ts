// Training checkpoints for long benchmark runs (ML-1M with full cross-entropy needs more
// epochs than one sitting allows): after every epoch the model, the Adam moments and the
// early-stopping state are written to a folder, and a later run with the same settings
// carries on from there instead of starting over.
//
// Files, each replaced atomically (written beside, then renamed):
//   state.json          { fingerprint, epoch, trainSeconds, best: { ndcg, epoch, validation }, schedule, averaged }
//   current.silw        the model after the last finished epoch (models/weights.ts, float32)
//   epoch-N.silw        the model after epoch N, kept for averaging the last epochs' weights
//   best.silw           the model of the best validation epoch
//   best-averaged.silw  the best-validating mean of consecutive epochs' weights (--average)
//   adam.silw           the optimiser's slots (iteration count, first and second moments)
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeWeights, decodeWeights } from '../models/weights.ts';
import type { Metrics } from '../models/metrics.ts';

export interface CheckpointState {
  /**
   * what must match for a checkpoint to be resumed: model config, data, batch and initial
   * learning rate (a learning-rate schedule may be added on resume, as in staged training)
   */
  fingerprint: string;
  epoch: number;
  trainSeconds: number;
  best: { ndcg: number; epoch: number; validation: Metrics };
  /** the learning rate in use and the last epoch it was cut (absent: the initial one, never) */
  schedule?: LearningRateState;
  /** the best mean of `epochs` consecutive epochs' weights, ending at `epoch` (absent: none scored) */
  averaged?: { ndcg: number; epoch: number; epochs: number; validation: Metrics };
}

/**
 * Element-wise mean of several snapshots of one model's weights. Averaging the weights of
 * the last epochs of one run (checkpoint averaging, as in Vaswani et al. 2017; stochastic
 * weight averaging, Izmailov et al. 2018) lands nearer the middle of the region the
 * optimiser wanders in than any one epoch does.
 */
export function averageWeights(snapshots: readonly (readonly Float32Array[])[]): Float32Array[] {
  if (snapshots.length === 0) throw new Error('nothing to average');
  return snapshots[0].map((first, i) => {
    const mean = new Float32Array(first.length);
    for (const snapshot of snapshots) {
      const w = snapshot[i];
      if (w.length !== first.length) throw new Error(`snapshots differ in the size of weight ${i}`);
      for (let j = 0; j < w.length; j++) mean[j] += w[j];
    }
    for (let j = 0; j < mean.length; j++) mean[j] /= snapshots.length;
    return mean;
  });
}

export interface LearningRateState {
  learningRate: number;
  lastCutEpoch: number;
}

/**
 * Reduce-on-plateau (as Keras' ReduceLROnPlateau): after `patience` epochs without a new
 * best validation score since the best epoch or the last cut, multiply the rate by `factor`.
 */
export function reduceOnPlateau(state: LearningRateState, epoch: number, bestEpoch: number, factor: number, patience: number): LearningRateState {
  if (factor >= 1 || epoch - Math.max(bestEpoch, state.lastCutEpoch) < patience) return state;
  return { learningRate: state.learningRate * factor, lastCutEpoch: epoch };
}

/** the model surface a checkpoint needs (SasRec has it) */
interface Trainable {
  readonly names: string[];
  readonly variables: tf.Variable[];
  getWeights(): Promise<Float32Array[]>;
  setWeights(weights: readonly Float32Array[]): void;
}

function writeAtomically(path: string, data: string | Uint8Array): void {
  writeFileSync(`${path}.tmp`, data);
  renameSync(`${path}.tmp`, path);
}

const readSilw = (path: string) => {
  const bytes = readFileSync(path);
  return decodeWeights(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
};

export async function saveCheckpoint(dir: string, state: CheckpointState, model: Trainable, optimizer: tf.Optimizer, bestWeights: readonly Float32Array[], averagedWeights?: readonly Float32Array[]): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const shapes = model.variables.map((v) => v.shape);
  const encode = (weights: readonly Float32Array[]) => new Uint8Array(encodeWeights(null, model.names, shapes, weights, 'float32'));
  const slots = await optimizer.getWeights();
  const slotData = await Promise.all(slots.map(async (s) => Float32Array.from(await s.tensor.data())));
  const current = encode(await model.getWeights());
  writeAtomically(join(dir, 'current.silw'), current);
  writeAtomically(join(dir, `epoch-${state.epoch}.silw`), current);
  writeAtomically(join(dir, 'best.silw'), encode(bestWeights));
  if (averagedWeights) writeAtomically(join(dir, 'best-averaged.silw'), encode(averagedWeights));
  writeAtomically(join(dir, 'adam.silw'), new Uint8Array(encodeWeights(null, slots.map((s) => s.name), slots.map((s) => s.tensor.shape), slotData, 'float32')));
  // the iteration count is a fresh scalar; the other slots are the optimiser's own variables
  slots.find((s) => s.name === 'iter')?.tensor.dispose();
  // state last: a run cut off while writing leaves the previous epoch's state, whose files
  // may already be one epoch newer, which costs at most one epoch's early-stopping count
  writeAtomically(join(dir, 'state.json'), JSON.stringify(state, null, 2));
}

/**
 * Loads a checkpoint into `model` and `optimizer` and returns its state with the best
 * weights; null when `dir` holds none. A checkpoint made with other settings is an error,
 * not silently ignored: resuming it would mix two experiments.
 */
export async function loadCheckpoint(dir: string, fingerprint: string, model: Trainable, optimizer: tf.Optimizer): Promise<{ state: CheckpointState; bestWeights: Float32Array[]; averagedWeights?: Float32Array[] } | null> {
  if (!existsSync(join(dir, 'state.json'))) return null;
  const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as CheckpointState;
  if (state.fingerprint !== fingerprint) throw new Error(`${dir} holds a checkpoint of other settings:\n  ${state.fingerprint}\nnot\n  ${fingerprint}`);
  model.setWeights(readSilw(join(dir, 'current.silw')).weights);
  const adam = readSilw(join(dir, 'adam.silw'));
  const slots = adam.names.map((name, i) => ({ name, tensor: tf.tensor(adam.weights[i], adam.shapes[i], 'float32') }));
  await optimizer.setWeights(slots);
  // the optimiser made its own variables of these (sharing the data, which stays alive)
  for (const s of slots) s.tensor.dispose();
  const averaged = join(dir, 'best-averaged.silw');
  return { state, bestWeights: readSilw(join(dir, 'best.silw')).weights, ...(state.averaged && existsSync(averaged) ? { averagedWeights: readSilw(averaged).weights } : {}) };
}

/** the model after `epoch` as a checkpoint kept it; null for epochs saved before snapshots were kept */
export function loadEpochWeights(dir: string, epoch: number): Float32Array[] | null {
  const path = join(dir, `epoch-${epoch}.silw`);
  return existsSync(path) ? readSilw(path).weights : null;
}
