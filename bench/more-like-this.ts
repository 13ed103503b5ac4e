// "More like this": how well recommend({ context: { item_id } }) finds the item a shopper
// goes to next from the product page they are on.
//
//   npm run bench:more-like-this -- --data ../shared/datasets/beauty/Beauty.txt \
//     --attributes ../shared/datasets/beauty/Beauty_item2attributes.json \
//     [--steps 376] [--lr 0.008] [--weights FILE.f32 | --save-weights FILE.f32] \
//     [--test-users all|N] [--validation-users N] [--attribute-grid 0,1,2,4]
//     [--embedding-grid 0,4,8,16,32] [--json OUT]
//
// Protocol (leave-one-out, models/metrics.ts): each user's last item is the target and the
// one before it the item on screen (the context); what came before is the shopper's history.
// The browser model (models/browser-model.ts) is trained centrally on the training prefixes
// (every item but the last two) for --steps Adam steps of 128 sequences. Validation moves one
// step back (context: the third-to-last item, target: the second-to-last) and is the only
// split the blend weights are chosen on; the test users are scored once. Full ranking; the
// history and the context item are excluded (the target always competes). Variants:
//   model + context     the product's path: the context item as the history's latest step
//   model, no context   the same model on the history alone
//   context attributes  attribute similarity to the context item alone (public catalog)
//   item-to-item        transitions from the context item in the training prefixes
//   model + context + similarity blends   workers/more-like-this.ts: the context item's
//                       attribute similarity, the model's item-embedding similarity, both
//                       (the product's path), weights from validation
//   context item embedding similarity alone
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadDataset } from './datasets.ts';
import { bootstrapMean, fullRank, leaveOneOut, mulberry32, ndcgAtRank, pairedBootstrapRatio } from '../models/metrics.ts';
import { TransitionModel } from '../models/baselines.ts';
import { makeBatch, SasRec } from '../models/sasrec.ts';
import { ItemTable } from '../models/features.ts';
import { BROWSER_MODEL } from '../models/browser-model.ts';
import { registerWasmPatches } from '../models/backend-patches.ts';
import { flattenWeights, unflattenWeights } from '../federated/summary.ts';
import { AttributeIndex, blendContext, combineSimilarities, type ContextWeights, MORE_LIKE_THIS, withContextItem } from '../workers/more-like-this.ts';
import type { HistoryEntry } from '../workers/recommender.ts';

const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: '../shared/datasets/beauty/Beauty.txt' },
    attributes: { type: 'string', default: '../shared/datasets/beauty/Beauty_item2attributes.json' },
    steps: { type: 'string', default: '376' },
    lr: { type: 'string', default: '0.008' },
    seed: { type: 'string', default: '42' },
    weights: { type: 'string' },
    'save-weights': { type: 'string' },
    'test-users': { type: 'string', default: 'all' },
    'validation-users': { type: 'string', default: '8000' },
    'attribute-grid': { type: 'string', default: '0,1,2,4' },
    'embedding-grid': { type: 'string', default: '0,4,8,16,32' },
    json: { type: 'string' },
  },
});

/** One "more like this" question: the shopper's history, the item on screen, the next item. */
interface Case {
  history: number[];
  context: number;
  target: number;
}

/** A scorer gives, for each of several variants, each case one row of scores over items 0..numItems-1. */
type Scorer = (cases: readonly Case[]) => Promise<Float32Array[][]>;

/**
 * Per-variant, per-case 0-based full-ranking ranks (the history and the context item never
 * compete): one pass, so variants that share the model's scores score it once.
 */
async function ranksOf(cases: readonly Case[], scorer: Scorer, batch = 128): Promise<Int32Array[]> {
  let ranks: Int32Array[] = [];
  for (let s = 0; s < cases.length; s += batch) {
    const chunk = cases.slice(s, s + batch);
    const variants = await scorer(chunk);
    if (ranks.length === 0) ranks = variants.map(() => new Int32Array(cases.length));
    chunk.forEach((c, b) => {
      const excluded = new Set([...c.history, c.context]);
      excluded.delete(c.target);
      variants.forEach((rows, v) => (ranks[v][s + b] = fullRank(rows[b], c.target, excluded)));
    });
  }
  return ranks;
}

function summarise(ranks: Int32Array): { hr10: number[]; ndcg10: number[] } {
  const hr10 = Array.from(ranks, (r) => (r < 10 ? 1 : 0));
  const ndcg10 = Array.from(ranks, (r) => ndcgAtRank(r, 10));
  return { hr10, ndcg10 };
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

async function trainModel(model: SasRec, table: tf.Tensor2D, train: readonly number[][], steps: number, lr: number, seed: number): Promise<void> {
  const users = train.filter((s) => s.length >= 2);
  const rand = mulberry32(seed);
  const optimizer = tf.train.adam(lr);
  let order: number[] = [];
  const t0 = performance.now();
  for (let step = 1; step <= steps; step++) {
    if (order.length < 128) order = order.concat(users.map((_, i) => i).sort(() => rand() - 0.5));
    model.trainStep(optimizer, makeBatch(order.splice(0, 128).map((i) => users[i]), model.config.maxLen), table);
    if (step % 50 === 0 || step === steps) console.log(`  step ${step}/${steps} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  optimizer.dispose();
}

function sample<T>(xs: readonly T[], n: number | 'all', seed: number): T[] {
  if (n === 'all' || n >= xs.length) return [...xs];
  const rand = mulberry32(seed);
  return xs.map((x) => ({ x, k: rand() })).sort((a, b) => a.k - b.k).slice(0, n).map((e) => e.x);
}

// ---- data, split, cases ----
const data = loadDataset(args.data!, { attributesPath: args.attributes });
const numItems = data.itemKeys.length;
const split = leaveOneOut(data.sequences);
const asEntries = (seq: readonly number[]): HistoryEntry[] => seq.map((index) => ({ index, event: 'view_item', ts: 0 }));
// test: context = second-to-last item, target = last; validation: one step back, and only
// users with a history before the context (so "no context" has something to score)
const testCases: Case[] = sample(
  split.test.map((c) => ({ history: c.history.slice(0, -1), context: c.history[c.history.length - 1], target: c.target })),
  args['test-users'] === 'all' ? 'all' : Number(args['test-users']),
  7,
);
const validationCases: Case[] = sample(
  split.validation.filter((c) => c.history.length >= 2).map((c) => ({ history: c.history.slice(0, -1), context: c.history[c.history.length - 1], target: c.target })),
  Number(args['validation-users']),
  8,
);
console.log(`${data.name}: ${data.sequences.length} users, ${numItems - 1} items; ${testCases.length} test cases, ${validationCases.length} validation cases`);

// ---- the model ----
registerWasmPatches();
await tf.setBackend('wasm');
const model = new SasRec(BROWSER_MODEL);
const table = new ItemTable(model.config.features, data.itemKeys.slice(1).map((key, i) => ({ key, attrs: data.itemAttrs[i + 1] ?? [] })));
const tableTensor = tf.tensor2d(table.rows, [table.size, table.width], 'int32') as tf.Tensor2D;
const t0 = performance.now();
if (args.weights) {
  const flat = new Float32Array(readFileSync(args.weights).buffer.slice(0));
  const like = await model.getWeights();
  tf.tidy(() => model.setWeights(unflattenWeights(flat, like)));
  console.log(`browser model (${model.parameterCount} parameters) from ${args.weights}`);
} else {
  console.log(`training the browser model (${model.parameterCount} parameters): ${args.steps} Adam steps of 128, lr ${args.lr}`);
  await trainModel(model, tableTensor, split.train, Number(args.steps), Number(args.lr), Number(args.seed));
  if (args['save-weights']) writeFileSync(args['save-weights'], flattenWeights(await model.getWeights()));
}
const trainSeconds = (performance.now() - t0) / 1000;
const itemEmbeddings = model.itemEmbeddings(tableTensor);

// ---- scorers ----
const rows = (flat: Float32Array, count: number) => Array.from({ length: count }, (_, b) => flat.subarray(b * numItems, (b + 1) * numItems));
async function modelRows(cases: readonly Case[], useContext: boolean): Promise<Float32Array[]> {
  const histories = cases.map((c) => (useContext ? withContextItem(asEntries(c.history), c.context, 0) : asEntries(c.history)).map((h) => h.index));
  return rows(await model.scoreNext(histories, tableTensor, itemEmbeddings), cases.length);
}
const attributes = new AttributeIndex(data.itemAttrs);
const transitions = new TransitionModel(split.train, numItems, 1);
// the model's own item embeddings, cosine to the context item's (an alternative to attributes)
const unitEmbeddings = tf.tidy(() => tf.div(itemEmbeddings, tf.add(tf.norm(itemEmbeddings, 'euclidean', 1, true), 1e-8)) as tf.Tensor2D);
async function embeddingRows(cases: readonly Case[]): Promise<Float32Array[]> {
  const sims = tf.tidy(() => tf.matMul(tf.gather(unitEmbeddings, tf.tensor1d(cases.map((c) => c.context), 'int32')), unitEmbeddings, false, true));
  const flat = (await sims.data()) as Float32Array;
  sims.dispose();
  return rows(flat, cases.length);
}
/** The model with context blended at each pair of weights (workers/more-like-this.ts). */
const blendScorer =
  (pairs: readonly ContextWeights[]): Scorer =>
  async (cases) => {
    const model = await modelRows(cases, true);
    const embedding = await embeddingRows(cases);
    return pairs.map((w) => cases.map((c, b) => blendContext(model[b], combineSimilarities(attributes.similarTo(c.context), embedding[b], w), 1)));
  };

// ---- the blend weights, on validation only (one model pass for the whole grid) ----
const numbers = (list: string) => list.split(',').map(Number);
const pairs = numbers(args['attribute-grid']!).flatMap((attributes) => numbers(args['embedding-grid']!).map((embeddings) => ({ attributes, embeddings })));
const validationRanks = await ranksOf(validationCases, blendScorer(pairs));
const validation = pairs.map((weights, i) => {
  const s = summarise(validationRanks[i]);
  console.log(`  validation, weights attributes ${weights.attributes} embeddings ${weights.embeddings}: NDCG@10 ${mean(s.ndcg10).toFixed(4)} HR@10 ${mean(s.hr10).toFixed(4)}`);
  return { weights, ndcg10: mean(s.ndcg10), hr10: mean(s.hr10) };
});
const best = (keep: (w: ContextWeights) => boolean) => validation.filter((v) => keep(v.weights)).reduce((x, y) => (y.ndcg10 > x.ndcg10 ? y : x)).weights;
const chosen = best(() => true);
const attributesOnly = best((w) => w.embeddings === 0);
const embeddingsOnly = best((w) => w.attributes === 0);
console.log(`weights chosen on validation: ${JSON.stringify(chosen)} (the product's: ${JSON.stringify(MORE_LIKE_THIS)}); attributes only ${attributesOnly.attributes}, embeddings only ${embeddingsOnly.embeddings}`);

// ---- the test users, once ----
const names = [
  'model + context (no blend)',
  'model, no context',
  'context item attributes alone',
  'item-to-item transitions from the context item',
  `model + context + attribute similarity (weight ${attributesOnly.attributes})`,
  `model + context + embedding similarity (weight ${embeddingsOnly.embeddings})`,
  `model + context + both (weights ${chosen.attributes}, ${chosen.embeddings})`,
  "context item embedding similarity alone (the model's item embeddings)",
];
const testScorer: Scorer = async (cases) => {
  const model = await modelRows(cases, true);
  const embedding = await embeddingRows(cases);
  const blend = (w: ContextWeights) => cases.map((c, b) => blendContext(model[b], combineSimilarities(attributes.similarTo(c.context), embedding[b], w), 1));
  return [
    model,
    await modelRows(cases, false),
    cases.map((c) => attributes.similarTo(c.context)),
    rows(transitions.score(cases.map((c) => [c.context])), cases.length),
    blend(attributesOnly),
    blend(embeddingsOnly),
    blend(chosen),
    embedding,
  ];
};
const testRanks = await ranksOf(testCases, testScorer);
const report: Record<string, unknown> = { dataset: data.name, testCases: testCases.length, validationCases: validationCases.length, steps: args.weights ? undefined : Number(args.steps), trainSeconds, validation, chosen, attributesOnly, embeddingsOnly, test: {} as Record<string, unknown> };
const perCase = new Map<string, { hr10: number[]; ndcg10: number[] }>();
console.log('\n| variant | HR@10 (95% CI) | NDCG@10 (95% CI) |\n|---|---|---|');
names.forEach((name, v) => {
  const s = summarise(testRanks[v]);
  perCase.set(name, s);
  const hr = bootstrapMean(s.hr10);
  const ndcg = bootstrapMean(s.ndcg10);
  (report.test as Record<string, unknown>)[name] = { hr10: hr, ndcg10: ndcg };
  console.log(`| ${name} | ${hr.mean.toFixed(4)} (${hr.low.toFixed(4)}–${hr.high.toFixed(4)}) | ${ndcg.mean.toFixed(4)} (${ndcg.low.toFixed(4)}–${ndcg.high.toFixed(4)}) |`);
});
// paired: the same test users, resampled together
const [withContext, , , itemToItem, attributeBlended, embeddingBlended, blended] = names.map((name) => perCase.get(name)!);
const ratios = {
  bothVsModelNdcg10: pairedBootstrapRatio(blended.ndcg10, withContext.ndcg10),
  attributesVsModelNdcg10: pairedBootstrapRatio(attributeBlended.ndcg10, withContext.ndcg10),
  embeddingsVsModelNdcg10: pairedBootstrapRatio(embeddingBlended.ndcg10, withContext.ndcg10),
  bothVsItemToItemNdcg10: pairedBootstrapRatio(blended.ndcg10, itemToItem.ndcg10),
};
report.ratios = ratios;
for (const [name, r] of Object.entries(ratios)) console.log(`${name}: ${r.ratio.toFixed(3)} (95% paired bootstrap ${r.low.toFixed(3)}–${r.high.toFixed(3)})`);
console.log(`total ${((performance.now() - t0) / 1000).toFixed(0)} s (training ${trainSeconds.toFixed(0)} s)`);
if (args.json) writeFileSync(args.json, JSON.stringify(report, null, 2));
itemEmbeddings.dispose();
unitEmbeddings.dispose();
tableTensor.dispose();
