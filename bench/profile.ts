// Profile benchmarks: `npm run bench:profile -- [mode]`
//   (no flag)           times the profile logic on a synthetic shopper: 10k-item catalog (100
//                       leaf categories, 20 brands, log-normal-ish prices), 1k events over 60
//                       days, a 200-item list to rerank; median / p95 of repeated runs after warm-up.
//   --rerank-quality    rerank's benefit on Amazon Beauty (bench/rerank-quality.ts has the
//                       protocol); --users N --seed S for a fixed random subset, --data/--attrs paths.
//   --calibration FILE  purchase-propensity calibration (ECE, Brier, reliability) on a real
//                       `user,item,timestamp,event_type` log: fit on the earlier 80% of sessions,
//                       measured on the later 20% (workers/profile/propensity.ts).
// Results print as Markdown and are kept under bench/out/ (git-ignored).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import type { CatalogItem } from '../src/catalog.ts';
import type { EventName, SiloEvent } from '../src/events.ts';
import { buildCatalogStats } from '../workers/profile/catalog-stats.ts';
import { explainRecommendation, type HistoryEntry } from '../workers/profile/explain.ts';
import { computeProfile, explainInWords } from '../workers/profile/profile.ts';
import { rerank } from '../workers/profile/rerank.ts';
import { measureCalibration, parseEventLog } from '../workers/profile/propensity.ts';
import { defaultQualityOptions, qualityTable, runRerankQuality } from './rerank-quality.ts';
import { argvWithPreset } from './presets.ts';

// deterministic pseudo-random numbers so every run measures the same work
let seed = 42;
const random = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);

const CATALOG_SIZE = 10_000, EVENTS = 1_000, LIST = 200;
const catalog: CatalogItem[] = Array.from({ length: CATALOG_SIZE }, (_, i) => ({
  item_id: `sku${i}`,
  item_name: `Item ${i}`,
  item_category: `Dept ${i % 10}`,
  item_category2: `Cat ${i % 100}`,
  item_brand: `Brand ${i % 20}`,
  price: Math.round(Math.exp(2 + 4 * random()) * 100) / 100,
  in_stock: random() > 0.05,
}));

const NOW = Date.UTC(2026, 10, 23, 9, 0, 0);
const names: EventName[] = ['view_item', 'view_item', 'view_item', 'select_item', 'add_to_cart', 'remove_from_cart', 'purchase', 'search', 'view_item_list'];
const events: SiloEvent[] = Array.from({ length: EVENTS }, (_, i) => {
  const name = names[Math.floor(random() * names.length)];
  const ts = NOW - 60 * 86_400_000 + i * ((60 * 86_400_000) / EVENTS);
  const item = catalog[Math.floor(random() * 300)]; // a shopper circles a few hundred items
  return name === 'search'
    ? { name, ts, source: 'track', params: { search_term: `term ${i % 7}` } }
    : { name, ts, source: 'track', params: { items: [{ item_id: item.item_id }], transaction_id: name === 'purchase' ? `t${i}` : undefined } };
});

function time(label: string, runs: number, fn: () => unknown): { label: string; median: number; p95: number; runs: number } {
  for (let i = 0; i < 50; i++) fn(); // warm-up: the first dozens of runs are not yet optimised code
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    fn();
    t.push(performance.now() - start);
  }
  t.sort((a, b) => a - b);
  return { label, median: t[Math.floor(runs / 2)], p95: t[Math.floor(runs * 0.95)], runs };
}

function timeProfileLogic() {
  const stats = buildCatalogStats(catalog);
  const profile = computeProfile(events, stats, NOW);
  const list = catalog.slice(5_000, 5_000 + LIST);
  const scores = Object.fromEntries(list.map((item) => [item.item_id, random()]));
  const history: HistoryEntry[] = events
    .filter((e) => e.params.items)
    .slice(-50)
    .map((e) => ({ item: stats.byId.get(e.params.items![0].item_id)!, event: e.name, ts: e.ts }));

  const results = [
    time(`buildCatalogStats, ${CATALOG_SIZE} items`, 30, () => buildCatalogStats(catalog)),
    time(`computeProfile, ${EVENTS} events, ${CATALOG_SIZE}-item catalog`, 200, () => computeProfile(events, stats, NOW)),
    time('explainInWords', 200, () => explainInWords(profile)),
    time(`rerank ${LIST} items (model scores + profile + price)`, 500, () => rerank(list, { modelScores: scores, profile, catalogStats: stats })),
    time('explainRecommendation, 50 history items', 500, () => explainRecommendation(list[0], history, { profile })),
  ];
  return results;
}

const machine = `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, Node ${process.version}, 1-min load average ${os.loadavg()[0].toFixed(1)} (shared machine)`;

function save(name: string, text: string): void {
  mkdirSync('bench/out', { recursive: true });
  writeFileSync(`bench/out/${name}`, text);
  console.log(text);
}

const argv = argvWithPreset('profile');
const stamp = new Date().toISOString().slice(0, 16) + 'Z';
if (argv.includes('--rerank-quality')) {
  const options = defaultQualityOptions(argv);
  const t0 = performance.now();
  const { rows, notes } = runRerankQuality(options);
  const seconds = ((performance.now() - t0) / 1000).toFixed(1);
  save('rerank-quality.md', `${stamp}, ${machine}, ${seconds} s\n${options.data}\n${notes.join('\n')}\n\n${qualityTable(rows)}\n`);
} else if (argv.includes('--calibration')) {
  const file = argv[argv.indexOf('--calibration') + 1];
  if (!file) throw new Error('--calibration needs a user,item,timestamp,event_type CSV file');
  const { report, trainSessions, model } = measureCalibration(parseEventLog(readFileSync(file, 'utf8')));
  const bins = report.bins.filter((b) => b.count > 0).map((b) => `| ${b.lower.toFixed(1)}–${b.upper.toFixed(1)} | ${b.count} | ${b.meanPredicted.toFixed(4)} | ${b.observedRate.toFixed(4)} |`);
  save(
    'propensity-calibration.md',
    `${stamp}, ${machine}\n${file}: fitted on ${trainSessions} earlier sessions (purchase rate ${model.fittedOn.positiveRate.toFixed(4)}), measured on ${report.n} later ones (rate ${report.positiveRate.toFixed(4)})\n\n` +
      `| ECE (10 bins) | Brier | Brier of the base rate | log loss |\n|---|---|---|---|\n| ${report.ece.toFixed(4)} | ${report.brier.toFixed(4)} | ${report.brierBaseRate.toFixed(4)} | ${report.logLoss.toFixed(4)} |\n\n` +
      `| predicted | sessions | mean predicted | observed rate |\n|---|---|---|---|\n${bins.join('\n')}\n`,
  );
} else {
  const rows = timeProfileLogic().map((r) => `| ${r.label} | ${r.median.toFixed(3)} | ${r.p95.toFixed(3)} | ${r.runs} |`);
  save('profile-timings.md', `${stamp}, ${machine}\n\n| Operation | median ms | p95 ms | runs |\n|---|---|---|---|\n${rows.join('\n')}\n`);
}
