// The worker starts from the shipped global model (issue 2): a fresh shopper's personal model
// is the aggregator's latest published version, verified by SHA-256, whether or not the
// shopper takes part in federated rounds; a tampered download is refused (random init).
import type { Page, Request } from 'playwright-core';
import { expect, it } from 'vitest';
import { freshContext, pinDemoBackends } from './chromium.ts';
import { storeRows } from './idb.ts';
import { adoptedModelSha256, useFederatedDemo } from './fl-server.ts';
import { useChromium } from './use-chromium.ts';

const browser = useChromium();
const federatedDemo = useFederatedDemo();

/** The personal model rows of the worker's IndexedDB. */
async function storedModels(page: Page): Promise<{ sha256: string; trainedOnEvents: number }[]> {
  const rows = await storeRows<{ sha256: string; trainedOnEvents: number }>(page, 'silo', 'models');
  return rows.map(({ sha256, trainedOnEvents }) => ({ sha256, trainedOnEvents }));
}

it('a new shopper starts from the verified global model without taking part in rounds', async () => {
  const { context, errors } = await freshContext(browser());
  await pinDemoBackends(context, federatedDemo().url, 'wasm');
  const requests: Request[] = [];
  context.on('request', (r) => requests.push(r));
  const page = await context.newPage();
  await page.goto(federatedDemo().url);
  const status = await page.evaluate(() => window.silo.ready);
  const version = federatedDemo().aggregator.status().modelVersion;
  // the worker downloads the int8 encoding; the stored model is its decoded float32 weights
  const decodedSha256 = await adoptedModelSha256(federatedDemo().url, 'latest');

  expect(status.federated).toMatchObject({ participate: false, startedFromVersion: version });
  expect(await storedModels(page)).toEqual([{ sha256: decodedSha256, trainedOnEvents: 0 }]);
  // not participating: the public downloads (the model; the popularity prior, of which this
  // server has none) are the only protocol requests, and nothing is sent
  const protocol = requests.filter((r) => new URL(r.url()).pathname.startsWith('/fl/'));
  expect(protocol.map((r) => `${r.method()} ${new URL(r.url()).pathname}`).sort()).toEqual(['GET /fl/v1/model/latest', 'GET /fl/v1/popularity/latest']);
  expect(protocol.find((r) => r.url().includes('/model/'))!.url()).toMatch(/\?format=int8$/);
  expect(requests.filter((r) => r.method() !== 'GET')).toEqual([]);
  expect(await page.evaluate(async () => (await window.silo.recommend({ k: 4 })).length)).toBe(4);
  expect(errors).toEqual([]);
  await context.close();
});

it('refuses a global model whose bytes do not match its SHA-256 and starts from random weights', async () => {
  const { context, errors } = await freshContext(browser());
  await pinDemoBackends(context, federatedDemo().url, 'wasm');
  await context.route((url) => url.pathname === '/fl/v1/model/latest', async (route) => {
    const response = await route.fetch();
    const body = Buffer.from(await response.body());
    body[body.length - 1] ^= 0xff; // one flipped byte in transit
    await route.fulfill({ response, body });
  });
  const page = await context.newPage();
  await page.goto(federatedDemo().url);
  const status = await page.evaluate(() => window.silo.ready);
  expect(status.federated.startedFromVersion ?? null).toBeNull();
  expect(status.federated.lastError).toContain('SHA-256');
  expect(await storedModels(page)).toEqual([]); // nothing unverified was stored
  expect(await page.evaluate(async () => (await window.silo.recommend({ k: 4 })).length)).toBe(4);
  expect(errors).toEqual([]);
  await context.close();
});
