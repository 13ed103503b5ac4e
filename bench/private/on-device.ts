// The worker's on-device update, run for one virtual shopper at a time.
//
// The worker fine-tunes its personal model with Recommender.train (workers/recommender.ts):
// after new events, `trainSteps` optimiser steps (WorkerOptions.trainSteps, default 8) of the
// recommender's own Adam on the shopper's sequence and its recent prefixes. That method is
// called here as it is, not re-implemented. Only the item table differs: the worker builds
// its table from storefront catalog fields (describeCatalogItem), while a research dataset
// comes with attribute ids, so the method runs on the benchmark's table, the one the global
// model was trained with.
import * as tf from '@tensorflow/tfjs';
import { type HistoryEntry, Recommender } from '../../workers/recommender.ts';
import type { SasRec } from '../../models/sasrec.ts';

/** what Recommender.train reads from its instance */
interface TrainContext {
  model: SasRec;
  tableTensor: tf.Tensor2D;
  optimizer: tf.Optimizer;
  invalidate(): void;
}

/** the worker's default number of optimiser steps after new events (WorkerOptions.trainSteps) */
export const WORKER_TRAIN_STEPS = 8;

/**
 * 'catch-up': one update on the whole history, as the worker runs when it starts with a
 * fresh global model and events already stored. 'replay': one update after each new item,
 * as for a shopper who had the global model before their first event (costs ~length× more).
 */
export type DeviceSchedule = 'catch-up' | 'replay';

export class OnDeviceUpdater {
  private readonly adam: { learningRate: number; beta1: number; beta2: number; epsilon: number };

  constructor(
    readonly model: SasRec,
    private readonly tableTensor: tf.Tensor2D,
    readonly steps = WORKER_TRAIN_STEPS,
    readonly schedule: DeviceSchedule = 'catch-up',
  ) {
    // the worker's optimiser settings, read from a real Recommender (an empty catalog)
    const probe = new Recommender([], model.config);
    const optimizer = (probe as unknown as { optimizer?: tf.Optimizer }).optimizer;
    if (!optimizer) throw new Error('Recommender no longer keeps its optimiser in `optimizer`: update bench/private/on-device.ts');
    const config = optimizer.getConfig() as { learningRate?: number; beta1?: number; beta2?: number; epsilon?: number };
    if (optimizer.getClassName() !== 'Adam' || config.learningRate === undefined) throw new Error(`the worker's optimiser is ${optimizer.getClassName()}; bench/private/on-device.ts expects Adam`);
    this.adam = { learningRate: config.learningRate, beta1: config.beta1 ?? 0.9, beta2: config.beta2 ?? 0.999, epsilon: config.epsilon ?? 1e-7 };
    probe.dispose();
  }

  get learningRate(): number {
    return this.adam.learningRate;
  }

  /** Sets the model to `global`, then runs the worker's update(s) on `history` (item indices). */
  async update(global: readonly Float32Array[], history: readonly number[]): Promise<void> {
    tf.tidy(() => this.model.setWeights(global));
    // a new device: a fresh optimiser, as a new Recommender has
    const { learningRate, beta1, beta2, epsilon } = this.adam;
    const context: TrainContext = { model: this.model, tableTensor: this.tableTensor, optimizer: tf.train.adam(learningRate, beta1, beta2, epsilon), invalidate() {} };
    const entries: HistoryEntry[] = history.map((index) => ({ index, event: 'view_item', ts: 0 }));
    try {
      const ends = this.schedule === 'replay' ? entries.map((_, i) => i + 1).filter((n) => n >= 2) : [entries.length];
      for (const end of ends) {
        const loss = await Recommender.prototype.train.call(context as unknown as Recommender, entries.slice(0, end), this.steps);
        if (Number.isNaN(loss) && end >= 2) throw new Error('on-device update produced NaN');
      }
    } finally {
      context.optimizer.dispose();
    }
  }
}
