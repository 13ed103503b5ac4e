// Privacy, checked on the wire: a scripted shopper who has opted in to federated learning
// browses, searches, adds to cart and buys on the demo storefront (served with a real
// aggregator on the same origin) while every request the page and its worker make is
// intercepted. The test fails if any request goes to another host, carries anything derived
// from the shopper's events (an item id they touched, their search term) in its URL, headers
// or body, or is anything but a read or one of the protocol's two requests (an empty
// check-in, a well-formed update summary: header fields and values, nothing else).
import type { Request } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { API_PREFIX } from '../../federated/protocol.ts';
import { decodeHeader, HEADER_BYTES, PROTOCOL_VERSION } from '../../federated/summary.ts';
import { freshContext, pinDemoBackends } from './chromium.ts';
import { type FederatedDemo, serveDemoWithAggregator } from './fl-server.ts';
import { useChromium } from './use-chromium.ts';

const browser = useChromium();
let demo: FederatedDemo;
let baseUrl = '';
beforeAll(async () => {
  demo = await serveDemoWithAggregator();
  baseUrl = demo.url;
});
afterAll(async () => {
  await demo?.close();
});

interface Seen {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string;
  bytes: Buffer | null;
}

it('no event data leaves the page, and nothing goes to another host', async () => {
  const { context, errors } = await freshContext(browser());
  const seen: Seen[] = [];
  const record = (request: Request) => {
    const buffer = request.postDataBuffer();
    seen.push({ url: request.url(), method: request.method(), headers: request.headers(), body: buffer ? buffer.toString('latin1') : '', bytes: buffer });
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
  await page.evaluate(() => window.silo.federated({ participate: true }));

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
  // the worker takes part in a round once it has learned from the events
  for (let t = 0; t < 240 && (await page.evaluate(() => window.silo.status())).federated.uploaded !== 1; t++) await page.waitForTimeout(250);
  expect((await page.evaluate(() => window.silo.status())).federated.uploaded).toBe(1);
  expect(demo.aggregator.status().history.at(-1)?.participants).toBe(1); // the server accepted it
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
  // no request carries a query string but the model download's fixed format (the same for every
  // shopper), and the protocol's reads are only its public ones
  for (const r of seen) {
    const { pathname, search } = new URL(r.url);
    const allowed = /^\/fl\/v1\/model\/(\d+|latest)$/.test(pathname) ? ['', '?format=int8'] : [''];
    expect(allowed, `query string in ${r.url}`).toContain(search);
  }
  const protocol = seen.filter((r) => new URL(r.url).pathname.startsWith(API_PREFIX + '/'));
  for (const r of protocol.filter((p) => p.method === 'GET')) expect(new URL(r.url).pathname).toMatch(/^\/fl\/v1\/(model\/(\d+|latest)|popularity\/latest|status)$/);
  // everything else is a read, or one of the protocol's requests, each with exactly its body
  const writes = seen.filter((r) => r.method !== 'GET');
  const uploads = writes.filter((r) => /^\/fl\/v1\/rounds\/\d+\/summary$/.test(new URL(r.url).pathname));
  const checkIns = writes.filter((r) => new URL(r.url).pathname === `${API_PREFIX}/checkin`);
  expect(writes.length, `unexpected requests: ${writes.map((r) => `${r.method} ${r.url}`).join(', ')}`).toBe(uploads.length + checkIns.length);
  expect(uploads.length).toBe(1);
  for (const r of checkIns) {
    expect(r.method).toBe('POST');
    expect(r.body).toBe('{}'); // check-in carries no fields
  }
  for (const r of uploads) {
    expect(r.method).toBe('POST');
    const bytes = new Uint8Array(r.bytes!);
    const header = decodeHeader(bytes); // magic, version, width, flag, and total size = header + values
    expect(header.protocolVersion).toBe(PROTOCOL_VERSION);
    expect(header.length).toBe(demo.length);
    expect(bytes.length).toBe(HEADER_BYTES + (header.length * header.bits) / 8);
    expect(String(header.roundId)).toBe(new URL(r.url).pathname.split('/')[4]);
    expect(bytes.length).toBeLessThanOrEqual(256 * 1024); // the issue's upload budget
    // the only non-standard header is the round's random upload token
    const custom = Object.keys(r.headers).filter((h) => h.startsWith('x-'));
    expect(custom).toEqual(['x-silo-token']);
    expect(r.headers['x-silo-token']).toMatch(/^[0-9a-f]{32}$/);
  }
  expect(errors).toEqual([]);
  await context.close();
});
