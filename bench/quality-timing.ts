// How training and inference time grow with sequence length and catalog size, for the
// SASRec module on the tfjs WASM backend in Node. Synthetic inputs (random item ids and
// attributes) with untrained weights: only the time is measured here, never quality.
//
//   npx tsx bench/quality-timing.ts [--json OUT] [--repeats 3]
//
// - training: ms per optimiser step on a batch of 64 full-length sequences (every position
//   is a real item, the worst case for attention) at maxLen 25/50/100, with the benchmark's
//   loss (1,024 sampled negatives, logQ) over a 12,101-item catalog (Beauty's size);
// - inference: ms per user to score the whole catalog after a 50-item history, batches of
//   256 users, catalogs of 1k/10k/100k hashed items (+ 4 attributes each).
// Medians over --repeats runs after one warm-up.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { SasRec, makeBatch, type LossKind } from '../models/sasrec.ts';
import { ItemTable, DEFAULT_FEATURES } from '../models/features.ts';
import { mulberry32 } from '../models/metrics.ts';
import { registerWasmPatches } from '../models/backend-patches.ts';

const { values: args } = parseArgs({ options: { json: { type: 'string' }, repeats: { type: 'string', default: '3' } } });
const repeats = Number(args.repeats);
const rand = mulberry32(7);

function catalog(n: number): ItemTable {
  return new ItemTable(
    DEFAULT_FEATURES,
    Array.from({ length: n }, (_, i) => ({ key: `item${i}`, attrs: Array.from({ length: 4 }, () => `a${Math.floor(rand() * 600)}`) })),
  );
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function timed(f: () => Promise<unknown> | unknown): Promise<number> {
  await f(); // warm-up
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    await f();
    times.push(performance.now() - t0);
  }
  return median(times);
}

await tf.setBackend('wasm');
registerWasmPatches();
const out: { training: Record<string, number>[]; inference: Record<string, number>[] } = { training: [], inference: [] };

const beauty = catalog(12101);
const beautyRows = tf.tensor2d(beauty.rows, [beauty.size, beauty.width], 'int32');
const BATCH = 64;
for (const loss of ['sampled-softmax'] as LossKind[]) {
  for (const maxLen of [25, 50, 100]) {
    const model = new SasRec({ maxLen, loss, negatives: 1024, logQ: true, dropout: 0.3 });
    const optimizer = tf.train.adam(1e-3);
    const seqs = Array.from({ length: BATCH }, () => Array.from({ length: maxLen + 1 }, () => 1 + Math.floor(rand() * 12101)));
    const batch = makeBatch(seqs, maxLen);
    const ms = await timed(() => model.trainStep(optimizer, batch, beautyRows));
    out.training.push({ maxLen, msPerStep: ms, msPerSequence: ms / BATCH });
    console.log(`train ${loss} maxLen ${maxLen}: ${ms.toFixed(0)} ms per step of ${BATCH} sequences`);
    model.dispose();
    optimizer.dispose();
  }
}
beautyRows.dispose();

for (const n of [1000, 10000, 100000]) {
  const table = catalog(n);
  const rows = tf.tensor2d(table.rows, [table.size, table.width], 'int32');
  const model = new SasRec({});
  const histories = Array.from({ length: 256 }, () => Array.from({ length: 50 }, () => 1 + Math.floor(rand() * n)));
  // item embeddings are computed once per catalog (when it changes), not per user
  const tEmb = await timed(() => tf.tidy(() => model.itemEmbeddings(rows)).dispose());
  const items = tf.tidy(() => model.itemEmbeddings(rows));
  const ms = await timed(() => model.scoreNext(histories, rows, items));
  out.inference.push({ items: n, msPerUser: ms / 256, itemEmbeddingsMs: tEmb });
  console.log(`score ${n} items: ${(ms / 256).toFixed(3)} ms per user (batch 256), item table ${tEmb.toFixed(0)} ms`);
  items.dispose();
  rows.dispose();
  model.dispose();
}
if (args.json) writeFileSync(args.json, JSON.stringify({ backend: tf.getBackend(), repeats, ...out }, null, 2));
