// Client-side privacy floors in real Chromium: an aggregator that asks for a clip norm above
// the floor compiled into the worker (workers/privacy-floors.ts) gets no summary from an
// opted-in shopper, and the worker says why in status().
import { expect, it } from 'vitest';
import { DpFedAvg } from '../../server/strategies.ts';
import { until } from '../until.ts';
import { freshContext, pinDemoBackends } from './chromium.ts';
import { useFederatedDemo } from './fl-server.ts';
import { storeRows } from './idb.ts';
import { useChromium } from './use-chromium.ts';

const browser = useChromium();
// clip 3: twice the floor (1.5)
const federatedDemo = useFederatedDemo({ strategy: new DpFedAvg({ noiseMultiplier: 1, initialClipNorm: 3, noiseMode: 'central' }) });

it('refuses a round whose clip norm is above the floor, and sends nothing', async () => {
  const { context, errors } = await freshContext(browser());
  await pinDemoBackends(context, federatedDemo().url, 'wasm');
  const page = await context.newPage();
  await page.goto(federatedDemo().url);
  await page.evaluate(() => window.silo.ready);
  const before = federatedDemo().aggregator.status();
  await page.evaluate(async () => {
    await window.silo.federated({ participate: true });
    for (const id of ['KIT-0001', 'KIT-0002', 'KIT-0003']) window.silo.track('view_item', { items: [{ item_id: id }] });
    await window.silo.settled();
  });
  const status = await until('the task to be refused', async () => {
    const s = await page.evaluate(() => window.silo.status());
    return s.federated.refused === 1 && s;
  });
  expect(status.federated.lastError).toMatch(/refused: clip norm 3 above 1.5/);
  expect(status.federated.uploaded).toBe(0);
  expect(await storeRows(page, 'silo', 'summaries')).toEqual([]);
  // the round (maxParticipants 1) never filled: no new model version, no round in the history
  const after = federatedDemo().aggregator.status();
  expect(after.modelVersion).toBe(before.modelVersion);
  expect(after.history).toHaveLength(before.history.length);
  expect(errors).toEqual([]);
  await context.close();
});
