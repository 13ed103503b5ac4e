// Silo in a Firefox private window (Firefox started in permanent private browsing, so every
// window is private). Firefox sends Global Privacy Control there by default, so the tag
// loads, the worker starts and recommends, but nothing is recorded until the shopper
// consents; IndexedDB itself works in a private window, its quota holds the personal model,
// and what a consenting shopper records is kept for the session (across a reload).
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { StaticServer } from '../../scripts/serve.ts';
import { until } from '../until.ts';
import { EMBED_DB, embed } from '../browser/embed-page.ts';
import { freshPage, servePages, storedEvents, storeRows, useFirefox, widgetItems } from './firefox.ts';

const browser = useFirefox({ privateBrowsing: true });

const PUSH = "window.dataLayer.push({event:'view_item',ecommerce:{items:[{item_id:'KIT-0002',price:20}]}});";
const PANEL = '<silo-recommendations k="4"></silo-recommendations><silo-privacy-panel></silo-privacy-panel>';

let pages: StaticServer;
beforeAll(async () => {
  pages = await servePages({ '/private.html': embed('', PUSH, PANEL) });
});
afterAll(async () => {
  await pages?.close();
});

/** The items of the stored events the shopper made (not the widget's own impressions, recorded once consented). */
async function shopperEvents(page: Page): Promise<string[]> {
  return (await storedEvents(page, EMBED_DB)).filter((e) => e.source !== 'widget').map((e) => e.items[0]);
}

/** The privacy panel's line about what is recorded (in its shadow root). */
function panelCounts(page: Page): Promise<string> {
  return page.evaluate(() => {
    const panel = document.querySelector('silo-privacy-panel');
    return (panel?.shadowRoot ?? panel)?.querySelector('[part~="counts"]')?.textContent ?? '';
  });
}

it('sends GPC, so Silo records nothing (dataLayer or track) until consent, and says so', async () => {
  const { page, context, errors } = await freshPage(browser());
  await page.goto(`${pages.url}/private.html`);
  expect(await page.evaluate(() => (navigator as { globalPrivacyControl?: boolean }).globalPrivacyControl)).toBe(true);
  const result = await page.evaluate(async () => {
    const ready = await window.silo.ready;
    const tracked = window.silo.track('view_item', { items: [{ item_id: 'BOO-0001' }] });
    await window.silo.settled();
    return { backend: ready.backend, tracked };
  });
  expect(result.backend).toBe('wasm');
  expect(result.tracked.ok).toBe(false);
  expect(await page.evaluate(() => window.silo.status())).toMatchObject({ recording: false, notRecording: 'global-privacy-control', events: 0, accepted: 0, failure: null });
  expect(await storedEvents(page, EMBED_DB)).toEqual([]);
  // the worker still answers (popularity, not a profile), and the panel shows nothing kept
  await until('recommendations', async () => (await widgetItems(page)).length === 4);
  expect(await until('the privacy panel', () => panelCounts(page))).toBe('0 events recorded on this device. Nothing is recorded: your browser sends Global Privacy Control.');

  // the shopper's own choice outranks GPC; IndexedDB works in the private window
  await page.evaluate(async () => {
    await window.silo.consent(true);
    window.silo.track('view_item', { items: [{ item_id: 'TOY-0002' }] });
    await window.silo.settled();
  });
  expect(await shopperEvents(page)).toEqual(['TOY-0002']);
  // the private window's quota holds the personal model too: it is saved, and status() says nothing
  await until('the model to be saved', async () => (await storeRows(page, EMBED_DB, 'models')).length > 0, 30_000);
  const status = await page.evaluate(() => window.silo.status());
  expect(status).toMatchObject({ recording: true, notRecording: null, storage: { state: 'ok', unsaved: 0, message: null } });
  expect(status.storage?.model).toBeUndefined();

  // within the private session the events and the choice (localStorage) survive a reload,
  // and the page's dataLayer push is now recorded too
  await page.reload();
  const again = await page.evaluate(async () => {
    await window.silo.ready;
    await window.silo.settled();
    return window.silo.status();
  });
  expect(again).toMatchObject({ recording: true });
  expect(await shopperEvents(page)).toEqual(['TOY-0002', 'KIT-0002']);
  expect(errors).toEqual([]);
  await context.close();
});
