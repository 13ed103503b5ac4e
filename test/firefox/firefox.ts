// Launches Debian's Firefox ESR (/usr/bin/firefox-esr) headless and drives it over WebDriver
// BiDi with puppeteer-core: one browser per test file, a fresh user context (its own
// IndexedDB and localStorage) per test. `privateBrowsing` starts Firefox in permanent private
// browsing mode, so every window it opens is a private one.
import puppeteer, { type Browser, type BrowserContext, type Page } from 'puppeteer-core';
import { afterAll, beforeAll } from 'vitest';
import { serveStatic, type StaticServer } from '../../scripts/serve.ts';
import { type EventRow, eventSummary, type StoredEvent } from '../browser/embed-page.ts';
import { readStoreInPage } from '../browser/idb.ts';

export const FIREFOX_PATH = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';

export interface FirefoxOptions {
  privateBrowsing?: boolean;
}

export async function launchFirefox(options: FirefoxOptions = {}): Promise<Browser> {
  return puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX_PATH,
    headless: true,
    protocol: 'webDriverBiDi',
    extraPrefsFirefox: options.privateBrowsing ? { 'browser.privatebrowsing.autostart': true } : {},
  });
}

/** One Firefox per test file, launched before its tests and closed after them. */
export function useFirefox(options: FirefoxOptions = {}): () => Browser {
  let browser: Browser | undefined;
  beforeAll(async () => {
    browser = await launchFirefox(options);
  });
  afterAll(async () => {
    await browser?.close();
  });
  return () => {
    if (!browser) throw new Error('Firefox is not running (used outside a test?)');
    return browser;
  };
}

export interface FreshPage {
  page: Page;
  context: BrowserContext;
  /** uncaught errors of the page, for a test to expect none */
  errors: string[];
}

/** A page in a fresh user context (a profile of its own) that collects the page's errors. */
export async function freshPage(browser: Browser): Promise<FreshPage> {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  return { page, context, errors };
}

/** A page a test serves: its HTML, and the Content-Security-Policy sent with it (none if unset). */
export type TestPage = string | { html: string; csp: string };

/**
 * Serves the built demo (dist/) plus `pages` (path → page) on a port of its own. The Chromium
 * tests put such pages on the demo's origin with a route; here a second server does it, so
 * nothing depends on request interception over BiDi. The pages' inline scripts (a dataLayer
 * filled before the tag) need a policy without the demo's CSP, so only a page's own is sent.
 */
export async function servePages(pages: Record<string, TestPage>): Promise<StaticServer> {
  return serveStatic({
    dir: 'dist',
    csp: null,
    handlers: [
      (req, res) => {
        const page = pages[new URL(req.url ?? '/', 'http://x').pathname];
        if (page === undefined) return false;
        const { html, csp } = typeof page === 'string' ? { html: page, csp: undefined } : page;
        if (csp) res.setHeader('content-security-policy', csp);
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(html);
        return true;
      },
    ],
  });
}

/** Every row of one object store in the page's origin (the Chromium tests' reader). */
export async function storeRows<T = Record<string, unknown>>(page: Page, db: string, store: string): Promise<T[]> {
  return (await page.evaluate(readStoreInPage, { db, store, keys: false })) as T[];
}

/** The events Silo stored in `db`, in order. */
export async function storedEvents(page: Page, db: string): Promise<StoredEvent[]> {
  return (await storeRows<EventRow>(page, db, 'events')).map(eventSummary);
}

/** The item ids the widget shows (in its shadow root), in order. */
export function widgetItems(page: Page, selector = 'silo-recommendations'): Promise<string[]> {
  return page.evaluate(
    (sel) => [...(document.querySelector(sel)?.shadowRoot?.querySelectorAll('li') ?? [])].map((li) => (li as HTMLElement).dataset.itemId ?? ''),
    selector,
  );
}

/** Clicks the first element matching `selector` whose text is exactly `text`. */
export async function clickByText(page: Page, selector: string, text: string): Promise<void> {
  for (const handle of await page.$$(selector)) {
    if ((await handle.evaluate((el) => el.textContent?.trim())) === text) return handle.click();
  }
  throw new Error(`no ${selector} reading "${text}"`);
}
