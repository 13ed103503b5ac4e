// The core of the browser suite in Firefox ESR (WebDriver BiDi): the one tag loads and
// window.silo works, events (the page's own dataLayer pushes too) land in IndexedDB and
// survive a reload, the worker picks its backend, recommendations follow what the shopper
// views on the demo storefront (under its strict CSP with Trusted Types), and erase() clears.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { StaticServer } from '../../scripts/serve.ts';
import { until } from '../until.ts';
import { EMBED_DB, embed, strictCsp } from '../browser/embed-page.ts';
import { clickByText, freshPage, servePages, storedEvents, storeRows, useFirefox, widgetItems } from './firefox.ts';

const baseUrl = inject('baseUrl');
const browser = useFirefox();

// the storefront's GA4 tag reported a product view, and GTM its own event, before silo.js loaded
const EARLY_PUSHES = `window.dataLayer.push({event:'view_item',ecommerce:{items:[{item_id:'KIT-0002',item_name:'Pan',price:20}]}});
  window.dataLayer.push({event:'gtm.js'});`;

let pages: StaticServer;
beforeAll(async () => {
  pages = await servePages({
    // no widget on these two: its impressions (view_item_list) would be recorded as well
    '/early.html': embed('', EARLY_PUSHES, ''),
    '/plain.html': embed('', '', ''),
    '/tt-refused.html': { html: `<!doctype html><script type="module" src="/silo.js" data-catalog="/catalog.json" data-db-name="silo-tt" data-backends="wasm"></script>`, csp: strictCsp('', 'shop-policy') },
  });
});
afterAll(async () => {
  await pages?.close();
});

describe('the tag, recording and storage', () => {
  it("loads from one tag, records the page's dataLayer (pushes before the tag too) and track() into IndexedDB, and keeps them across a reload", async () => {
    const { page, context, errors } = await freshPage(browser());
    await page.goto(`${pages.url}/early.html`);
    expect(await page.evaluate(() => typeof window.silo)).toBe('object');
    // a normal window sends no Global Privacy Control (private-window.test.ts: a private one does)
    expect(await page.evaluate(() => (navigator as { globalPrivacyControl?: boolean }).globalPrivacyControl)).toBe(false);
    const results = await page.evaluate(async () => {
      const ready = await window.silo.ready;
      const dataLayer = (window as unknown as { dataLayer: unknown[] }).dataLayer;
      dataLayer.push({ event: 'add_to_cart', ecommerce: { items: [{ item_id: 'KIT-0003', price: 30 }] } });
      const tracked = [window.silo.track('view_item', { items: [{ item_id: 'BOO-0001', price: 12 }] }), window.silo.track('teleport', {})];
      await window.silo.settled();
      return { backend: ready.backend, tracked };
    });
    expect(results.backend).toBe('wasm'); // the page pinned it (data-backends)
    expect(results.tracked[0]).toEqual({ ok: true });
    expect(results.tracked[1]).toMatchObject({ ok: false, reason: expect.stringContaining('unknown event') });
    const recorded = [
      { name: 'view_item', source: 'dataLayer', items: ['KIT-0002'] },
      { name: 'add_to_cart', source: 'dataLayer', items: ['KIT-0003'] },
      { name: 'view_item', source: 'track', items: ['BOO-0001'] },
    ];
    expect(await storedEvents(page, EMBED_DB)).toEqual(recorded);
    expect(await page.evaluate(() => window.silo.status())).toMatchObject({ events: 3, rejected: 1, recording: true, failure: null });

    // a page of the same origin without the early pushes, then a reload: a fresh worker each time
    await page.goto(`${pages.url}/plain.html`);
    expect((await page.evaluate(() => window.silo.ready)).events).toBe(3);
    await page.reload();
    expect((await page.evaluate(() => window.silo.ready)).events).toBe(3);
    expect(await storedEvents(page, EMBED_DB)).toEqual(recorded);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('stands down with the fix in status() when the page does not allow the "silo" Trusted Types policy', async () => {
    const { page, context } = await freshPage(browser());
    await page.goto(`${pages.url}/tt-refused.html`);
    const status = await page.evaluate(() => window.silo.status());
    // Firefox's own message names neither Trusted Types nor the policy: Silo's hint must
    expect(status.failure).toMatch(/Sink type mismatch/);
    expect(status.failure).toContain('trusted-types');
    expect(status.failure).toContain('"silo"');
    expect(await page.evaluate(() => window.silo.track('view_item', { items: [{ item_id: 'SHO-0001' }] }))).toEqual({ ok: true });
    await context.close();
  });
});

describe('the demo storefront, under its CSP with Trusted Types', () => {
  it('chooses WASM by default, recommends, follows the viewed category, and erase() clears everything', async () => {
    const { page, context, errors } = await freshPage(browser());
    await page.goto(`${baseUrl}/`);
    const ready = await page.evaluate(() => window.silo.ready);
    expect(ready.backend).toBe('wasm');
    expect(ready.backendReason).toMatch(/WebAssembly/);
    const skipped = Object.fromEntries(ready.skipped.map((s) => [s.backend, s.reason]));
    expect(skipped).toEqual({ webgpu: 'navigator.gpu is not available', webgl: 'no WebGL context' });
    expect(ready.catalogSize).toBeGreaterThanOrEqual(1000);

    await page.waitForFunction(() => document.querySelector('aside silo-recommendations')?.shadowRoot?.querySelectorAll('li').length === 8, { timeout: 120_000 });
    const initial = await widgetItems(page, 'aside silo-recommendations');

    // browse three Kitchen products through the storefront's own UI
    await clickByText(page, '#departments button', 'Kitchen');
    for (let i = 0; i < 3; i++) {
      const cards = await page.$$('#listing .product');
      await cards[i].click();
      await clickByText(page, '#product button', 'Close');
    }
    await page.evaluate(() => window.silo.settled());
    const after = await until('the recommendations to move', async () => {
      const ids = await widgetItems(page, 'aside silo-recommendations');
      return ids.length === 8 && ids.join() !== initial.join() && ids;
    });
    expect(after.filter((id) => id.startsWith('KIT-')).length).toBeGreaterThanOrEqual(4); // most of 8 (1 in 8 by chance)
    const status = await page.evaluate(() => window.silo.status());
    expect(status.trainedOnEvents).toBeGreaterThan(0);
    expect(status.failure).toBeNull();
    expect(await page.$eval('#panel-interests', (el) => el.textContent)).toContain('Kitchen');

    const before = (await storedEvents(page, 'silo')).filter((e) => e.source !== 'widget');
    expect(before.filter((e) => e.name === 'view_item' && e.items[0].startsWith('KIT-')).length).toBe(3);
    await page.evaluate(() => window.silo.erase());
    // the widget refreshes after the erase and records its new impressions (source 'widget'),
    // so the store need not stay empty; nothing the shopper did before the erase is left
    expect((await storedEvents(page, 'silo')).filter((e) => e.source !== 'widget')).toEqual([]);
    expect(await storeRows(page, 'silo', 'meta')).toEqual([]); // the remembered backend too
    expect(errors).toEqual([]);
    // Trusted Types are enforced here (Silo's worker started through its policy): a plain
    // string cannot start one, and Firefox reports the refusal as an error of the page
    expect(await page.evaluate(() => typeof (globalThis as { trustedTypes?: unknown }).trustedTypes)).toBe('object');
    expect(await page.evaluate(() => {
      try {
        new Worker('/elsewhere.js');
        return 'started';
      } catch (err) {
        return (err as Error).message;
      }
    })).toMatch(/Sink type mismatch/);
    await until('the violation to be reported', () => errors.some((e) => /require-trusted-types-for/.test(e)));
    await context.close();
  });
});
