// Privacy, checked on the wire: a scripted shopper browses, searches, adds to cart and buys
// on the demo storefront while every request the page and its worker make is intercepted.
// The test fails if any request goes to another host, or carries anything derived from the
// shopper's events (an item id they touched, their search term) in its URL, headers or body.
import type { Request } from 'playwright-core';
import { expect, inject, it } from 'vitest';
import { freshContext, pinDemoBackends } from './chromium.ts';
import { useChromium } from './use-chromium.ts';

const baseUrl = inject('baseUrl');
const browser = useChromium();

interface Seen {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string;
}

it('no event data leaves the page, and nothing goes to another host', async () => {
  const { context, errors } = await freshContext(browser());
  const seen: Seen[] = [];
  const record = (request: Request) => {
    const buffer = request.postDataBuffer();
    seen.push({ url: request.url(), method: request.method(), headers: request.headers(), body: buffer ? buffer.toString('latin1') : '' });
  };
  // route() sees requests before they leave; requestfinished-less failures count too
  await context.route('**/*', (route) => {
    record(route.request());
    return route.continue();
  });
  await pinDemoBackends(context, baseUrl, 'wasm');
  const page = await context.newPage();
  await page.goto(baseUrl);
  await page.evaluate(() => window.silo.ready);

  // the shopper: two departments, a search, a cart and a purchase
  const touched = new Set<string>();
  for (const department of ['Shoes', 'Electronics']) {
    await page.getByRole('button', { name: department, exact: true }).click();
    for (let i = 0; i < 3; i++) {
      const card = page.locator('#listing .product').nth(i);
      touched.add((await card.getAttribute('data-item-id'))!);
      await card.click();
      if (i === 1) await page.locator('#product').getByRole('button', { name: 'Add to cart' }).click();
      else await page.locator('#product').getByRole('button', { name: 'Close' }).click();
    }
  }
  const searchTerm = 'zqxsecretterm';
  await page.locator('#search input').fill(searchTerm);
  await page.locator('#search input').press('Enter');
  await page.locator('#cart-button').click();
  await page.locator('#cart').getByRole('button', { name: 'Buy now' }).click();
  await page.evaluate(() => window.silo.settled());
  const status = await page.evaluate(() => window.silo.status());
  expect(status.events).toBeGreaterThanOrEqual(10); // the shopper was really recorded
  await page.evaluate(() => window.silo.recommend({ k: 8 }));
  await page.waitForTimeout(500);

  const origin = new URL(baseUrl).origin;
  const secrets = [...touched, searchTerm];
  expect(touched.size).toBe(6);
  // interception covers the worker too: it fetched the catalog itself
  expect(seen.filter((r) => new URL(r.url).pathname === '/catalog.json').length).toBeGreaterThanOrEqual(2);
  for (const r of seen) {
    expect(new URL(r.url).origin, `request to another host: ${r.url}`).toBe(origin);
    const wire = `${r.url}\n${JSON.stringify(r.headers)}\n${r.body}`;
    for (const secret of secrets) expect(wire.includes(secret), `${secret} left the page in ${r.method} ${r.url}`).toBe(false);
  }
  // only reads of the storefront's public files: no request carries a body at all
  expect(seen.filter((r) => r.method !== 'GET')).toEqual([]);
  expect(errors).toEqual([]);
  await context.close();
});
