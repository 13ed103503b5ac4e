// The DP popularity prior end to end in real Chromium, against an aggregator whose first
// round is a popularity round. An opted-in shopper answers it: on the wire (every request of
// its page and worker intercepted) the upload is exactly the 0/1 indicator of its `maxItems`
// most recent distinct items, and nothing else derived from its events leaves the device.
// Its upload fills the round, the server releases the noised counts, and the worker picks
// them up after the round; a new shopper with no history downloads them at start-up and is
// shown the items the prior ranks first.
import type { Request } from 'playwright-core';
import { expect, it } from 'vitest';
import { popularityBucket, popularityIndicator, recentDistinct } from '../../federated/popularity.ts';
import { API_PREFIX } from '../../federated/protocol.ts';
import { decodeSummary, HEADER_BYTES } from '../../federated/summary.ts';
import { FederatedHttpClient } from '../../federated/transport.ts';
import { DpFedAvg } from '../../server/strategies.ts';
import type { CatalogItem } from '../../src/catalog.ts';
import { freshContext, pinDemoBackends } from './chromium.ts';
import { useFederatedDemo } from './fl-server.ts';
import { useChromium } from './use-chromium.ts';
import { until } from '../until.ts';

const BUCKETS = 65536;
const MAX_ITEMS = 3;

const browser = useChromium();
const federatedDemo = useFederatedDemo({
  // popularity rounds sum raw indicators and noise the sum: the strategy must noise centrally
  strategy: new DpFedAvg({ noiseMultiplier: 1, initialClipNorm: 1, noiseMode: 'central' }),
  // one upload fills the round; noise small enough that the shopper's items stand out
  popularity: { noiseMultiplier: 0.01, buckets: BUCKETS, maxItems: MAX_ITEMS, weight: 0.5, maxParticipants: 1 },
});

interface Seen {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body: Buffer | null;
}

it('a shopper uploads only its recent-item indicator; the released prior ranks a new shopper\'s recommendations', async () => {
  const { url } = federatedDemo();
  const catalog = (await (await fetch(`${url}/catalog.json`)).json()) as CatalogItem[];
  const inStock = catalog.filter((i) => i.in_stock !== false);
  const [a, b, c, d] = [inStock[10], inStock[300], inStock[600], inStock[900]].map((i) => i.item_id);
  // the recorded sequence: a repeat (b again, as a cart add) and one item too old to count
  const sequence = [a, b, c, d, b];
  const recent = recentDistinct(sequence, MAX_ITEMS); // b, d, c
  // precondition: no other catalog item shares a bucket with them, so the prior ranks exactly these first
  const shared = catalog.filter((i) => !recent.includes(i.item_id) && recent.some((r) => popularityBucket(r, BUCKETS) === popularityBucket(i.item_id, BUCKETS)));
  expect(shared).toEqual([]);

  // --- the contributing shopper, every request of its page and worker seen before it leaves
  const shopper = await freshContext(browser());
  const seen: Seen[] = [];
  await shopper.context.route('**/*', (route) => {
    const r: Request = route.request();
    seen.push({ url: new URL(r.url()), method: r.method(), headers: r.headers(), body: r.postDataBuffer() });
    return route.continue();
  });
  await pinDemoBackends(shopper.context, url, 'wasm');
  const page = await shopper.context.newPage();
  await page.goto(url);
  expect(await page.evaluate(() => window.silo.ready.then((s) => s.federated.popularityVersion ?? null))).toBeNull(); // none released yet
  const searchTerm = 'zqxpopularitysecret';
  await page.evaluate(
    async ({ sequence, searchTerm }) => {
      for (const [i, id] of sequence.entries()) window.silo.track(i === sequence.length - 1 ? 'add_to_cart' : 'view_item', { items: [{ item_id: id }] });
      window.silo.track('search', { search_term: searchTerm });
      await window.silo.settled();
    },
    { sequence, searchTerm },
  );
  // opted in once the whole sequence is learned: the round reads all of it
  await page.evaluate(() => window.silo.federated({ participate: true }));
  // the upload fills the round, the server releases v1, and the worker downloads it after its round
  const status = await until('the popularity round and the prior download', async () => {
    const s = await page.evaluate(() => window.silo.status());
    return s.federated.uploaded === 1 && s.federated.popularityVersion !== undefined && s;
  });
  const server = federatedDemo().aggregator.status();
  expect(server.popularity).toMatchObject({ version: 1, participants: 1, buckets: BUCKETS });
  expect(server.history.at(-1)).toMatchObject({ kind: 'popularity', participants: 1 });
  expect(status.federated).toMatchObject({ popularityVersion: 1, pending: 0, lastError: null, lastRound: server.history.at(-1)!.roundId });

  // on the wire: same origin, no event data anywhere, and the upload is exactly the indicator
  for (const r of seen) {
    expect(r.url.origin).toBe(new URL(url).origin);
    const wire = `${r.url.href}\n${JSON.stringify(r.headers)}\n${r.body?.toString('latin1') ?? ''}`;
    for (const secret of [...sequence, searchTerm]) expect(wire.includes(secret), `${secret} left the page in ${r.method} ${r.url}`).toBe(false);
  }
  const protocol = seen.filter((r) => r.url.pathname.startsWith(API_PREFIX + '/'));
  // a popularity round downloads no model version: the reads are the start-up ones and the account
  for (const r of protocol.filter((p) => p.method === 'GET')) expect(r.url.pathname).toMatch(/^\/fl\/v1\/(model\/latest|popularity\/latest|status)$/);
  const writes = seen.filter((r) => r.method !== 'GET');
  expect(writes.map((r) => `${r.method} ${r.url.pathname}`)).toEqual([`POST ${API_PREFIX}/checkin`, `POST ${API_PREFIX}/rounds/${status.federated.lastRound}/summary`]);
  expect(writes[0].body?.toString()).toBe('{}');
  const upload = writes[1];
  expect(Object.keys(upload.headers).filter((h) => h.startsWith('x-'))).toEqual(['x-silo-token']);
  const bytes = new Uint8Array(upload.body!);
  expect(bytes.length).toBe(HEADER_BYTES + BUCKETS); // header and one byte per bucket, nothing else
  const summary = decodeSummary(bytes);
  expect(summary).toMatchObject({ roundId: status.federated.lastRound, modelVersion: server.modelVersion, length: BUCKETS, bits: 8, scale: 1 });
  expect(Buffer.from(summary.ints.buffer).equals(Buffer.from(popularityIndicator(sequence, BUCKETS, MAX_ITEMS).buffer))).toBe(true);
  expect(Array.from(summary.ints).reduce((n, x) => n + x, 0)).toBe(MAX_ITEMS);
  expect(shopper.errors).toEqual([]);
  await shopper.context.close();

  // --- a new shopper, no history: the prior, downloaded at start-up, orders the list
  const newcomer = await freshContext(browser());
  await pinDemoBackends(newcomer.context, url, 'wasm');
  const fresh = await newcomer.context.newPage();
  await fresh.goto(url);
  expect((await fresh.evaluate(() => window.silo.ready)).federated).toMatchObject({ participate: false, popularityVersion: 1 });
  const recs = await fresh.evaluate(() => window.silo.recommend({ k: 6 }));
  const prior = await new FederatedHttpClient(url).downloadPopularity('latest');
  // in-stock items by boost, the catalog's order breaking ties (a stable sort)
  const expected = [...inStock].sort((x, y) => prior.boost(y.item_id) - prior.boost(x.item_id)).slice(0, 6);
  expect(recs.map((r) => r.item_id)).toEqual(expected.map((i) => i.item_id));
  expect(new Set(recs.slice(0, MAX_ITEMS).map((r) => r.item_id))).toEqual(new Set(recent));
  for (const r of recs.slice(0, MAX_ITEMS)) {
    expect(r.reasonKind).toBe('popular');
    expect(r.reason).toMatch(/^Popular in /);
  }
  expect(newcomer.errors).toEqual([]);
  await newcomer.context.close();
});
