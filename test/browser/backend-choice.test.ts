// The backend is chosen by what is fast on the device, not by a fixed order: in this
// Chromium both GPU backends run on SwiftShader, a software rasteriser on which the model
// trains many times slower than on WASM, so the default settings must pick WASM, say why,
// and remember the choice for the next visit. Pinning a GPU backend still uses it
// (backends.test.ts).
import { expect, inject, it } from 'vitest';
import { freshContext } from './chromium.ts';
import { storeRows } from './idb.ts';
import { useChromium } from './use-chromium.ts';

const baseUrl = inject('baseUrl');
const browser = useChromium();

it('default settings skip software GPU adapters for WASM, say why, and remember it until erased', async () => {
  const { context, errors } = await freshContext(browser());
  const requested: string[] = [];
  await context.route('**/*', (route) => {
    requested.push(new URL(route.request().url()).pathname);
    return route.continue();
  });
  await context.route(`${baseUrl}/default-backends.html`, (route) =>
    route.fulfill({ contentType: 'text/html', body: '<!doctype html><script type="module" src="/silo.js" data-catalog="/catalog.json"></script>' }),
  );
  const page = await context.newPage();
  await page.goto(`${baseUrl}/default-backends.html`);
  const first = await page.evaluate(() => window.silo.ready);
  expect(first.backend).toBe('wasm');
  const skipped = Object.fromEntries(first.skipped.map((s) => [s.backend, s.reason]));
  expect(skipped.webgpu).toMatch(/software adapter.*swiftshader/i);
  expect(skipped.webgl).toMatch(/software adapter.*swiftshader/i);
  expect(first.backendReason).toMatch(/WebAssembly/);
  // no other backend's code was downloaded (each is a chunk of its own, imported only when
  // tried); the WASM backend's was (so requests are seen)
  expect(requested.filter((p) => /\/assets\/(worker-)?(webgpu|webgl|cpu)-[^/]*\.js$/.test(p))).toEqual([]);
  expect(requested.some((p) => /\/assets\/(worker-)?wasm-[^/]*\.js$/.test(p))).toBe(true);
  // nor bundled into a chunk that was downloaded: no downloaded script registers the CPU or
  // WebGL backend (`registerBackend('cpu', () => new …)`); the WASM registration is found
  // the same way, so the pattern still matches what the minifier writes
  const scripts = await Promise.all(requested.filter((p) => p.endsWith('.js')).map((p) => fetch(`${baseUrl}${p}`).then((r) => r.text())));
  const registers = (name: string) => scripts.filter((code) => new RegExp(`[\`'"]${name}[\`'"],\\s*(async\\s*)?\\(\\)\\s*=>`).test(code)).length;
  expect(registers('wasm')).toBe(1);
  expect([registers('cpu'), registers('webgl')]).toEqual([0, 0]);

  // the choice is kept on the device, and the next visit reuses it without probing
  const [kept] = await storeRows<{ backend: string; skipped: unknown[] }>(page, 'silo', 'meta').then((rows) => rows.filter((r) => r && typeof r === 'object' && 'backend' in r));
  expect(kept.backend).toBe('wasm');
  await page.reload();
  const second = await page.evaluate(() => window.silo.ready);
  expect(second.backend).toBe('wasm');
  expect(second.backendReason).toMatch(/remembered on this device/);
  expect(second.skipped.map((s) => s.backend)).toEqual(['webgpu', 'webgl']);

  // erase leaves nothing the shopper did not choose: the next visit probes again
  await page.evaluate(() => window.silo.erase());
  expect(await storeRows(page, 'silo', 'meta')).toEqual([]);
  expect(errors).toEqual([]);
  await context.close();
});
