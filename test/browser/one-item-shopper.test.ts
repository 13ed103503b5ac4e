// A shopper who has looked at one item takes part too, in real Chromium: in a popularity
// round its upload marks that item's bucket (so the prior counts it), and in a model round,
// with no (input, next item) pair to learn from, it uploads a zero update of the round's
// full length, so what reaches the server does not say it had fewer than two items.
import type { BrowserContext } from 'playwright-core';
import { expect, it } from 'vitest';
import { popularityIndicator } from '../../federated/popularity.ts';
import { API_PREFIX } from '../../federated/protocol.ts';
import { decodeSummary, HEADER_BYTES } from '../../federated/summary.ts';
import { DpFedAvg } from '../../server/strategies.ts';
import type { CatalogItem } from '../../src/catalog.ts';
import { freshContext, pinDemoBackends } from './chromium.ts';
import { useFederatedDemo } from './fl-server.ts';
import { useChromium } from './use-chromium.ts';
import { until } from '../until.ts';

const BUCKETS = 65536;
const MAX_ITEMS = 20;

const browser = useChromium();
// the first round is a popularity round, the next a model round; one upload closes each
const federatedDemo = useFederatedDemo({
  strategy: new DpFedAvg({ noiseMultiplier: 1, initialClipNorm: 1, noiseMode: 'central' }),
  popularity: { noiseMultiplier: 1, buckets: BUCKETS, maxItems: MAX_ITEMS, weight: 0.5, maxParticipants: 1 },
});

/** A fresh shopper who views one item and opts in; returns the bodies of its summary uploads. */
async function oneItemShopper(itemId: string): Promise<{ context: BrowserContext; uploads: Buffer[]; errors: string[] }> {
  const { url } = federatedDemo();
  const { context, errors } = await freshContext(browser());
  const uploads: Buffer[] = [];
  await context.route(`**${API_PREFIX}/rounds/*/summary`, (route) => {
    uploads.push(route.request().postDataBuffer()!);
    return route.continue();
  });
  await pinDemoBackends(context, url, 'wasm');
  const page = await context.newPage();
  await page.goto(url);
  await page.evaluate(async (id) => {
    await window.silo.ready;
    window.silo.track('view_item', { items: [{ item_id: id }] });
    await window.silo.settled();
    await window.silo.federated({ participate: true });
  }, itemId);
  await until('the one-item shopper\'s upload', async () => (await page.evaluate(() => window.silo.status())).federated.uploaded === 1);
  expect((await page.evaluate(() => window.silo.status())).federated.lastError).toBeNull();
  return { context, uploads, errors };
}

it('a one-item shopper answers a popularity round with its item and a model round with a zero update', async () => {
  const { url, aggregator, length } = federatedDemo();
  const catalog = (await (await fetch(`${url}/catalog.json`)).json()) as CatalogItem[];
  const [first, second] = [catalog[5].item_id, catalog[50].item_id];

  const a = await oneItemShopper(first);
  const afterPopularity = aggregator.status();
  expect(afterPopularity.history.at(-1)).toMatchObject({ kind: 'popularity', participants: 1 });
  expect(a.uploads).toHaveLength(1);
  const indicator = decodeSummary(new Uint8Array(a.uploads[0]));
  expect(indicator.length).toBe(BUCKETS);
  expect(Array.from(indicator.ints)).toEqual(Array.from(popularityIndicator([first], BUCKETS, MAX_ITEMS)));
  expect(Array.from(indicator.ints).reduce((n, x) => n + x, 0)).toBe(1);

  const b = await oneItemShopper(second);
  const afterModel = aggregator.status();
  expect(afterModel.history.at(-1)).toMatchObject({ kind: 'model', participants: 1 });
  expect(afterModel.modelVersion).toBe(afterPopularity.modelVersion + 1);
  expect(b.uploads).toHaveLength(1);
  expect(b.uploads[0].length).toBe(HEADER_BYTES + length);
  const update = decodeSummary(new Uint8Array(b.uploads[0]));
  expect(update.length).toBe(length);
  // central noise: the client adds none, and one item trains nothing
  expect(update.ints.every((x) => x === 0)).toBe(true);

  for (const s of [a, b]) {
    expect(s.errors).toEqual([]);
    await s.context.close();
  }
});
