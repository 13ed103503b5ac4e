// The browser recommender's compute on WebGPU hardware, beside WASM and CPU, in one Node
// process: the worker's own Recommender (workers/recommender.ts, BROWSER_MODEL, the demo
// catalog) on tfjs 4.22, with WebGPU provided by Dawn's Node binding (the `webgpu` npm
// package, which is not a project dependency). No browser is involved, so this measures the
// model's kernels and their read-backs, not IndexedDB, messaging or a page.
//
// Measured per backend, for a shopper history of 8 and of 50 items (medians, ms):
// - train step: Recommender.train(history, 1), one optimiser step on the worker's batch of
//   4 prefixes, the loss read back (as the worker does);
// - recs after update: recommend(k = 8) right after a step, so the item embeddings are
//   recomputed (the path a new event takes); recs cached: recommend again, embeddings kept;
// - update: the worker's whole update for one event (8 steps in chunks of 2, then
//   recommend k = 8): the compute part of track→recs;
// - recommend over a synthetic 100,000-item catalog (after an update, and cached);
// - first step and first recommend on a fresh model (shader compilation included).
// Every backend starts from the same seeded weights and history, so the first loss and the
// first top-8 must agree across backends: the summary checks that before any time is shown.
//
// Run here (Dawn finds a Vulkan driver; with Chromium's SwiftShader ICD it is a CPU emulation):
//   npm run bench:gpu-node -- --dawn /path/to/webgpu/dist/linux-x64/dawn.node [--json out.json]
// Options: --backends webgpu,wasm,cpu  --repeats 15  --updates 5  --histories 8,50
//          --big-catalog 100000 (0: none)
//          --wasm-dir DIR (the tfjs-backend-wasm .wasm files, for a bundled copy)
// On a machine without the repository, bundle it first (Dawn stays outside the bundle):
//   node_modules/esbuild/bin/esbuild bench/gpu/webgpu-node.ts --bundle --platform=node \
//     --format=esm --outfile=OUT/bench.mjs \
//     --banner:js="import{createRequire as __cr}from'module';import{fileURLToPath as __fu}from'url';\
//       const require=__cr(import.meta.url),__filename=__fu(import.meta.url),\
//       __dirname=__fu(new URL('.',import.meta.url));"          (one line: tfjs's CommonJS parts)
//   cp node_modules/@tensorflow/tfjs-backend-wasm/dist/*.wasm public/catalog.json OUT/
//   node OUT/bench.mjs --dawn .../dawn.node --wasm-dir OUT/ --catalog OUT/catalog.json
// Dawn on Linux needs the Vulkan loader (libvulkan1) and a Vulkan driver (NVIDIA: set
// VK_DRIVER_FILES to the driver's nvidia_icd.json; no GPU: Chromium's vk_swiftshader_icd.json
// from /usr/lib/chromium works for a dry run); the adapter it found is printed first (vendor, architecture, description, isFallbackAdapter), so a
// figure can be told from a software adapter's.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import type { CatalogItem } from '../../src/catalog.ts';
import { parseCatalog } from '../../src/catalog.ts';
import { mulberry32 } from '../../models/metrics.ts';
import { registerWasmPatches } from '../../models/backend-patches.ts';
import { BROWSER_MODEL, type HistoryEntry, Recommender } from '../../workers/recommender.ts';
import { type AdapterReport, adapterReport, installDawn, registerDawnBackend } from './dawn.ts';

const { values: args } = parseArgs({
  options: {
    backends: { type: 'string', default: 'webgpu,wasm,cpu' },
    dawn: { type: 'string' },
    'wasm-dir': { type: 'string' },
    catalog: { type: 'string', default: 'public/catalog.json' },
    'big-catalog': { type: 'string', default: '100000' },
    repeats: { type: 'string', default: '15' },
    updates: { type: 'string', default: '5' },
    histories: { type: 'string', default: '8,50' },
    json: { type: 'string' },
  },
});
const backends = args.backends.split(',').map((b) => b.trim());
const repeats = Number(args.repeats);
const updates = Number(args.updates);
const bigCatalogSize = Number(args['big-catalog']);
const HISTORY_LENGTHS = args.histories.split(',').map(Number);
const K = 8;
const UPDATE_STEPS = 8; // the worker's default trainSteps
const CHUNK_STEPS = 2; // the worker's steps per hold of the model lock

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (x: number) => Math.round(x * 100) / 100;
/** a median for a table cell, or a dash where nothing was timed */
const cell = (xs: number[]) => (xs.length ? String(round(median(xs))) : '–');

async function time(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

/** A shopper's sequence of distinct catalog indices, the same on every backend. */
function syntheticHistory(tableSize: number, length: number): HistoryEntry[] {
  const rand = mulberry32(1000 + length);
  const seen = new Set<number>();
  const out: HistoryEntry[] = [];
  while (out.length < length) {
    const index = 1 + Math.floor(rand() * (tableSize - 1));
    if (seen.has(index)) continue;
    seen.add(index);
    out.push({ index, event: 'view_item', ts: out.length });
  }
  return out;
}

/** Catalog items shaped like the browser benchmark's synthetic catalogs. */
function syntheticCatalog(n: number): CatalogItem[] {
  const depts = ['Shoes', 'Kitchen', 'Books', 'Electronics', 'Garden', 'Toys', 'Beauty', 'Sports'];
  return Array.from({ length: n }, (_, i) => {
    const d = depts[i % depts.length];
    return { item_id: `P${i}`, item_name: `Product ${i}`, item_brand: `Brand${i % 97}`, item_category: d, item_category2: `${d}${i % 5}`, price: 5 + ((i * 37) % 400) };
  });
}

interface CaseResult {
  catalog: number;
  history: number;
  firstRecommendMs: number;
  firstStepMs: number;
  firstLoss: number;
  firstTop: { id: string; score: number }[];
  trainStepMs: number[];
  recsAfterUpdateMs: number[];
  recsCachedMs: number[];
  updateMs: number[];
}

async function measureCase(catalog: readonly CatalogItem[], historyLength: number, withTraining: boolean): Promise<CaseResult> {
  const rec = new Recommender(catalog, BROWSER_MODEL);
  const history = syntheticHistory(rec.table.size, historyLength);
  const result: CaseResult = { catalog: catalog.length, history: historyLength, firstRecommendMs: 0, firstStepMs: 0, firstLoss: NaN, firstTop: [], trainStepMs: [], recsAfterUpdateMs: [], recsCachedMs: [], updateMs: [] };
  try {
    let top: Awaited<ReturnType<Recommender['recommend']>> = [];
    result.firstRecommendMs = await time(async () => (top = await rec.recommend(history, K)));
    result.firstTop = top.map((s) => ({ id: s.item.item_id, score: s.score }));
    result.firstStepMs = await time(async () => (result.firstLoss = await rec.train(history, 1)));
    for (let w = 0; w < 3; w++) {
      await rec.train(history, CHUNK_STEPS);
      await rec.recommend(history, K);
    }
    for (let r = 0; r < repeats; r++) {
      if (withTraining) result.trainStepMs.push(await time(() => rec.train(history, 1)));
      else await rec.train(history, 1); // only to invalidate the item embeddings
      result.recsAfterUpdateMs.push(await time(() => rec.recommend(history, K)));
      result.recsCachedMs.push(await time(() => rec.recommend(history, K)));
    }
    for (let u = 0; withTraining && u < updates; u++) {
      result.updateMs.push(
        await time(async () => {
          for (let done = 0; done < UPDATE_STEPS; done += CHUNK_STEPS) await rec.train(history, CHUNK_STEPS);
          await rec.recommend(history, K);
        }),
      );
    }
  } finally {
    rec.dispose();
  }
  return result;
}

interface BackendResult {
  backend: string;
  error?: string;
  adapter?: AdapterReport | null;
  wasmFlags?: Record<string, unknown>;
  cases: CaseResult[];
}

/** Fills `out` case by case, calling `save` after each: a run cut short keeps what it measured. */
async function measureBackend(out: BackendResult, demo: readonly CatalogItem[], big: readonly CatalogItem[] | null, save: () => void): Promise<void> {
  const name = out.backend;
  try {
    if (!(await tf.setBackend(name))) throw new Error('initialisation failed');
    await tf.ready();
  } catch (err) {
    out.error = (err as Error).message || String(err);
    console.log(`[${name}] failed: ${out.error}`);
    return;
  }
  if (name === 'webgpu') out.adapter = adapterReport();
  if (name === 'wasm') out.wasmFlags = { simd: await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'), threads: await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT') };
  console.log(`[${name}] ${out.adapter ? JSON.stringify(out.adapter) : JSON.stringify(out.wasmFlags ?? {})}`);
  const cases: [readonly CatalogItem[], number, boolean][] = HISTORY_LENGTHS.map((h) => [demo, h, true]);
  if (big) cases.push([big, 50, false]);
  for (const [catalog, h, withTraining] of cases) {
    const t0 = performance.now();
    const c = await measureCase(catalog, h, withTraining);
    out.cases.push(c);
    save();
    console.log(
      `[${name}] catalog ${c.catalog}, history ${h}: step ${cell(c.trainStepMs)} ms, recs after update ${cell(c.recsAfterUpdateMs)} ms, ` +
        `cached ${cell(c.recsCachedMs)} ms, update ${cell(c.updateMs)} ms, first step ${round(c.firstStepMs)} ms, loss ${c.firstLoss.toFixed(5)} ` +
        `(${((performance.now() - t0) / 1000).toFixed(1)} s, ${tf.memory().numTensors} tensors)`,
    );
  }
}

/** Cross-backend agreement of the first (untrained) outputs, against the last backend that ran. */
function agreement(results: BackendResult[]): string[] {
  const ran = results.filter((r) => !r.error);
  const lines: string[] = [];
  if (ran.length < 2) return lines;
  const ref = ran[ran.length - 1]; // cpu when it ran: plain JavaScript float32
  for (const r of ran) {
    if (r === ref) continue;
    r.cases.forEach((c, i) => {
      const rc = ref.cases[i];
      if (!rc) return;
      const overlap = c.firstTop.filter((t) => rc.firstTop.some((u) => u.id === t.id)).length;
      const scoreDiff = Math.max(...c.firstTop.map((t, j) => Math.abs(t.score - (rc.firstTop[j]?.score ?? NaN))));
      lines.push(
        `${r.backend} vs ${ref.backend}, catalog ${c.catalog} history ${c.history}: first loss ${c.firstLoss.toFixed(6)} vs ${rc.firstLoss.toFixed(6)}, ` +
          `top-${K} overlap ${overlap}/${K}, max |score diff| ${scoreDiff.toExponential(2)}`,
      );
    });
  }
  return lines;
}

function summary(results: BackendResult[]): string[] {
  const lines = ['| backend | catalog | history | train step | recs after update | recs cached | update (8 steps + recs) | first step |', '|---|---|---|---|---|---|---|---|'];
  for (const r of results) {
    if (r.error) {
      lines.push(`| ${r.backend} | failed: ${r.error} | | | | | | |`);
      continue;
    }
    for (const c of r.cases) {
      lines.push(`| ${r.backend} | ${c.catalog} | ${c.history} | ${cell(c.trainStepMs)} | ${cell(c.recsAfterUpdateMs)} | ${cell(c.recsCachedMs)} | ${cell(c.updateMs)} | ${round(c.firstStepMs)} |`);
    }
  }
  return lines;
}

if (backends.includes('webgpu')) {
  await installDawn(args.dawn);
  registerDawnBackend();
}
if (args['wasm-dir']) setWasmPaths(args['wasm-dir'].endsWith('/') ? args['wasm-dir'] : `${args['wasm-dir']}/`);
// the demo sends no cross-origin isolation headers, so a browser worker gets no WASM threads
tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
registerWasmPatches();

const demo = parseCatalog(JSON.parse(readFileSync(args.catalog, 'utf8')));
const big = bigCatalogSize > 0 ? syntheticCatalog(bigCatalogSize) : null;
const results: BackendResult[] = [];
const report = () => ({
  date: new Date().toISOString(),
  node: process.version,
  tfjs: tf.version.tfjs,
  repeats,
  updates,
  results,
  agreement: agreement(results),
  summary: summary(results),
});
const save = () => args.json && writeFileSync(args.json, JSON.stringify(report(), null, 1));
for (const name of backends) {
  const out: BackendResult = { backend: name, cases: [] };
  results.push(out);
  await measureBackend(out, demo, big, save);
  save(); // also when the backend failed to start: the error is the result
}
const final = report();
console.log(['', ...final.agreement, '', 'medians, ms:', ...final.summary].join('\n'));
// Dawn keeps the process alive through its device: leave explicitly
process.exit(0);
