// The on-device loop end to end in real Chromium: embed → track → IndexedDB → worker
// training (tfjs) → widget, on the built demo storefront.
import type { Page } from 'playwright-core';
import { describe, expect, inject, it } from 'vitest';
import { freshContext, pinDemoBackends } from './chromium.ts';
import { EMBED_DB, embed, type EventRow, eventSummary, type StoredEvent } from './embed-page.ts';
import { storeRows } from './idb.ts';
import { useChromium } from './use-chromium.ts';

const baseUrl = inject('baseUrl');
const browser = useChromium();

/** Serves `html` at a same-origin URL, so a test can embed Silo in a page of its own. */
async function pageWith(html: string): Promise<{ page: Page; errors: string[] }> {
  const { context, errors } = await freshContext(browser());
  const page = await context.newPage();
  await page.route(`${baseUrl}/embed-test.html`, (route) => route.fulfill({ contentType: 'text/html', body: html }));
  await page.goto(`${baseUrl}/embed-test.html`);
  return { page, errors };
}

/** The rows of the worker's IndexedDB events store, read from the page. */
async function storedEvents(page: Page): Promise<StoredEvent[]> {
  return (await storeRows<EventRow>(page, EMBED_DB, 'events')).map(eventSummary);
}

describe('embed, recording and storage', () => {
  it('validates on the main thread, stores valid events in IndexedDB and counts rejected ones', async () => {
    const { page, errors } = await pageWith(embed('data-on-error="onSiloError"', 'window.siloErrors=[];window.onSiloError=(r)=>window.siloErrors.push(r);'));
    const results = await page.evaluate(async () => {
      await window.silo.ready;
      return [
        window.silo.track('view_item', { items: [{ item_id: 'SHO-0001', price: 10 }] }),
        window.silo.track('view_item', { items: [] }),
        window.silo.track('teleport', {}),
        window.silo.track('add_to_cart', { items: [{ item_id: 'SHO-0001', price: -3 }] }),
        window.silo.track('search', { search_term: 'running shoes' }),
      ];
    });
    expect(results[0]).toEqual({ ok: true });
    expect(results[1]).toMatchObject({ ok: false, reason: expect.stringContaining('at least one item') });
    expect(results[2]).toMatchObject({ ok: false, reason: expect.stringContaining('unknown event') });
    expect(results[3]).toMatchObject({ ok: false, reason: expect.stringContaining('price') });
    expect(results[4]).toEqual({ ok: true });
    await page.evaluate(() => window.silo.settled());
    const stored = await storedEvents(page);
    expect(stored.map((e) => e.name).filter((n) => n !== 'view_item_list')).toEqual(['view_item', 'search']);
    const status = await page.evaluate(() => window.silo.status());
    expect(status.rejected).toBe(3);
    expect(await page.evaluate(() => (window as unknown as { siloErrors: string[] }).siloErrors.length)).toBe(3);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it("picks up the page's dataLayer, including pushes made before the script loaded", async () => {
    const early = `window.dataLayer.push({event:'view_item',ecommerce:{items:[{item_id:'KIT-0002',item_name:'Pan',price:20}]}});
      window.dataLayer.push({event:'gtm.js'});`;
    const { page } = await pageWith(embed('', early));
    await page.evaluate(async () => {
      await window.silo.ready;
      (window as unknown as { dataLayer: unknown[] }).dataLayer.push({ event: 'add_to_cart', ecommerce: { items: [{ item_id: 'KIT-0003', price: 30 }] } });
      // gtag('event', ...) pushes its arguments object
      (function gtag(..._args: unknown[]) {
        // eslint-disable-next-line prefer-rest-params
        (window as unknown as { dataLayer: unknown[] }).dataLayer.push(arguments);
      })('event', 'purchase', { transaction_id: 'T1', value: 30, items: [{ item_id: 'KIT-0003', price: 30 }] });
      await window.silo.settled();
    });
    const stored = (await storedEvents(page)).filter((e) => e.source === 'dataLayer');
    expect(stored.map((e) => [e.name, e.items[0]])).toEqual([
      ['view_item', 'KIT-0002'],
      ['add_to_cart', 'KIT-0003'],
      ['purchase', 'KIT-0003'],
    ]);
    await page.context().close();
  });

  it('records nothing before consent when consent is required, and honours Global Privacy Control', async () => {
    const { page } = await pageWith(embed('data-consent="required"'));
    const before = await page.evaluate(async () => {
      await window.silo.ready;
      return window.silo.track('view_item', { items: [{ item_id: 'TOY-0001' }] });
    });
    expect(before.ok).toBe(false);
    expect(await page.evaluate(() => window.silo.status())).toMatchObject({ recording: false, notRecording: 'consent-required' });
    await page.evaluate(async () => {
      await window.silo.consent(true);
      window.silo.track('view_item', { items: [{ item_id: 'TOY-0002' }] });
      await window.silo.settled();
    });
    expect((await storedEvents(page)).filter((e) => e.name === 'view_item').map((e) => e.items[0])).toEqual(['TOY-0002']);
    await page.context().close();

    const gpc = await pageWith(embed('', "Object.defineProperty(navigator,'globalPrivacyControl',{value:true});"));
    const r = await gpc.page.evaluate(async () => {
      await window.silo.ready;
      const result = window.silo.track('view_item', { items: [{ item_id: 'TOY-0003' }] });
      await window.silo.settled();
      return result;
    });
    expect(r.ok).toBe(false);
    expect(await gpc.page.evaluate(() => window.silo.status())).toMatchObject({ recording: false, notRecording: 'global-privacy-control' });
    expect(await storedEvents(gpc.page)).toEqual([]);
    await gpc.page.context().close();
  });

  it('keeps at most maxEvents, dropping the oldest', async () => {
    const { page } = await pageWith(embed('data-max-events="5"', '', ''));
    await page.evaluate(async () => {
      await window.silo.ready;
      for (let i = 1; i <= 8; i++) window.silo.track('view_item', { items: [{ item_id: `BOO-000${i}` }] });
      await window.silo.settled();
    });
    const stored = await storedEvents(page);
    expect(stored.length).toBe(5);
    expect(stored.map((e) => e.items[0])).toEqual(['BOO-0004', 'BOO-0005', 'BOO-0006', 'BOO-0007', 'BOO-0008']);
    await page.context().close();
  });
});

describe('worker, model and widget', () => {
  it('"more like this": the item on screen as context brings items like it, whatever was browsed', async () => {
    const { page, errors } = await pageWith(embed('', '', ''));
    const beauty = await page.evaluate(async () => {
      await window.silo.ready;
      const count = (recs: { item_id: string }[]) => recs.filter((r) => r.item_id.startsWith('BEA-')).length;
      const like = () => window.silo.recommend({ k: 8, context: { item_id: 'BEA-0001' } });
      const fresh = await like();
      for (const id of ['KIT-0001', 'KIT-0002', 'KIT-0003', 'KIT-0004']) {
        window.silo.track('view_item', { items: [{ item_id: id }] });
        await window.silo.settled();
      }
      const context = await like();
      return { fresh: count(fresh), plain: count(await window.silo.recommend({ k: 8 })), context: count(context), ids: context.map((r) => r.item_id) };
    });
    expect(beauty.ids).toHaveLength(8);
    expect(beauty.ids).not.toContain('BEA-0001');
    // most of 8 share the context item's category (1 in 8 by chance), for a new shopper and
    // for one who browsed only Kitchen (whose list without context has no Beauty item): the
    // blend of workers/more-like-this.ts, not the history, decides
    expect(beauty.fresh).toBeGreaterThanOrEqual(5);
    expect(beauty.context).toBeGreaterThanOrEqual(5);
    expect(beauty.context).toBeGreaterThan(beauty.plain);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('trains in the worker and the recommendations follow a category the shopper browses', async () => {
    const { context, errors } = await freshContext(browser());
    await pinDemoBackends(context, baseUrl, 'wasm');
    const page = await context.newPage();
    await page.goto(baseUrl);
    const status = await page.evaluate(() => window.silo.ready);
    expect(status.backend).toBe('wasm');
    for (const s of status.skipped) expect(s.reason.length).toBeGreaterThan(0);
    expect(status.catalogSize).toBeGreaterThanOrEqual(1000);

    const widgetItems = () =>
      page.evaluate(() =>
        [...document.querySelector('aside silo-recommendations')!.shadowRoot!.querySelectorAll('li')].map((li) => (li as HTMLElement).dataset.itemId!),
      );
    await page.waitForFunction(() => document.querySelector('aside silo-recommendations')?.shadowRoot?.querySelectorAll('li').length === 8);
    const initial = await widgetItems();

    // browse three Kitchen products through the storefront's own UI
    await page.getByRole('button', { name: 'Kitchen', exact: true }).click();
    for (let i = 0; i < 3; i++) {
      await page.locator('#listing .product').nth(i).click();
      await page.locator('#product').getByRole('button', { name: 'Close' }).click();
    }
    await page.evaluate(() => window.silo.settled());
    await page.waitForFunction(
      (before) => {
        const ids = [...document.querySelector('aside silo-recommendations')!.shadowRoot!.querySelectorAll('li')].map((li) => (li as HTMLElement).dataset.itemId);
        return ids.length === 8 && ids.join() !== before.join();
      },
      initial,
      { timeout: 120_000 },
    );
    const after = await widgetItems();
    expect(after).not.toEqual(initial);
    const kitchen = after.filter((id) => id.startsWith('KIT-')).length;
    expect(kitchen).toBeGreaterThanOrEqual(4); // most of 8 from the browsed category (1 in 8 by chance)
    const reasons = await page.evaluate(() =>
      [...document.querySelector('aside silo-recommendations')!.shadowRoot!.querySelectorAll('[part~="reason"]')].map((r) => r.textContent),
    );
    expect(reasons.every((r) => r?.startsWith('Because you'))).toBe(true);
    const panel = await page.locator('#panel-interests').textContent();
    expect(panel).toContain('Kitchen');
    expect(errors).toEqual([]);
    await context.close();
  });
});
