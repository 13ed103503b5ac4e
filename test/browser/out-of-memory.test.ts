// A worker that runs out of memory degrades with a clear status().memory and loses nothing
// already stored. The allocation failure is injected where each kind of model work starts
// (training, scoring, loading the saved model, building the model): the worker global
// `siloInjectOutOfMemory` (workers/memory.ts) makes V8 throw its real "Array buffer allocation
// failed". The last test takes the real limit: a Chromium with a small V8 heap, filled from
// inside the worker until the engine kills the tab.
import type { BrowserContext, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { expect, inject, it } from 'vitest';
import type { Recommendation } from '../../src/silo.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH, freshContext } from './chromium.ts';
import { storeRows } from './idb.ts';
import { useChromium } from './use-chromium.ts';

const baseUrl = inject('baseUrl');
const browser = useChromium();
const DB = 'silo-oom';
const PAGE = `<!doctype html><script type="module" src="/silo.js" data-catalog="/catalog.json" data-db-name="${DB}" data-backends="wasm"></script>`;
const WORKER_CHUNK = /\/assets\/profile\.worker-[^/]+\.js$/;
const FALLBACK = { state: 'out-of-memory', training: 'stopped', recommendations: 'popularity' };

interface Injected {
  stages: string[];
  hits?: number;
}
type StoredModelRow = { trainedOnEvents: number; sha256: string; savedAt: number };

async function open(context: BrowserContext): Promise<Page> {
  await context.route(`${baseUrl}/oom.html`, (route) => route.fulfill({ contentType: 'text/html', body: PAGE }));
  const page = await context.newPage();
  await page.goto(`${baseUrl}/oom.html`);
  return page;
}

/** Pages opened from now on start their worker with these stages failing (from its first call). */
async function injectAtStart(context: BrowserContext, stages: string[] | null): Promise<void> {
  await context.unroute(WORKER_CHUNK);
  if (!stages) return;
  await context.route(WORKER_CHUNK, async (route) => {
    const response = await route.fetch();
    const body = `self.siloInjectOutOfMemory = ${JSON.stringify({ stages })};\n${await response.text()}`;
    await route.fulfill({ response, body });
  });
}

function siloWorker(page: Page) {
  const worker = page.workers().filter((w) => w.url().includes('profile.worker')).at(-1);
  if (!worker) throw new Error('no Silo worker');
  return worker;
}

/** Makes the running worker fail these stages from now on; reads back how often they were hit. */
const injectNow = (page: Page, stages: string[]) => siloWorker(page).evaluate((stages) => void ((self as { siloInjectOutOfMemory?: Injected }).siloInjectOutOfMemory = { stages }), stages);
const hits = (page: Page) => siloWorker(page).evaluate(() => (self as { siloInjectOutOfMemory?: Injected }).siloInjectOutOfMemory?.hits ?? 0);

const view = (page: Page, ids: string[]) =>
  page.evaluate(async (ids) => {
    for (const id of ids) window.silo.track('view_item', { items: [{ item_id: id }] });
    await window.silo.settled();
    return window.silo.status();
  }, ids);

const recommend = (page: Page, k = 5) => page.evaluate((k) => window.silo.recommend({ k }), k);
const storedEvents = async (page: Page) => (await storeRows<{ params: { items?: { item_id: string }[] } }>(page, DB, 'events')).map((e) => e.params.items?.[0].item_id);
const storedModels = (page: Page) => storeRows<StoredModelRow>(page, DB, 'models');

async function modelSaved(page: Page, events: number): Promise<StoredModelRow> {
  for (const end = Date.now() + 60_000; Date.now() < end; await new Promise((r) => setTimeout(r, 250))) {
    const saved = (await storedModels(page)).find((m) => m.trainedOnEvents === events);
    if (saved) return saved;
  }
  throw new Error(`no model trained on ${events} events was saved within 60 s`);
}

/** The popular picks with no popularity prior (no aggregator here): in-stock items in the shop's order, the seen ones left out. */
async function expectPopularPicks(page: Page, recs: Recommendation[], seen: string[], k = 5): Promise<void> {
  const catalog = await page.evaluate(async () => (await (await fetch('/catalog.json')).json()) as { item_id: string; in_stock?: boolean }[]);
  const expected = catalog.filter((i) => i.in_stock !== false && !seen.includes(i.item_id)).slice(0, k).map((i) => i.item_id);
  expect(recs.map((r) => r.item_id)).toEqual(expected);
  for (const r of recs) expect(r.reason).toMatch(/^(Featured|Popular) in /);
}

it('training out of memory: stops training without retrying, serves popular picks, keeps every event and the saved model', async () => {
  const { context, errors } = await freshContext(browser());
  const page = await open(context);
  await page.evaluate(() => window.silo.ready);
  const first = ['KIT-0001', 'KIT-0002', 'KIT-0003'];
  await view(page, first);
  const saved = await modelSaved(page, 3);
  expect((await recommend(page)).some((r) => r.reason.startsWith('Because you'))).toBe(true); // the model's own picks

  await injectNow(page, ['training']);
  const oom = await view(page, ['KIT-0004', 'KIT-0005', 'KIT-0006']);
  expect(oom.memory).toMatchObject({ ...FALLBACK, stage: 'training' });
  expect(oom.memory?.message).toMatch(/out of memory while training the personal model \(Array buffer allocation failed\)/);
  expect(oom.trainedOnEvents).toBe(3);
  expect(oom.events).toBe(6);
  expect(await hits(page)).toBe(1);

  // more events: stored, but no new attempt (a retry would fail the same way, in a loop)
  const later = await view(page, ['KIT-0007', 'KIT-0008']);
  expect(later.events).toBe(8);
  expect(await hits(page)).toBe(1);
  const seen = ['KIT-0001', 'KIT-0002', 'KIT-0003', 'KIT-0004', 'KIT-0005', 'KIT-0006', 'KIT-0007', 'KIT-0008'];
  await expectPopularPicks(page, await recommend(page), seen);

  // past the save debounce: the saved model is the one from before (no half-updated weights)
  await new Promise((r) => setTimeout(r, 3000));
  expect(await storedModels(page)).toEqual([saved]);
  expect(await storedEvents(page)).toEqual(seen);
  expect((await page.evaluate(() => window.silo.status())).failure).toBeNull();
  expect(errors).toEqual([]);
  await context.close();
});

it('scoring out of memory: recommend() serves popular picks, rerank() still answers, nothing stored changes', async () => {
  const { context, errors } = await freshContext(browser());
  const page = await open(context);
  await page.evaluate(() => window.silo.ready);
  const seen = ['KIT-0002', 'KIT-0004'];
  await view(page, seen);
  await injectNow(page, ['scoring']);
  await expectPopularPicks(page, await recommend(page), seen);
  const status = await page.evaluate(() => window.silo.status());
  expect(status.memory).toMatchObject({ ...FALLBACK, stage: 'scoring' });
  expect(status.memory?.message).toMatch(/out of memory while scoring recommendations/);
  const reranked = await page.evaluate(async () => (await window.silo.rerank([{ item_id: 'KIT-0009' }, { item_id: 'KIT-0001' }, { item_id: 'KIT-0005' }])).map((i) => i.item_id));
  expect([...reranked].sort()).toEqual(['KIT-0001', 'KIT-0005', 'KIT-0009']);
  expect(await hits(page)).toBe(1); // later calls go straight to the fallback
  expect((await view(page, ['KIT-0006'])).events).toBe(3);
  expect(await storedEvents(page)).toEqual([...seen, 'KIT-0006']);
  expect(errors).toEqual([]);
  await context.close();
});

it('loading or building the model out of memory at start: popular picks, events kept and recorded, the saved model restored on the next load', async () => {
  const { context, errors } = await freshContext(browser());
  const seen = ['KIT-0001', 'KIT-0003', 'KIT-0005', 'KIT-0007'];
  let page = await open(context);
  await page.evaluate(() => window.silo.ready);
  await view(page, seen);
  const saved = await modelSaved(page, 4);
  await page.close();

  // the saved model cannot be loaded: the worker starts, untrained, and says why
  await injectAtStart(context, ['loading']);
  page = await open(context);
  const loading = await page.evaluate(() => window.silo.ready);
  expect(loading.memory).toMatchObject({ ...FALLBACK, stage: 'loading' });
  expect(loading.memory?.message).toMatch(/out of memory while loading the saved model/);
  expect(loading.events).toBe(4);
  expect(loading.trainedOnEvents).toBe(0);
  await expectPopularPicks(page, await recommend(page), seen);
  seen.push('KIT-0009');
  expect((await view(page, ['KIT-0009'])).events).toBe(5);
  await new Promise((r) => setTimeout(r, 2500)); // past the save debounce: nothing may overwrite the saved model
  expect(await storedModels(page)).toEqual([saved]);
  await page.close();

  // the model cannot even be built: no parameters, the same fallback, recording unaffected
  await injectAtStart(context, ['building']);
  page = await open(context);
  const building = await page.evaluate(() => window.silo.ready);
  expect(building.memory).toMatchObject({ ...FALLBACK, stage: 'building' });
  expect(building.memory?.message).toMatch(/out of memory while building the model/);
  expect(building.modelParameters).toBe(0);
  await expectPopularPicks(page, await recommend(page), seen);
  expect((await page.evaluate(() => window.silo.profile())).embedding).toEqual([]);
  seen.push('KIT-0010');
  expect((await view(page, ['KIT-0010'])).events).toBe(6);
  await page.close();

  // memory back: the saved model loads (trained on 4 events) and every event is there
  await injectAtStart(context, null);
  page = await open(context);
  const restored = await page.evaluate(() => window.silo.ready);
  expect(restored.memory).toMatchObject({ state: 'ok', training: 'on', recommendations: 'model' });
  expect(restored.trainedOnEvents).toBe(4);
  expect(restored.events).toBe(6);
  expect(await storedEvents(page)).toEqual(seen);
  await page.evaluate(() => window.silo.settled());
  expect((await page.evaluate(() => window.silo.status())).trainedOnEvents).toBe(6);
  expect(errors).toEqual([]);
  await context.close();
});

it('the worker killed by a real heap limit: an uncaught allocation failure restarts it, the fatal one loses the tab but no stored event or model', async () => {
  // a small V8 heap, so filling it is quick; the tab and its worker share one renderer process
  const small = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: [...CHROMIUM_ARGS, '--js-flags=--max-old-space-size=64'] });
  try {
    const context = await small.newContext();
    const page = await open(context);
    const warnings: string[] = [];
    page.on('console', (m) => void (m.type() === 'warning' && warnings.push(m.text())));
    await page.evaluate(() => window.silo.ready);
    const seen = ['KIT-0002', 'KIT-0003', 'KIT-0006'];
    await view(page, seen);
    const saved = await modelSaved(page, 3);

    // an allocation failure nothing catches is a worker crash: the page restarts the worker
    // (2^35 - 1 bytes: Chromium's largest valid ArrayBuffer, more than it will allocate)
    await siloWorker(page).evaluate(() => void setTimeout(() => ((self as { held?: ArrayBuffer }).held = new ArrayBuffer(2 ** 35 - 1))));
    const restarted = await page.evaluate(async () => {
      for (let i = 0; i < 100 && !(await window.silo.status()).trainedOnEvents; i++) await new Promise((r) => setTimeout(r, 100));
      return window.silo.status();
    });
    expect(warnings.some((w) => /Array buffer allocation failed.*restarting/.test(w))).toBe(true);
    expect(restarted).toMatchObject({ failure: null, events: 3, trainedOnEvents: 3 });
    seen.push('KIT-0008');
    expect((await view(page, ['KIT-0008'])).events).toBe(4);

    // the heap itself runs out: V8 ends the renderer process, tab and worker together
    const crashed = new Promise<void>((resolve) => page.once('crash', () => resolve()));
    void siloWorker(page)
      .evaluate(() => {
        const hold: number[][] = [];
        for (;;) hold.push(new Array(1 << 20).fill(1.5));
      })
      .catch(() => undefined);
    await crashed;

    // the next page load finds every stored event and the saved model
    const next = await open(context);
    const status = await next.evaluate(() => window.silo.ready);
    expect(status.events).toBe(4);
    expect(status.trainedOnEvents).toBeGreaterThanOrEqual(3);
    expect(await storedEvents(next)).toEqual(seen);
    expect((await storedModels(next))[0].trainedOnEvents).toBeGreaterThanOrEqual(saved.trainedOnEvents);
    await context.close();
  } finally {
    await small.close();
  }
});
