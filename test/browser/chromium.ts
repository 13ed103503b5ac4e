// Launches Debian's Chromium (/usr/bin/chromium) through playwright-core, with WebGPU on
// SwiftShader, as root in a sandbox-less container, and with background networking off.
import { type Browser, type BrowserContext, chromium } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--enable-unsafe-swiftshader',
];

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
}

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
