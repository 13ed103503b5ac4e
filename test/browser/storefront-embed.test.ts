// Silo embedded in storefront pages as they are found in the wild, in real Chromium: a strict
// CSP with Trusted Types, WebAssembly forbidden by the CSP, the SDK on a CDN origin under a
// sub-path, no aggregator configured, a product page described only by JSON-LD, and a
// rerank() on a page whose worker is still starting.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { serveStatic } from '../../scripts/serve.ts';
import { until } from '../until.ts';
import { freshContext } from './chromium.ts';
import { strictCsp } from './embed-page.ts';
import { useChromium } from './use-chromium.ts';

const baseUrl = inject('baseUrl');
const browser = useChromium();

interface Opened {
  page: Page;
  context: BrowserContext;
  errors: string[];
  /** console errors and CSP violations, page and worker */
  problems: string[];
  /** every URL the page and its worker asked for */
  requests: string[];
}

/**
 * Opens `url`, watching requests, errors and violations; with `html`, the test serves that
 * page there (with `csp`, if given).
 */
async function open(url: string, html?: string, csp?: string): Promise<Opened> {
  const { context, errors } = await freshContext(browser());
  const problems: string[] = [];
  const requests: string[] = [];
  context.on('request', (r) => requests.push(r.url()));
  context.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));
  });
  if (html !== undefined) await context.route(url, (route) => route.fulfill({ contentType: 'text/html', body: html, headers: csp ? { 'content-security-policy': csp } : {} }));
  const page = await context.newPage();
  page.on('worker', (w) => w.on('console', (m) => m.type() === 'error' && problems.push(`worker console: ${m.text()}`)));
  await page.goto(url);
  return { page, context, errors, problems, requests };
}

const tag = (attrs: string, src = '/silo.js') =>
  `<script type="module" src="${src}" data-catalog="/catalog.json" data-backends="wasm" ${attrs}></script>`;

describe('a strict CSP with Trusted Types', () => {
  it('runs, styles the widget with no inline style, and reports no violation', async () => {
    const html = `<!doctype html><html><head>${tag('data-db-name="silo-csp"')}</head><body><silo-recommendations k="4" heading="For you"></silo-recommendations></body></html>`;
    const { page, context, errors, problems } = await open(`${baseUrl}/csp.html`, html, strictCsp());
    const status = await page.evaluate(async () => {
      await window.silo.ready;
      return window.silo.status();
    });
    expect(status).toMatchObject({ backend: 'wasm', failure: null });
    await page.locator('silo-recommendations li').first().waitFor();
    // styled: a card is a grid cell, not a full-width 1,000 px image
    const box = await page.locator('silo-recommendations img').first().boundingBox();
    expect(box!.width).toBeLessThan(400);
    expect(await page.evaluate(() => document.querySelector('silo-recommendations')!.shadowRoot!.adoptedStyleSheets.length)).toBe(1);
    expect(problems).toEqual([]);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('stands down with the fix in status() when the page does not allow the "silo" policy', async () => {
    const html = `<!doctype html><html><head>${tag('data-db-name="silo-tt"')}</head><body></body></html>`;
    const { page, context, errors } = await open(`${baseUrl}/tt.html`, html, strictCsp('', 'shop-policy'));
    const status = await page.evaluate(() => window.silo.status());
    expect(status.failure).toContain('trusted-types');
    expect(status.failure).toContain('"silo"');
    // the page keeps working: track() answers, rerank() gives the shop's order, nothing throws
    expect(await page.evaluate(() => window.silo.track('view_item', { items: [{ item_id: 'SHO-0001' }] }))).toEqual({ ok: true });
    expect(await page.evaluate(() => window.silo.rerank([{ item_id: 'b' }, { item_id: 'a' }]))).toEqual([{ item_id: 'b' }, { item_id: 'a' }]);
    expect(errors).toEqual([]);
    await context.close();
  });

  it("says in status() that WebAssembly needs 'wasm-unsafe-eval' when the CSP forbids it", async () => {
    // the worker's own CSP comes from its script's response: a server whose policy lacks it
    const served = await serveStatic({ dir: 'dist', csp: "default-src 'self'; script-src 'self'; worker-src 'self'" });
    try {
      const html = `<!doctype html><html><head>${tag('data-db-name="silo-nowasm"').replace('data-backends="wasm"', 'data-backends="wasm,cpu"')}</head><body></body></html>`;
      const { page, context } = await open(`${served.url}/nowasm.html`, html);
      const status = await page.evaluate(async () => {
        await window.silo.ready;
        return window.silo.status();
      });
      expect(status.backend).toBe('cpu');
      expect(status.skipped).toEqual([{ backend: 'wasm', reason: expect.stringContaining("'wasm-unsafe-eval'") }]);
      await context.close();
    } finally {
      await served.close();
    }
  });
});

describe('the library build on a CDN origin, under a sub-path', () => {
  let dir: string;
  let cdn: Awaited<ReturnType<typeof serveStatic>>;
  let shop: Awaited<ReturnType<typeof serveStatic>>;
  beforeAll(async () => {
    // real servers on both sides: Chromium's local-network checks treat a page fulfilled by the
    // test (no address) as public, and a public page may not reach loopback
    // the package's own build (package.json exports), copied as it would be to a CDN
    execFileSync('npx', ['vite', 'build', '--config', 'vite.lib.config.ts', '--logLevel', 'warn'], { stdio: 'inherit' });
    const entry = (JSON.parse(readFileSync('package.json', 'utf8')) as { exports: Record<string, { import: string }> }).exports['.'].import;
    expect(entry).toBe('./dist/lib/silo.js');
    dir = mkdtempSync(join(tmpdir(), 'silo-cdn-'));
    mkdirSync(join(dir, 'cdn', 'vendor'), { recursive: true });
    cpSync('dist/lib', join(dir, 'cdn', 'vendor', 'silo'), { recursive: true });
    cdn = await serveStatic({ dir: join(dir, 'cdn') });
    mkdirSync(join(dir, 'shop'));
    cpSync('dist/catalog.json', join(dir, 'shop', 'catalog.json'));
    cpSync('dist/img', join(dir, 'shop', 'img'), { recursive: true });
    const html = `<!doctype html><html><head><link rel="icon" href="data:,">${tag('data-db-name="silo-cdn"', `${cdn.url}/vendor/silo/silo.js`)}</head><body><silo-recommendations k="4"></silo-recommendations></body></html>`;
    writeFileSync(join(dir, 'shop', 'index.html'), html);
    shop = await serveStatic({ dir: join(dir, 'shop'), csp: strictCsp(cdn.url) });
  });
  afterAll(async () => {
    await Promise.all([cdn?.close(), shop?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts its worker through a same-origin blob shim, under the shop\'s strict CSP', async () => {
    // the shop on localhost, the CDN on 127.0.0.1 (another port): two origins
    const shopUrl = shop.url.replace('127.0.0.1', 'localhost');
    const { page, context, errors, problems, requests } = await open(`${shopUrl}/`);
    const status = await page.evaluate(async () => {
      await window.silo.ready;
      return window.silo.status();
    });
    expect(status).toMatchObject({ backend: 'wasm', failure: null });
    expect(status.catalogSize).toBeGreaterThan(0);
    await page.evaluate(() => window.silo.track('view_item', { items: [{ item_id: 'SHO-0001' }] }));
    await page.evaluate(() => window.silo.settled());
    expect(await page.evaluate(async () => (await window.silo.recommend({ k: 3 })).length)).toBe(3);
    await page.locator('silo-recommendations li').first().waitFor();
    // the worker and its WASM came from the CDN's sub-path, nothing from the shop's /assets/
    expect(requests.some((u) => u.startsWith(`${cdn.url}/vendor/silo/assets/profile.worker-`))).toBe(true);
    expect(requests.some((u) => u.startsWith(`${cdn.url}/vendor/silo/assets/`) && u.endsWith('.wasm'))).toBe(true);
    expect(requests.filter((u) => u.startsWith(`${shopUrl}/assets/`))).toEqual([]);
    expect(problems).toEqual([]);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('no aggregator configured', () => {
  it.each([
    ['no data-federated', ''],
    ['data-federated="off"', 'data-federated="off"'],
  ])('%s: no federated request and no console error', async (_, attrs) => {
    const html = `<!doctype html><html><head>${tag(`data-db-name="silo-nofl" ${attrs}`)}</head><body></body></html>`;
    const { page, context, errors, problems, requests } = await open(`${baseUrl}/nofl.html`, html);
    const status = await page.evaluate(async () => {
      await window.silo.ready;
      return window.silo.status();
    });
    expect(status.aggregator).toBeNull();
    await expect(page.evaluate(() => window.silo.federated({ participate: true }))).rejects.toThrow('no federated aggregator');
    expect(requests.filter((u) => u.includes('/fl/'))).toEqual([]);
    expect(requests.some((u) => u.endsWith('.wasm'))).toBe(true); // the watch sees the worker's requests
    expect(problems).toEqual([]);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('schema.org Product JSON-LD', () => {
  const product = (sku: string) =>
    `<script type="application/ld+json">${JSON.stringify({ '@context': 'https://schema.org', '@type': 'Product', sku, name: 'A product', offers: { '@type': 'Offer', price: '19.90', priceCurrency: 'USD' } })}</script>`;

  it('records a view_item from the JSON-LD of a product page with no dataLayer', async () => {
    const html = `<!doctype html><html><head>${tag('data-db-name="silo-jsonld"')}</head><body>${product('SHO-0007')}</body></html>`;
    const { page, context, errors } = await open(`${baseUrl}/product.html`, html);
    const events = await until('the JSON-LD view_item to be stored', async () => {
      const exported = await page.evaluate(() => window.silo.export());
      return exported.events.length > 0 && exported.events;
    });
    expect(events.map((e) => ({ name: e.name, source: e.source, params: e.params }))).toEqual([
      { name: 'view_item', source: 'jsonld', params: { currency: 'USD', value: 19.9, items: [{ item_id: 'SHO-0007', item_name: 'A product', price: 19.9 }] } },
    ]);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('leaves it to the page\'s own dataLayer view_item when there is one', async () => {
    const push = `<script type="module">(window.dataLayer ??= []).push({ event: 'view_item', ecommerce: { items: [{ item_id: 'SHO-0008' }] } });</script>`;
    const html = `<!doctype html><html><head>${tag('data-db-name="silo-jsonld2"')}</head><body>${product('SHO-0008')}${push}</body></html>`;
    const { page, context } = await open(`${baseUrl}/product2.html`, html);
    await page.evaluate(() => window.silo.ready);
    await page.waitForTimeout(1500); // past the capture's grace period after load
    const exported = await page.evaluate(() => window.silo.export());
    expect(exported.events.map((e) => `${e.name}:${e.source}`)).toEqual(['view_item:dataLayer']);
    await context.close();
  });
});

it('the first rerank() on a fresh page does not wait for the worker to start', async () => {
  const html = `<!doctype html><html><head>${tag('data-db-name="silo-rerank"')}</head><body></body></html>`;
  const { page, context, errors } = await open(`${baseUrl}/rerank.html`, html);
  const first = await page.evaluate(async () => {
    let started = false;
    void window.silo.ready.then(() => (started = true));
    const items = [{ item_id: 'KIT-0002' }, { item_id: 'SHO-0001' }, { item_id: 'BOO-0003' }];
    const out = await window.silo.rerank(items);
    return { startedBefore: started, sameOrder: out.every((x, i) => x === items[i]) };
  });
  expect(first).toEqual({ startedBefore: false, sameOrder: true });
  expect(errors).toEqual([]);
  await context.close();
});
