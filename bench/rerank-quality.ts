// Does rerank() put what the shopper picks next nearer the top of a storefront's list?
// Measured on Amazon Beauty (ids and anonymised attribute ids only), leave-one-out:
//
//   npx tsx bench/profile.ts --rerank-quality [--data ../shared/datasets/beauty/Beauty.txt]
//       [--attrs ../shared/datasets/beauty/Beauty_item2attributes.json] [--users N] [--seed S]
//
// For each evaluated user the shop shows two kinds of list, both built from TRAINING data
// only (every user's sequence minus its last two items) and never containing the user's
// own history (as in the full-ranking protocol of models/metrics.ts):
//   - "bestsellers": the 200 most-reviewed items of the shop;
//   - "category page": the items of the target's leaf category, most-reviewed first (≤ 200).
// The shop's order is the baseline; rerank() re-orders it with the profile computed by
// computeProfile() from the user's history (every item before the target), with and
// without model scores (the item-to-item baseline of models/baselines.ts stands in for the
// on-device SASRec, which is not trained on Beauty in this run). A target that is not in the
// list counts as a miss in every order.
//
// Which profile signals Beauty can exercise: category interests (the attribute path) and
// brand interests. There are no prices (price fit drops out), no event types (each review is
// recorded as a purchase, so all steps weigh the same) and no timestamps (steps are placed
// one day apart and time decay is switched off, so only the order of the history is real).
//
// The attribute list of an item is [brand?, top-level category, sub-category, ...]: a
// top-level category is an attribute that appears both first and second in some items (it is
// second when a brand precedes it); a first attribute that is not a top-level category is
// the brand. The run prints how many items each rule covered.
import { existsSync } from 'node:fs';
import type { CatalogItem } from '../src/catalog.ts';
import type { SiloEvent } from '../src/events.ts';
import { loadDataset, type Dataset } from './datasets.ts';
import { MetricAccumulator, leaveOneOut, mulberry32, type EvalCase, type Metrics } from '../models/metrics.ts';
import { TransitionModel } from '../models/baselines.ts';
import { buildCatalogStats, type CatalogStats } from '../workers/profile/catalog-stats.ts';
import { computeProfile } from '../workers/profile/profile.ts';
import { DEFAULT_RERANK_WEIGHTS, rerank, type RerankContext } from '../workers/profile/rerank.ts';

const DAY_MS = 86_400_000;
const NOW = Date.UTC(2026, 0, 1);
export const LIST_SIZE = 200;
/** A target outside the list: no hit at any cutoff, MRR ≈ 0. */
const NOT_LISTED = 1e9;

export interface QualityOptions {
  data: string;
  attrs: string;
  /** Evaluate a fixed random subset of this many users (all when undefined). */
  users?: number;
  seed: number;
}

/** Beauty's attribute lists → catalog items with brand and category path. */
export function beautyCatalog(data: Dataset): { catalog: CatalogItem[]; coverage: Record<string, number> } {
  const firsts = new Set<string>();
  const seconds = new Set<string>();
  for (const attrs of data.itemAttrs) {
    if (attrs[0]) firsts.add(attrs[0]);
    if (attrs[1]) seconds.add(attrs[1]);
  }
  const topLevel = new Set([...firsts].filter((a) => seconds.has(a)));
  const coverage = { items: 0, withBrand: 0, withCategory: 0, topLevelCategories: topLevel.size };
  const catalog: CatalogItem[] = [];
  for (let i = 1; i < data.itemKeys.length; i++) {
    const attrs = data.itemAttrs[i] ?? [];
    const brand = attrs[0] && !topLevel.has(attrs[0]) ? attrs[0] : undefined;
    const path = (brand ? attrs.slice(1) : attrs).slice(0, 5);
    coverage.items++;
    if (brand) coverage.withBrand++;
    if (path.length) coverage.withCategory++;
    catalog.push({
      item_id: data.itemKeys[i],
      item_name: data.itemKeys[i],
      price: 0,
      item_brand: brand,
      item_category: path[0],
      item_category2: path[1],
      item_category3: path[2],
      item_category4: path[3],
      item_category5: path[4],
    });
  }
  return { catalog, coverage };
}

/** Each history step as a purchase one day after the previous one, the last a day before NOW. */
function historyEvents(history: readonly number[], data: Dataset): SiloEvent[] {
  const n = history.length;
  return history.map((item, i) => ({
    name: 'purchase',
    ts: NOW - (n - i) * DAY_MS,
    source: 'track',
    params: { transaction_id: `t${i}`, items: [{ item_id: data.itemKeys[item] }] },
  }));
}

interface ListKind {
  name: string;
  /** The shop's list for this case, best first, before removing the user's history. */
  list(c: EvalCase): readonly number[];
}

function rankOf(order: readonly number[], target: number): number {
  const r = order.indexOf(target);
  return r < 0 ? NOT_LISTED : r;
}

export interface QualityRow {
  split: 'validation' | 'test';
  list: string;
  order: string;
  users: number;
  listed: number;
  metrics: Metrics;
  /** Mean per-user NDCG@10 change against the shop order, with a 95% normal interval. */
  gainNdcg10: { mean: number; ci95: number };
}

function ndcg10(rank: number): number {
  return rank < 10 ? 1 / Math.log2(rank + 2) : 0;
}

/** The shop's two lists: bestsellers, and the target's leaf category page (both by popularity). */
function listKinds(catalog: readonly CatalogItem[], train: readonly number[][], itemCount: number): ListKind[] {
  // popularity from training prefixes only: the validation and test targets never count
  const popularity = new Float64Array(itemCount);
  for (const seq of train) for (const item of seq) popularity[item]++;
  const byPopularity = Array.from({ length: itemCount - 1 }, (_, i) => i + 1).sort((a, b) => popularity[b] - popularity[a] || a - b);
  const leafOf = (item: number) => {
    const path = catalog[item - 1];
    return [path.item_category, path.item_category2, path.item_category3, path.item_category4, path.item_category5].filter(Boolean).join('>');
  };
  const byLeaf = new Map<string, number[]>();
  for (const item of byPopularity) {
    const leaf = leafOf(item);
    if (!leaf) continue;
    let list = byLeaf.get(leaf);
    if (!list) byLeaf.set(leaf, (list = []));
    list.push(item);
  }
  return [
    { name: `bestsellers (top ${LIST_SIZE})`, list: () => byPopularity },
    { name: `category page (target's leaf category, ≤ ${LIST_SIZE})`, list: (c) => byLeaf.get(leafOf(c.target)) ?? [] },
  ];
}

/** The users scored: all, or a fixed random subset (--users), the same for both splits. */
function pickUsers(count: number, options: QualityOptions): number[] {
  let userIds = Array.from({ length: count }, (_, i) => i);
  if (options.users !== undefined && options.users < userIds.length) {
    const rand = mulberry32(options.seed);
    for (let i = userIds.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [userIds[i], userIds[j]] = [userIds[j], userIds[i]];
    }
    userIds = userIds.slice(0, options.users).sort((a, b) => a - b);
  }
  return userIds;
}

export function runRerankQuality(options: QualityOptions): { rows: QualityRow[]; notes: string[] } {
  for (const p of [options.data, options.attrs]) if (!existsSync(p)) throw new Error(`dataset file not found: ${p}`);
  const data = loadDataset(options.data, { attributesPath: options.attrs });
  const { catalog, coverage } = beautyCatalog(data);
  const stats: CatalogStats = buildCatalogStats(catalog);
  const split = leaveOneOut(data.sequences);

  const kinds = listKinds(catalog, split.train, data.itemKeys.length);
  const userIds = pickUsers(split.test.length, options);

  const rows: QualityRow[] = [];
  // a model signal for the blend: the item-to-item baseline of models/baselines.ts, level
  // with the trained Transformer on Beauty and cheap to fit; fit on training prefixes only
  const model = new TransitionModel(split.train, data.itemKeys.length);
  const orders: { name: string; weights?: RerankContext['weights']; model?: boolean }[] = [
    { name: 'shop order (baseline)' },
    { name: 'item-to-item model order alone', weights: { model: 1, affinity: 0, shop: 0 }, model: true },
    { name: 'rerank: item-to-item + profile + shop, default weights (0.5 : 0.3 : 0.2)', weights: DEFAULT_RERANK_WEIGHTS, model: true },
    { name: 'rerank: item-to-item 0.7 + profile 0.3', weights: { model: 0.7, affinity: 0.3, shop: 0 }, model: true },
    { name: 'rerank: item-to-item 0.5 + profile 0.5', weights: { model: 0.5, affinity: 0.5, shop: 0 }, model: true },
    { name: `rerank, default weights (profile ${DEFAULT_RERANK_WEIGHTS.affinity} : shop ${DEFAULT_RERANK_WEIGHTS.shop})`, weights: DEFAULT_RERANK_WEIGHTS },
    // the profile's share against the shop's order; pick on validation, read on test
    ...[0.2, 0.4, 0.8, 1].map((a) => ({ name: `rerank, profile ${a} : shop ${+(1 - a).toFixed(1)}`, weights: { model: 0, affinity: a, shop: 1 - a } })),
  ];
  for (const splitName of ['validation', 'test'] as const) {
    const cases = splitName === 'validation' ? split.validation : split.test;
    for (const kind of kinds) {
      const acc = orders.map(() => new MetricAccumulator());
      // per-user NDCG@10 gain over the shop order, for a paired confidence interval
      const gains = orders.map(() => ({ sum: 0, sumSq: 0 }));
      let listed = 0;
      for (const u of userIds) {
        const c = cases[u];
        const seen = new Set(c.history);
        seen.delete(c.target);
        const ids: number[] = [];
        for (const item of kind.list(c)) {
          if (seen.has(item)) continue;
          ids.push(item);
          if (ids.length === LIST_SIZE) break;
        }
        if (ids.includes(c.target)) listed++;
        const items = ids.map((i) => catalog[i - 1]);
        const profile = computeProfile(historyEvents(c.history, data), stats, NOW, { halfLifeDays: Number.POSITIVE_INFINITY });
        const baseRank = rankOf(ids, c.target);
        const all = model.score([c.history]);
        const modelScores = new Map(ids.map((i) => [data.itemKeys[i], all[i]]));
        orders.forEach((o, k) => {
          const context: RerankContext = { profile, catalogStats: stats, weights: o.weights, modelScores: o.model ? modelScores : undefined };
          const rank = o.weights ? rankOf(rerank(items, context).map((r) => ids[r.originalIndex]), c.target) : baseRank;
          acc[k].add(rank);
          const gain = ndcg10(rank) - ndcg10(baseRank);
          gains[k].sum += gain;
          gains[k].sumSq += gain * gain;
        });
      }
      orders.forEach((o, k) => {
        const n = acc[k].users;
        const mean = gains[k].sum / n;
        const se = Math.sqrt(Math.max(0, gains[k].sumSq / n - mean * mean) / Math.max(1, n - 1));
        rows.push({ split: splitName, list: kind.name, order: o.name, users: n, listed, metrics: acc[k].result(), gainNdcg10: { mean, ci95: 1.96 * se } });
      });
    }
  }
  const notes = [
    `${coverage.items} items: ${coverage.withCategory} with a category path, ${coverage.withBrand} with a brand; ${coverage.topLevelCategories} top-level categories`,
    `${userIds.length} of ${split.test.length} evaluable users${options.users !== undefined && options.users < split.test.length ? ` (fixed random subset, seed ${options.seed})` : ''}`,
  ];
  return { rows, notes };
}

export function qualityTable(rows: readonly QualityRow[]): string {
  const head = '| split | list | order | users | target listed | HR@10 | NDCG@10 | ΔNDCG@10 vs shop (95% CI) | HR@5 | NDCG@5 | MRR |\n|---|---|---|---|---|---|---|---|---|---|---|';
  const body = rows.map((r) => {
    const m = r.metrics;
    const gain = r.order.startsWith('shop') ? '—' : `${r.gainNdcg10.mean >= 0 ? '+' : ''}${r.gainNdcg10.mean.toFixed(4)} ± ${r.gainNdcg10.ci95.toFixed(4)}`;
    return `| ${r.split} | ${r.list} | ${r.order} | ${r.users} | ${r.listed} | ${m['HR@10'].toFixed(4)} | ${m['NDCG@10'].toFixed(4)} | ${gain} | ${m['HR@5'].toFixed(4)} | ${m['NDCG@5'].toFixed(4)} | ${m.MRR.toFixed(4)} |`;
  });
  return [head, ...body].join('\n');
}

export function defaultQualityOptions(argv: readonly string[]): QualityOptions {
  const arg = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const users = arg('--users');
  if (users !== undefined && !(Number(users) > 0)) throw new Error(`--users must be a positive number, got ${users}`);
  return {
    data: arg('--data') ?? '../shared/datasets/beauty/Beauty.txt',
    attrs: arg('--attrs') ?? '../shared/datasets/beauty/Beauty_item2attributes.json',
    users: users === undefined ? undefined : Number(users),
    seed: Number(arg('--seed') ?? 7),
  };
}
