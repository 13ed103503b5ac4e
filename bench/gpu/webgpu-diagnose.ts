// Where a WebGPU training step of the browser model spends its time, in Node through Dawn
// (see webgpu-node.ts for the setup and the bundling). Per history length (8 and 50 items):
// - encode ms: until optimizer.minimize() returns (JavaScript, tfjs and command encoding;
//   WebGPU work is asynchronous), and read ms: the wait for the loss read-back after it;
// - kernels per step (tf.profile) and new compute pipelines per step (tfjs compiles one per
//   new shader key: a shape that changes from step to step costs a compilation each time);
// - 8 steps with one read-back (the worker's steps without its per-chunk read) against
//   8 single steps; and the round trip of one small upload, add and read-back.
//   npm run bench:gpu-node:diagnose -- --dawn .../dawn.node [--json out.json]
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { parseCatalog } from '../../src/catalog.ts';
import { DEFAULT_FEATURES, ItemTable, describeCatalogItem } from '../../models/features.ts';
import { SasRec, makeBatch, type TrainingBatch } from '../../models/sasrec.ts';
import { BROWSER_MODEL } from '../../workers/recommender.ts';
import { adapterReport, installDawn, registerDawnBackend } from './dawn.ts';

const { values: args } = parseArgs({
  options: {
    dawn: { type: 'string' },
    catalog: { type: 'string', default: 'public/catalog.json' },
    steps: { type: 'string', default: '12' },
    json: { type: 'string' },
  },
});
const steps = Number(args.steps);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (x: number) => Math.round(x * 100) / 100;

/** The worker's batch (workers/recommender.ts train()): the history and its prefixes, 4 rows. */
function workerBatch(seq: number[], maxLen: number): TrainingBatch {
  const prefixes: number[][] = [];
  const stride = Math.max(1, Math.floor(maxLen / 2));
  for (let end = seq.length; end >= 2 && prefixes.length < 4; end -= stride) prefixes.push(seq.slice(0, end));
  while (prefixes.length < 4) prefixes.push([]);
  return makeBatch(prefixes, maxLen);
}

const pipelineCount = () => Object.keys((tf.backend() as unknown as { pipelineCache: object }).pipelineCache).length;

async function diagnose(historyLength: number, table: ItemTable): Promise<Record<string, unknown>> {
  const model = new SasRec(BROWSER_MODEL);
  const rows = tf.tensor2d(table.rows, [table.size, table.width], 'int32');
  const optimizer = tf.train.adam(3e-3);
  const seq = Array.from({ length: historyLength }, (_, i) => 1 + ((i * 7919) % (table.size - 1)));
  const batch = workerBatch(seq, model.config.maxLen);
  const step = () => optimizer.minimize(() => model.loss(batch, rows, true), true, model.variables)!;
  for (let w = 0; w < 4; w++) {
    const cost = step();
    await cost.data();
    cost.dispose();
  }
  const encode: number[] = [];
  const read: number[] = [];
  const newPipelines: number[] = [];
  for (let s = 0; s < steps; s++) {
    const p0 = pipelineCount();
    const t0 = performance.now();
    const cost = step();
    const t1 = performance.now();
    await cost.data();
    read.push(performance.now() - t1);
    encode.push(t1 - t0);
    newPipelines.push(pipelineCount() - p0);
    cost.dispose();
  }
  const profile = await tf.profile(async () => {
    const cost = step();
    await cost.data();
    cost.dispose();
  });
  const eightOneRead: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    let cost: tf.Scalar | null = null;
    for (let s = 0; s < 8; s++) {
      cost?.dispose();
      cost = step();
    }
    await cost!.data();
    cost!.dispose();
    eightOneRead.push(performance.now() - t0);
  }
  model.dispose();
  rows.dispose();
  optimizer.dispose();
  const kernelNames = new Map<string, number>();
  for (const k of profile.kernels) kernelNames.set(k.name, (kernelNames.get(k.name) ?? 0) + 1);
  return {
    history: historyLength,
    encodeMs: round(median(encode)),
    readMs: round(median(read)),
    newPipelinesPerStep: median(newPipelines),
    newPipelines,
    kernelsPerStep: profile.kernels.length,
    topKernels: [...kernelNames].sort((a, b) => b[1] - a[1]).slice(0, 12),
    eightStepsOneReadMs: round(median(eightOneRead)),
    pipelinesTotal: pipelineCount(),
  };
}

await installDawn(args.dawn);
registerDawnBackend();
if (!(await tf.setBackend('webgpu'))) throw new Error('webgpu did not initialise');
await tf.ready();
console.log(JSON.stringify(adapterReport()));
const table = new ItemTable({ ...DEFAULT_FEATURES, ...BROWSER_MODEL.features }, parseCatalog(JSON.parse(readFileSync(args.catalog, 'utf8'))).map(describeCatalogItem));
const roundTrip: number[] = [];
for (let r = 0; r < 31; r++) {
  // above tfjs's CPU hand-off size (1,000 values), so the add runs on the GPU
  const x = tf.tensor1d(new Float32Array(4096).fill(r));
  const y = tf.add(x, 1);
  const t0 = performance.now();
  await y.data();
  roundTrip.push(performance.now() - t0);
  tf.dispose([x, y]);
}
const report = { adapter: adapterReport(), roundTripMs: round(median(roundTrip)), cases: [] as Record<string, unknown>[] };
console.log(`upload + add + read-back of 4,096 floats: ${report.roundTripMs} ms`);
for (const h of [8, 50]) {
  const c = await diagnose(h, table);
  report.cases.push(c);
  console.log(JSON.stringify(c));
  if (args.json) writeFileSync(args.json, JSON.stringify(report, null, 1));
}
process.exit(0);
