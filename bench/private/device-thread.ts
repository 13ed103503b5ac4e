// One worker thread of the device pool (device-pool.ts): a model of its own, on which the
// worker's on-device update runs for each history it is sent; it answers with the full-catalog
// next-item scores after each update. One request at a time.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { parentPort, workerData } from 'node:worker_threads';
import { unflattenWeights } from '../../federated/summary.ts';
import { registerWasmPatches } from '../../models/backend-patches.ts';
import { SasRec, type SasRecConfig } from '../../models/sasrec.ts';
import { type DeviceSchedule, OnDeviceUpdater } from './on-device.ts';

export interface DeviceThreadData {
  entry: string;
  config: SasRecConfig;
  tableRows: Int32Array;
  tableShape: [number, number];
  globalWeights: Float32Array;
  schedule: DeviceSchedule;
}

const init = workerData as DeviceThreadData;
await tf.setBackend('wasm');
registerWasmPatches();
const model = new SasRec(init.config);
const table = tf.tensor2d(init.tableRows, init.tableShape, 'int32') as tf.Tensor2D;
const globalWeights = unflattenWeights(init.globalWeights, await model.getWeights());
const updater = new OnDeviceUpdater(model, table, undefined, init.schedule);
const n = init.tableShape[0];
parentPort!.on('message', async (histories: number[][]) => {
  try {
    const scores = new Float32Array(histories.length * n);
    for (let i = 0; i < histories.length; i++) {
      await updater.update(globalWeights, histories[i]);
      scores.set(await model.scoreNext([histories[i]], table), i * n);
    }
    parentPort!.postMessage({ scores }, [scores.buffer]);
  } catch (err) {
    parentPort!.postMessage({ error: (err as Error).stack ?? String(err) });
  }
});
parentPort!.postMessage({ settings: { steps: updater.steps, learningRate: updater.learningRate } });
