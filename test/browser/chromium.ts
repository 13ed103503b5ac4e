// The browser tests' Chromium: the launcher and flags are scripts/chromium.ts's, shared with
// the browser benchmarks so both measure the same configuration.
import type { Browser, BrowserContext } from 'playwright-core';

export { CHROMIUM_ARGS, CHROMIUM_PATH, launchChromium } from '../../scripts/chromium.ts';

/** A fresh profile (its own IndexedDB) that fails the test on any page error. */
export async function freshContext(browser: Browser): Promise<{ context: BrowserContext; errors: string[] }> {
  const context = await browser.newContext();
  const errors: string[] = [];
  context.on('weberror', (e) => errors.push(String(e.error())));
  return { context, errors };
}

/**
 * Serves the demo's index.html with the worker's backends pinned (data-backends). The demo
 * tests drive the storefront UI; they pin WASM because WebGPU here is SwiftShader, a CPU
 * emulation on which training is about ten times slower (backends.test.ts trains on it).
 */
export async function pinDemoBackends(context: BrowserContext, baseUrl: string, backends: string): Promise<void> {
  await context.route(`${baseUrl}/`, async (route) => {
    const response = await route.fetch();
    const html = (await response.text()).replace('data-catalog="/catalog.json"', `data-catalog="/catalog.json" data-backends="${backends}"`);
    await route.fulfill({ response, body: html });
  });
}
