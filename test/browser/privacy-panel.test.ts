// <silo-privacy-panel> in real Chromium against a scripted SiloPanelApi: what it shows, and
// that every control calls the API (pause, export download, erase only after confirming,
// federated toggle). Needs no demo build: the panel is bundled here with esbuild.
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshContext, launchChromium } from './chromium.ts';

let browser: Browser;
let panelScript: string;

beforeAll(async () => {
  browser = await launchChromium();
  const out = await build({ entryPoints: ['src/privacy-panel.ts'], bundle: true, format: 'esm', write: false, target: 'es2022' });
  panelScript = out.outputFiles[0].text;
});
afterAll(async () => {
  await browser?.close();
});

// The fake API records calls on window.calls; a category name carries markup to prove it is shown as text.
const FAKE_API = `
window.calls = [];
let paused = false, participate = false;
window.silo = {
  ready: Promise.resolve(),
  async status() { return { events: 42, rejected: 3, paused, backend: 'wasm', federated: { participate, epsilon: participate ? 1.234 : undefined } }; },
  async profile() { return {
    words: ['You mostly look at Running.', 'We have seen 3 visits and one order from this device.'],
    interestsOverTime: [ { day: '2026-11-20', weights: { Shoes: 3, '<img src=x onerror=window.pwned=1>': 1 } }, { day: '2026-11-21', weights: { Shoes: 1 } } ],
  }; },
  async pause(p) { window.calls.push('pause:' + p); paused = p; },
  async export() { window.calls.push('export'); return { events: [{ name: 'view_item' }] }; },
  async erase() { window.calls.push('erase'); },
  async federated(o) { window.calls.push('federated:' + o.participate); participate = o.participate; },
};`;

async function openPanel(): Promise<{ page: Page; errors: string[] }> {
  const { context, errors } = await freshContext(browser);
  const page = await context.newPage();
  await page.setContent(`<!doctype html><html><body><script>${FAKE_API}</script><silo-privacy-panel></silo-privacy-panel></body></html>`);
  await page.addScriptTag({ type: 'module', content: panelScript });
  await page.locator('silo-privacy-panel [part~="words"] li').first().waitFor();
  return { page, errors };
}

describe('<silo-privacy-panel>', () => {
  it('shows counts, the profile in words and an interests chart, with data as text only', async () => {
    const { page, errors } = await openPanel();
    await expect.poll(() => page.locator('silo-privacy-panel [part~="counts"]').textContent()).toContain('42 events');
    expect(await page.locator('silo-privacy-panel [part~="counts"]').textContent()).toContain('3 ignored');
    expect(await page.locator('silo-privacy-panel [part~="words"] li').allTextContents()).toEqual([
      'You mostly look at Running.',
      'We have seen 3 visits and one order from this device.',
    ]);
    expect(await page.locator('silo-privacy-panel svg rect').count()).toBe(3);
    expect(await page.locator('silo-privacy-panel [part~="legend"]').textContent()).toContain('<img');
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
    expect(errors).toEqual([]);
  });

  it('pauses and resumes, downloads a JSON export, and erases only after confirming', async () => {
    const { page, errors } = await openPanel();
    const pause = page.locator('silo-privacy-panel [part~="pause"]');
    await pause.click();
    await expect.poll(() => pause.getAttribute('aria-pressed')).toBe('true');
    await pause.click();
    await expect.poll(() => pause.getAttribute('aria-pressed')).toBe('false');
    expect(await pause.textContent()).toBe('Pause recording');

    const download = page.waitForEvent('download');
    await page.locator('silo-privacy-panel [part~="export"]').click();
    const file = await download;
    expect(file.suggestedFilename()).toMatch(/^silo-data-\d{4}-\d{2}-\d{2}\.json$/);

    await page.locator('silo-privacy-panel [part~="erase"]').click();
    expect(await page.evaluate(() => (window as unknown as { calls: string[] }).calls)).not.toContain('erase');
    await page.locator('silo-privacy-panel [part~="confirm"] button', { hasText: 'Yes, erase' }).click();
    await expect.poll(() => page.evaluate(() => (window as unknown as { calls: string[] }).calls)).toEqual(['pause:true', 'pause:false', 'export', 'erase']);
    expect(errors).toEqual([]);
  });

  it('toggles federated participation and shows the epsilon spent', async () => {
    const { page } = await openPanel();
    await page.locator('silo-privacy-panel [part~="federated"] input').check();
    await expect.poll(() => page.locator('silo-privacy-panel [part~="epsilon"]').textContent()).toContain('ε = 1.23');
    expect(await page.evaluate(() => (window as unknown as { calls: string[] }).calls)).toEqual(['federated:true']);
  });
});
