// The per-shopper on-device updates are independent, so they run on several worker threads
// (each with its own model); the main thread meanwhile scores the global model and ranks.
import { Worker } from 'node:worker_threads';
import { flattenWeights } from '../../federated/summary.ts';
import type { SasRecConfig } from '../../models/sasrec.ts';
import type { DeviceThreadData } from './device-thread.ts';
import type { DeviceSchedule } from './on-device.ts';

/** next-item scores over the whole table after the on-device update on each history, row-major */
export interface DeviceScorer {
  scoreAfterUpdate(histories: readonly number[][]): Promise<Float32Array>;
  close(): Promise<void>;
}

export class DevicePool implements DeviceScorer {
  private constructor(
    private readonly workers: Worker[],
    private readonly numItems: number,
    /** the worker's optimiser steps per update and Adam learning rate, as the threads read them */
    readonly settings: { steps: number; learningRate: number },
  ) {}

  static async create(threads: number, config: SasRecConfig, tableRows: Int32Array, tableShape: [number, number], globalWeights: readonly Float32Array[], schedule: DeviceSchedule): Promise<DevicePool> {
    const data: DeviceThreadData = { entry: new URL('./device-thread.ts', import.meta.url).href, config, tableRows, tableShape, globalWeights: flattenWeights(globalWeights), schedule };
    const workers = Array.from({ length: threads }, () => new Worker(new URL('./thread-entry.mjs', import.meta.url), { workerData: data }));
    const ready = await Promise.all(workers.map((w) => reply(w)));
    return new DevicePool(workers, tableShape[0], ready[0].settings!);
  }

  async scoreAfterUpdate(histories: readonly number[][]): Promise<Float32Array> {
    const per = Math.ceil(histories.length / this.workers.length);
    const parts = await Promise.all(this.workers.map((w, k) => {
      const part = histories.slice(k * per, (k + 1) * per);
      if (part.length === 0) return new Float32Array(0);
      const answer = reply(w);
      w.postMessage(part);
      return answer.then((m) => m.scores!);
    }));
    const out = new Float32Array(histories.length * this.numItems);
    let offset = 0;
    for (const p of parts) {
      out.set(p, offset);
      offset += p.length;
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

interface ThreadMessage {
  scores?: Float32Array;
  settings?: { steps: number; learningRate: number };
  error?: string;
}

/** the thread's next message; its error is thrown here */
function reply(worker: Worker): Promise<ThreadMessage> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: ThreadMessage) => {
      worker.off('error', onError);
      if (m.error) reject(new Error(`device thread: ${m.error}`));
      else resolve(m);
    };
    const onError = (err: Error) => {
      worker.off('message', onMessage);
      reject(err);
    };
    worker.once('message', onMessage);
    worker.once('error', onError);
  });
}
