// `npm run bench:browser [-- --backends default,wasm,webgl,webgpu] [--runs 5] [--waits-only] [--train-steps N]`: the on-device
// budgets measured in headless Chromium on the built demo: main-thread bundle size, track()
// cost, long tasks while the worker trains, track→recommendation latency, recommend() time
// over 1k/10k/100k-item catalogs, IndexedDB write throughput and bytes per 10k events, the
// calls a shopper waits for while the model trains (erase() and event→profile()), and the
// bytes of a first and a repeat visit to the demo (bench/transfer.ts).
// 'default' leaves the backend to the worker's own choice (no data-backends); `--backends none`
// measures the bytes only.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { parseArgs } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { serveStatic } from '../scripts/serve.ts';
import { launchChromium } from '../scripts/chromium.ts';
import { measureTransfer, transferReport } from './transfer.ts';

const { values: args } = parseArgs({
  options: {
    backends: { type: 'string', default: 'wasm,webgl,webgpu' },
    runs: { type: 'string', default: '5' },
    'waits-only': { type: 'boolean', default: false },
    // optimiser steps per model update (the worker's default is 8): heavier training to wait behind
    'train-steps': { type: 'string' },
  },
});
const backends = args.backends.split(',').filter((b) => b && b !== 'none');
const runs = Number(args.runs);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
/** nearest-rank percentile */
const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.max(0, Math.ceil((p / 100) * xs.length) - 1)];

function syntheticCatalog(n: number): string {
  const depts = ['Shoes', 'Kitchen', 'Books', 'Electronics', 'Garden', 'Toys', 'Beauty', 'Sports'];
  const items = [];
  for (let i = 0; i < n; i++) {
    const d = depts[i % depts.length];
    items.push({ item_id: `P${i}`, item_name: `Product ${i}`, item_brand: `Brand${i % 97}`, item_category: d, item_category2: `${d}${i % 5}`, price: 5 + ((i * 37) % 400) });
  }
  return JSON.stringify(items);
}

async function open(browser: Browser, baseUrl: string, backend: string, catalog = '/catalog.json'): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  for (const n of [1000, 10_000, 100_000]) {
    const body = syntheticCatalog(n);
    await page.route(`${baseUrl}/catalog-${n}.json`, (route) => route.fulfill({ contentType: 'application/json', body }));
  }
  await page.route(`${baseUrl}/bench.html`, (route) =>
    route.fulfill({
      contentType: 'text/html',
      body: `<!doctype html><script type="module" src="/silo.js" data-catalog="${catalog}" ${backend === 'default' ? '' : `data-backends="${backend}"`} ${args['train-steps'] ? `data-train-steps="${Number(args['train-steps'])}"` : ''} data-max-events="100000"></script>`,
    }),
  );
  await page.goto(`${baseUrl}/bench.html`);
  await page.evaluate(() => window.silo.ready);
  return page;
}

async function measureBackend(browser: Browser, baseUrl: string, backend: string) {
  const page = await open(browser, baseUrl, backend);
  const status = await page.evaluate(() => window.silo.status());
  // track(): batches of 200 calls (the page clock is coarse), per-call time in microseconds
  const trackUs = await page.evaluate(() => {
    const per: number[] = [];
    for (let b = 0; b < 50; b++) {
      const t0 = performance.now();
      for (let i = 0; i < 200; i++) window.silo.track('search', { search_term: `term ${b}-${i}` });
      per.push(((performance.now() - t0) * 1000) / 200);
    }
    return per;
  });
  await page.evaluate(() => window.silo.settled());

  // long tasks on the main thread while the worker trains on 20 new items
  const longTasks = await page.evaluate(async () => {
    const seen: number[] = [];
    const obs = new PerformanceObserver((list) => list.getEntries().forEach((e) => seen.push(e.duration)));
    obs.observe({ type: 'longtask' });
    for (let i = 1; i <= 20; i++) {
      window.silo.track('view_item', { items: [{ item_id: `KIT-${String(i).padStart(4, '0')}` }] });
      await window.silo.settled();
    }
    await new Promise((r) => setTimeout(r, 200));
    obs.disconnect();
    return seen;
  });

  // track() → recommendations that reflect it
  const latencies: number[] = [];
  for (let r = 0; r < runs; r++) {
    latencies.push(
      await page.evaluate(async (r) => {
        const before = (await window.silo.recommend({ k: 8 })).map((x) => x.item_id).join();
        const t0 = performance.now();
        window.silo.track('view_item', { items: [{ item_id: `ELE-${String(30 + r).padStart(4, '0')}` }] });
        for (;;) {
          const now = (await window.silo.recommend({ k: 8 })).map((x) => x.item_id).join();
          if (now !== before) return performance.now() - t0;
          if (performance.now() - t0 > 30_000) return Infinity;
        }
      }, r),
    );
  }

  // IndexedDB: 10k events written through the worker (searches: no training triggered)
  const idb = await page.evaluate(async () => {
    const before = (await navigator.storage.estimate()).usage ?? 0;
    const t0 = performance.now();
    for (let i = 0; i < 10_000; i++) window.silo.track('search', { search_term: `bulk query number ${i}` });
    await window.silo.settled();
    const seconds = (performance.now() - t0) / 1000;
    const after = (await navigator.storage.estimate()).usage ?? 0;
    return { eventsPerSecond: 10_000 / seconds, bytesPer10k: after - before };
  });
  await page.context().close();

  const recommendMs: Record<number, number> = {};
  for (const n of [1000, 10_000, 100_000]) {
    const p = await open(browser, baseUrl, backend, `/catalog-${n}.json`);
    const times = await p.evaluate(async () => {
      for (let i = 0; i < 5; i++) window.silo.track('view_item', { items: [{ item_id: `P${i * 8}` }] });
      await window.silo.settled();
      await window.silo.recommend({ k: 20 }); // warm-up: item embeddings for the catalog
      const out: number[] = [];
      for (let i = 0; i < 7; i++) {
        const t0 = performance.now();
        await window.silo.recommend({ k: 20 });
        out.push(performance.now() - t0);
      }
      return out;
    });
    recommendMs[n] = median(times);
    await p.context().close();
  }
  const waits = await measureWaits(browser, baseUrl, backend);
  return { backend: status.backend, skipped: status.skipped, trackUs: median(trackUs), longTasks: longTasks.length, latencyMs: median(latencies), idb, recommendMs, waits };
}

/**
 * What a shopper waits for while the model trains (8 steps per update unless --train-steps): erase()
 * called while 28 new views are being learned, then three add_to_carts until profile() shows
 * them. `runs` rounds on one page (each erase starts the next round from nothing).
 */
async function measureWaits(browser: Browser, baseUrl: string, backend: string) {
  const page = await open(browser, baseUrl, backend);
  const eraseMs: number[] = [];
  const profileMs: number[] = [];
  for (let r = 0; r < Math.max(runs, 10); r++) {
    const round = await page.evaluate(async (r) => {
      const departments = ['KIT', 'ELE', 'SHO', 'BOO'];
      for (let i = 1; i <= 28; i++) {
        window.silo.track('view_item', { items: [{ item_id: `${departments[(i + r) % 4]}-${String(i).padStart(4, '0')}` }] });
        if (i % 4 === 0) await window.silo.status();
      }
      const t0 = performance.now();
      await window.silo.erase();
      const erase = performance.now() - t0;
      const ids = ['KIT-0101', 'ELE-0102', 'SHO-0103'];
      for (const id of ids) window.silo.track('add_to_cart', { items: [{ item_id: id }] });
      const t1 = performance.now();
      for (;;) {
        const p = await window.silo.profile();
        if (p.recorded.kept === ids.length) return { erase, profile: performance.now() - t1 };
        if (performance.now() - t1 > 30_000) return { erase, profile: Infinity };
      }
    }, r);
    eraseMs.push(round.erase);
    profileMs.push(round.profile);
    await page.evaluate(() => window.silo.erase());
  }
  await page.context().close();
  return { eraseP50: median(eraseMs), eraseP95: percentile(eraseMs, 95), profileP50: median(profileMs), profileP95: percentile(profileMs, 95) };
}

execFileSync('npx', ['vite', 'build', '--logLevel', 'warn'], { stdio: 'inherit' });
const bundleGzip = gzipSync(readFileSync('dist/silo.js')).length;
const served = await serveStatic({ dir: 'dist' });
const browser = await launchChromium();
console.log(`main-thread JavaScript (dist/silo.js, gzip): ${(bundleGzip / 1024).toFixed(2)} KB`);
if (args['waits-only']) {
  console.log('| backend | erase() while training p50 / p95 ms | event→profile p50 / p95 ms |');
  console.log('|---|---|---|');
  for (const backend of backends) {
    const w = await measureWaits(browser, served.url, backend);
    console.log(`| ${backend} | ${w.eraseP50.toFixed(0)} / ${w.eraseP95.toFixed(0)} | ${w.profileP50.toFixed(0)} / ${w.profileP95.toFixed(0)} |`);
  }
  await browser.close();
  await served.close();
  process.exit(0);
}
console.log(transferReport(await measureTransfer(browser)));
console.log('| backend | track() p50 µs | long tasks while training | track→recs p50 ms | recommend k=20, 1k / 10k / 100k items (ms) | IndexedDB events/s | bytes per 10k events | erase() while training p50 / p95 ms | event→profile p50 / p95 ms |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const backend of backends) {
  try {
    const r = await measureBackend(browser, served.url, backend);
    console.log(
      `| ${backend === 'default' ? `default → ${r.backend}` : r.backend} | ${r.trackUs.toFixed(2)} | ${r.longTasks} | ${r.latencyMs.toFixed(0)} | ${[1000, 10_000, 100_000].map((n) => r.recommendMs[n].toFixed(1)).join(' / ')} | ${r.idb.eventsPerSecond.toFixed(0)} | ${r.idb.bytesPer10k} | ${r.waits.eraseP50.toFixed(0)} / ${r.waits.eraseP95.toFixed(0)} | ${r.waits.profileP50.toFixed(0)} / ${r.waits.profileP95.toFixed(0)} |`,
    );
  } catch (err) {
    console.log(`| ${backend} | failed: ${(err as Error).message.split('\n')[0]} | | | | | | | |`);
  }
}
await browser.close();
await served.close();
