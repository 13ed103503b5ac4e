// Device faults degrade with a clear status() and lose nothing already stored: a full
// storage quota (injected through CDP), a private window's small quota that holds the
// events but not the model, an upgrade blocked by another tab holding an older
// version of the database open, and this worker's database wanted by a newer version.
import type { Page } from 'playwright-core';
import { expect, inject, it } from 'vitest';
import { freshContext } from './chromium.ts';
import { storeRows } from './idb.ts';
import { useChromium } from './use-chromium.ts';

const baseUrl = inject('baseUrl');
const browser = useChromium();

async function openSilo() {
  const { context, errors } = await freshContext(browser());
  await context.route(`${baseUrl}/silo.html`, (route) =>
    route.fulfill({ contentType: 'text/html', body: '<!doctype html><script type="module" src="/silo.js" data-catalog="/catalog.json" data-backends="wasm"></script>' }),
  );
  await context.route(`${baseUrl}/blank.html`, (route) => route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>another tab</title>' }));
  return { context, errors };
}

const view = (page: Page, ids: string[]) =>
  page.evaluate(async (ids) => {
    for (const id of ids) window.silo.track('view_item', { items: [{ item_id: id }] });
    return window.silo.status(); // delivers the batch first
  }, ids);

it('a full quota says so, keeps the events in the page, and stores them once space returns', async () => {
  const { context, errors } = await openSilo();
  const page = await context.newPage();
  // the quota is set before the origin stores anything (Chromium applies an override to
  // storage created after it): the worker starts with no room at all
  await page.goto(`${baseUrl}/blank.html`);
  const cdp = await context.newCDPSession(page);
  await cdp.send('Storage.overrideQuotaForOrigin', { origin: baseUrl, quotaSize: 1 });
  await page.goto(`${baseUrl}/silo.html`);
  expect((await page.evaluate(() => window.silo.ready)).backend).toBe('wasm');

  const full = await view(page, ['KIT-0003', 'KIT-0004', 'KIT-0005']);
  expect(full.storage).toMatchObject({ state: 'quota', unsaved: 3 });
  expect(full.storage?.message).toMatch(/quota/i);
  expect(full.events).toBe(0);
  // (status() counts the page's queue before it delivers: ask again to see what is still held)
  expect((await page.evaluate(() => window.silo.status())).pending).toBe(3); // held by the page for the next delivery

  // space returns: the held events are stored on the next delivery
  await cdp.send('Storage.overrideQuotaForOrigin', { origin: baseUrl });
  const after = await view(page, []);
  expect(after.storage).toMatchObject({ state: 'ok', unsaved: 0 });
  expect(after.events).toBe(3);
  expect((await page.evaluate(() => window.silo.status())).pending).toBe(0);
  expect((await page.evaluate(() => window.silo.export())).events.map((e) => e.params.items?.[0].item_id)).toEqual(['KIT-0003', 'KIT-0004', 'KIT-0005']);
  expect(errors).toEqual([]);
  await context.close();
});

it("a private window's small quota: the model does not fit and is kept in memory and used; every event is stored", async () => {
  const { context, errors } = await openSilo();
  const page = await context.newPage();
  // 512 KiB, as little as some private modes give an origin: room for events, not for the
  // personal model's weights (about 0.9 MB)
  await page.goto(`${baseUrl}/blank.html`);
  const cdp = await context.newCDPSession(page);
  await cdp.send('Storage.overrideQuotaForOrigin', { origin: baseUrl, quotaSize: 512 * 1024 });
  await page.goto(`${baseUrl}/silo.html`);
  await page.evaluate(() => window.silo.ready);
  const ids = ['KIT-0001', 'KIT-0002', 'KIT-0003', 'KIT-0004'];
  await view(page, ids);
  const status = await page.evaluate(async () => {
    await window.silo.settled();
    // the save is debounced: wait for its outcome
    for (let i = 0; i < 150 && !(await window.silo.status()).storage?.model; i++) await new Promise((r) => setTimeout(r, 100));
    return window.silo.status();
  });
  expect(status.storage).toMatchObject({ state: 'quota', unsaved: 0, model: 'in-memory' });
  expect(status.storage?.message).toMatch(/personal model does not fit in this browser's storage quota/);
  expect(status.storage?.message).toMatch(/every event is stored/);
  expect(status.events).toBe(4);
  expect(status.trainedOnEvents).toBe(4); // trained on this page all the same
  expect(status.memory?.state).toBe('ok');
  // the model in memory is the one recommending
  const recs = await page.evaluate(() => window.silo.recommend({ k: 5 }));
  expect(recs.some((r) => r.reason.startsWith('Because you'))).toBe(true);
  expect(await storeRows(page, 'silo', 'models')).toEqual([]);
  expect((await storeRows<{ params: { items: { item_id: string }[] } }>(page, 'silo', 'events')).map((e) => e.params.items[0].item_id)).toEqual(ids);

  // more events still fit, and are stored
  const more = await view(page, ['KIT-0005']);
  expect(more.events).toBe(5);
  expect(more.storage?.unsaved).toBe(0);
  expect(errors).toEqual([]);
  await context.close();
});

it('an upgrade blocked by another tab fails init with the reason and changes nothing; it runs once that tab closes', async () => {
  const { context, errors } = await openSilo();
  // another tab of the shop with the version-2 database open (and no versionchange handler)
  const other = await context.newPage();
  await other.goto(`${baseUrl}/blank.html`);
  await other.evaluate(
    () =>
      new Promise<void>((resolve, reject) => {
        const open = indexedDB.open('silo', 2);
        open.onupgradeneeded = () => {
          const db = open.result;
          db.createObjectStore('events', { keyPath: 'id', autoIncrement: true }).createIndex('ts', 'ts');
          db.createObjectStore('meta');
          db.createObjectStore('models', { keyPath: 'key' });
          db.createObjectStore('summaries', { autoIncrement: true });
        };
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          (window as unknown as { held: IDBDatabase }).held = open.result;
          const tx = open.result.transaction('events', 'readwrite');
          tx.objectStore('events').add({ name: 'view_item', params: { items: [{ item_id: 'KIT-0007' }] }, ts: Date.now(), source: 'track' });
          tx.oncomplete = () => resolve();
        };
      }),
  );
  const page = await context.newPage();
  await page.goto(`${baseUrl}/silo.html`);
  const blocked = await page.evaluate(async () => {
    await window.silo.ready.catch(() => undefined);
    return window.silo.status();
  });
  expect(blocked.failure).toMatch(/IndexedDB upgrade blocked: another tab holds the version-2 database open/);

  await other.evaluate(() => (window as unknown as { held: IDBDatabase }).held.close());
  await page.reload();
  const status = await page.evaluate(() => window.silo.ready);
  expect(status.events).toBe(1);
  expect((await page.evaluate(() => window.silo.export())).events[0].params.items?.[0].item_id).toBe('KIT-0007');
  expect(errors).toEqual([]);
  await context.close();
});

it('a newer version in another tab gets the database: this worker lets go and says why', async () => {
  const { context, errors } = await openSilo();
  const page = await context.newPage();
  await page.goto(`${baseUrl}/silo.html`);
  await page.evaluate(() => window.silo.ready);
  await view(page, ['KIT-0001']);
  const other = await context.newPage();
  await other.goto(`${baseUrl}/blank.html`);
  const upgraded = await other.evaluate(
    () =>
      new Promise<number>((resolve, reject) => {
        const open = indexedDB.open('silo', 99);
        open.onblocked = () => reject(new Error('blocked by the Silo tab'));
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const count = open.result.transaction('events').objectStore('events').count();
          count.onsuccess = () => resolve(count.result);
        };
      }),
  );
  expect(upgraded).toBe(1); // what the Silo tab stored is there for the newer version
  const status = await view(page, ['KIT-0002']);
  expect(status.storage?.state).toBe('blocked');
  expect((await page.evaluate(() => window.silo.status())).pending).toBe(1); // kept by the page, not lost
  expect(errors).toEqual([]);
  await context.close();
});
