// Federated participation in real Chromium (issue 4): the demo page's worker, with the
// shopper opted in, starts from the server's global model, takes part in a round against a
// real aggregator on the page's own origin, and keeps pending summaries in IndexedDB.
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { HEADER_BYTES, SUMMARY_MAGIC } from '../../federated/summary.ts';
import { freshContext, pinDemoBackends } from './chromium.ts';
import { adoptedModelSha256, useFederatedDemo } from './fl-server.ts';
import { useChromium } from './use-chromium.ts';
import { until } from '../until.ts';

const browser = useChromium();
const federatedDemo = useFederatedDemo();

async function openDemo(): Promise<{ page: Page; errors: string[]; close(): Promise<void> }> {
  const { context, errors } = await freshContext(browser());
  await pinDemoBackends(context, federatedDemo().url, 'wasm');
  const page = await context.newPage();
  await page.goto(federatedDemo().url);
  await page.evaluate(() => window.silo.ready);
  return { page, errors, close: () => context.close() };
}

/** Rows of one object store of the worker's IndexedDB, read from the page (same origin). */
function idbRows(page: Page, store: string): Promise<{ sha256?: string; trainedOnEvents?: number; magic?: number; size?: number }[]> {
  return page.evaluate(
    (name) =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open('silo');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const req = open.result.transaction(name).objectStore(name).getAll();
          req.onsuccess = () => {
            open.result.close();
            resolve(
              req.result.map((r: { sha256?: string; trainedOnEvents?: number; bytes?: ArrayBuffer }) => ({
                sha256: r.sha256,
                trainedOnEvents: r.trainedOnEvents,
                magic: r.bytes ? new DataView(r.bytes).getUint32(0, true) : undefined,
                size: r.bytes?.byteLength,
              })),
            );
          };
          req.onerror = () => reject(req.error);
        };
      }),
    store,
  );
}

/** A shopper who looks at a few products of the demo catalog. */
async function browse(page: Page, n: number): Promise<void> {
  await page.evaluate(async (count) => {
    const catalog = (await (await fetch('/catalog.json')).json()) as { items?: { item_id: string }[] } | { item_id: string }[];
    const items = Array.isArray(catalog) ? catalog : (catalog.items ?? []);
    for (const item of items.slice(0, count)) window.silo.track('view_item', { items: [{ item_id: item.item_id }] });
    await window.silo.settled();
  }, n);
}

describe('federated participation', () => {
  it('starts from the global model, then trains, uploads an accepted summary and keeps recommending', async () => {
    const { page, errors, close } = await openDemo();
    const before = federatedDemo().aggregator.status();
    // the worker adopts the int8 encoding, decoded: its stored hash is that of the decoded weights
    const globalSha = await adoptedModelSha256(federatedDemo().url, before.modelVersion);

    await page.evaluate(() => window.silo.federated({ participate: true }));
    // no model of the shopper's own yet: the personal model is the verified global one
    const [personal] = await idbRows(page, 'models');
    expect(personal.sha256).toBe(globalSha);
    expect(personal.trainedOnEvents).toBe(0);
    const adopted = await page.evaluate(() => window.silo.status());
    expect(adopted.federated).toMatchObject({ participate: true, startedFromVersion: before.modelVersion });

    await browse(page, 5);
    // one selected client closes the round (maxParticipants 1): a new global version results
    const after = await until('the round to aggregate', async () => {
      const s = federatedDemo().aggregator.status();
      return s.modelVersion > before.modelVersion && s;
    });
    const round = after.history[after.history.length - 1];
    expect(round.participants).toBe(1);
    expect(round.epsilonTotal).toBeGreaterThan(0); // DP-FedAvg accounted the round
    const status = await until('the worker to report the upload', async () => {
      const s = await page.evaluate(() => window.silo.status());
      return s.federated.uploaded === 1 && s.federated.epsilon !== undefined && s; // ε is fetched after the upload counts
    });
    expect(status.federated).toMatchObject({ pending: 0, lastError: null, lastRound: round.roundId, epsilon: round.epsilonTotal, delta: after.privacy.delta });
    expect(await idbRows(page, 'summaries')).toEqual([]); // acknowledged: nothing pending
    // the personal model (trained on the shopper's events) still serves
    const recs = await page.evaluate(() => window.silo.recommend({ k: 4 }));
    expect(recs).toHaveLength(4);
    expect(errors).toEqual([]);
    await close();
  });

  it('keeps a summary pending in IndexedDB when the upload fails, and erase() deletes it', async () => {
    const { page, errors, close } = await openDemo();
    // the upload never reaches the server: the summary must stay on the device
    await page.context().route('**/fl/v1/rounds/*/summary', (route) => route.abort('connectionreset'));
    await page.evaluate(() => window.silo.federated({ participate: true }));
    await browse(page, 4);
    const pending = await until('a pending summary', async () => {
      const rows = await idbRows(page, 'summaries');
      return rows.length > 0 && rows;
    });
    expect(pending).toEqual([{ magic: SUMMARY_MAGIC, size: HEADER_BYTES + federatedDemo().length, sha256: undefined, trainedOnEvents: undefined }]);
    // the summary is stored before the upload is tried: wait for the failed attempt
    const status = await until('the failed upload to be reported', async () => {
      const s = await page.evaluate(() => window.silo.status());
      return s.federated.lastError ? s : null;
    });
    expect(status.federated.pending).toBe(1);
    expect(status.federated.lastError).toMatch(/fetch|network|Failed/i);
    await page.evaluate(() => window.silo.erase());
    expect(await idbRows(page, 'summaries')).toEqual([]);
    expect(errors).toEqual([]);
    await close();
  });
});
