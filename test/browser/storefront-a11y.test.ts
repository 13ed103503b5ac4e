// Accessibility of the widget and the privacy panel on a storefront page with a strict CSP,
// in real Chromium with the built SDK: the keyboard focus ring is whole, each card link is
// named once, the heading level fits the page, the panel follows new events by itself, and
// Pause is a toggle button.
import { expect, inject, it } from 'vitest';
import { until } from '../until.ts';
import { freshContext } from './chromium.ts';
import { useChromium } from './use-chromium.ts';

const baseUrl = inject('baseUrl');
const browser = useChromium();

const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; worker-src 'self'; require-trusted-types-for 'script'; trusted-types silo";
const PAGE = `<!doctype html><html lang="en"><head><link rel="icon" href="data:,">
<script type="module" src="/silo.js" data-catalog="/catalog.json" data-backends="wasm" data-db-name="silo-a11y"></script></head>
<body><h1>Shop</h1><h2>Product</h2><button id="before">before</button>
<silo-recommendations k="3" heading="More for you" heading-level="3"></silo-recommendations>
<silo-privacy-panel></silo-privacy-panel></body></html>`;

it('widget and panel: whole focus ring, links named once, heading level, live panel, Pause pressed state', async () => {
  const { context, errors } = await freshContext(browser());
  await context.route(`${baseUrl}/a11y.html`, (route) => route.fulfill({ contentType: 'text/html', body: PAGE, headers: { 'content-security-policy': CSP } }));
  const page = await context.newPage();
  await page.goto(`${baseUrl}/a11y.html`);
  await page.evaluate(() => window.silo.ready);
  const cards = page.locator('silo-recommendations a');
  await cards.first().waitFor();

  // the heading takes the level asked for
  expect(await page.locator('silo-recommendations h3[part~="heading"]').textContent()).toBe('More for you');
  // the image is decorative (the title beside it names the link), so the name says it once
  const title = (await page.locator('silo-recommendations [part~="title"]').first().textContent())!;
  expect(await page.locator('silo-recommendations img').first().getAttribute('alt')).toBe('');
  const snapshot = await cards.first().ariaSnapshot();
  expect(snapshot.split(title).length - 1).toBe(1);

  // keyboard focus: a visible ring drawn inside the card, and nothing around it clips
  await page.locator('#before').focus();
  await page.keyboard.press('Tab');
  const ring = await page.evaluate(() => {
    const root = document.querySelector('silo-recommendations')!.shadowRoot!;
    const a = root.activeElement as HTMLElement;
    const style = getComputedStyle(a);
    const clipped: string[] = [];
    for (let n: Element | null = a.parentElement; n; n = n.parentElement) if (getComputedStyle(n).overflow !== 'visible') clipped.push(n.tagName);
    return { tag: a.tagName, focusVisible: a.matches(':focus-visible'), outline: style.outlineStyle, width: style.outlineWidth, offset: style.outlineOffset, clipped };
  });
  expect(ring).toEqual({ tag: 'A', focusVisible: true, outline: 'solid', width: '3px', offset: '-3px', clipped: [] });

  // the panel redraws when new events are stored, without being asked
  const counts = page.locator('silo-privacy-panel [part~="counts"]');
  await until('the panel to show a count', async () => /^\d+ events/.test((await counts.textContent()) ?? ''), 30_000);
  const before = Number(/^(\d+)/.exec((await counts.textContent())!)![1]);
  await page.evaluate(async () => {
    for (const id of ['SHO-0001', 'KIT-0002', 'BOO-0003']) window.silo.track('add_to_cart', { items: [{ item_id: id, quantity: '1' }] });
    await window.silo.settled();
  });
  const stored = await page.evaluate(async () => (await window.silo.status()).events);
  expect(stored).toBeGreaterThanOrEqual(before + 3);
  // (the widget's own impressions may add events meanwhile: at least these are shown)
  const shown = async () => Number(/^(\d+) events/.exec((await counts.textContent()) ?? '')?.[1] ?? -1);
  await until('the panel to show the stored events', async () => (await shown()) >= stored, 30_000);

  // Pause is one toggle button whose state is aria-pressed; no aggregator, so no federated setting
  const pause = page.locator('silo-privacy-panel [part~="pause"]');
  expect(await pause.getAttribute('aria-pressed')).toBe('false');
  await pause.click();
  await until('Pause to be pressed', async () => (await pause.getAttribute('aria-pressed')) === 'true', 30_000);
  expect(await pause.textContent()).toBe('Pause recording');
  expect(await page.locator('silo-privacy-panel [part~="federated"]').isVisible()).toBe(false);
  expect(errors).toEqual([]);
  await context.close();
});
