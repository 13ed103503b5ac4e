// A secure popularity round in real Chromium: the leader (the demo's aggregator) has a helper
// aggregator in its own process. An opted-in shopper's worker fetches the helper's HPKE key
// from the helper's origin (no credentials) and uploads one sealed Prio3 report; on the wire
// (every request intercepted) the upload carries nothing the leader can read: its large part
// is ciphertext, and even the share the leader decrypts is uniformly random, not the 0/1
// indicator. The round then releases the counts through the usual popularity API.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Request } from 'playwright-core';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { entropyBitsPerByte as entropy } from '../../bench/attack/stats.ts';
import { popularityIndicator } from '../../federated/popularity.ts';
import { API_PREFIX } from '../../federated/protocol.ts';
import { openShare } from '../../federated/secure/aggregator.ts';
import { decodeReport } from '../../federated/secure/report.ts';
import { FederatedHttpClient } from '../../federated/transport.ts';
import { flattenWeights } from '../../federated/summary.ts';
import { SasRec } from '../../models/sasrec.ts';
import { type Aggregator, createAggregator, type PopularityOptions } from '../../server/aggregator.ts';
import { serveStatic } from '../../scripts/serve.ts';
import { BROWSER_MODEL } from '../../workers/recommender.ts';
import { SecureLeader } from '../../server/secure/leader.ts';
import { loadOrCreateKeyPair } from '../../server/secure/keys.ts';
import { DpFedAvg } from '../../server/strategies.ts';
import type { CatalogItem } from '../../src/catalog.ts';
import { type HelperProcess, startHelper } from '../server/secure-processes.ts';
import { until } from '../until.ts';
import { freshContext, pinDemoBackends } from './chromium.ts';
import { useChromium } from './use-chromium.ts';

const BUCKETS = 4096;
const MAX_ITEMS = 3;
const TOKEN = randomBytes(24).toString('hex');
const cleanups: (() => unknown)[] = [];
let helper: HelperProcess;
const secureDir = mkdtempSync(join(tmpdir(), 'silo-leader-secure-'));
// noise so small (ε 10,000 at each aggregator) that the release is the exact count
const popularity: PopularityOptions = { noiseMultiplier: 0.05, buckets: BUCKETS, maxItems: MAX_ITEMS, weight: 0.5, maxParticipants: 1 };

let demo: { url: string; aggregator: Aggregator };

// the helper process, then the demo with the leader
beforeAll(async () => {
  helper = await startHelper(cleanups, TOKEN, ['--epsilon', '10000', '--min-reports', '1']);
  popularity.secure = await SecureLeader.create({ dataDir: secureDir, helperUrl: helper.url, helperToken: TOKEN });
  await tf.setBackend('cpu');
  const model = new SasRec(BROWSER_MODEL);
  const initialWeights = flattenWeights(await model.getWeights());
  model.dispose();
  const dataDir = mkdtempSync(join(tmpdir(), 'silo-fl-browser-'));
  const aggregator = await createAggregator({
    initialWeights,
    dataDir,
    strategy: new DpFedAvg({ noiseMultiplier: 1, initialClipNorm: 1, noiseMode: 'central' }),
    minParticipants: 1,
    maxParticipants: 1,
    selectionProbability: 1,
    bits: 8,
    popularity,
  });
  // no CSP here: the demo's (which `npm start` extends with the helper's origin in
  // connect-src) is the static server's tests' concern, and this test is about the upload
  const served = await serveStatic({ dir: 'dist', csp: null, handlers: [(req, res) => aggregator.handle(req, res)] });
  demo = { url: served.url, aggregator };
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }), () => aggregator.close(), () => served.close());
}, 120_000);
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(secureDir, { recursive: true, force: true });
});

const browser = useChromium();
const federatedDemo = () => demo;

it('a shopper uploads one sealed report the leader cannot read, and the round releases the counts', async () => {
  const { url } = federatedDemo();
  const catalog = (await (await fetch(`${url}/catalog.json`)).json()) as CatalogItem[];
  const sequence = [catalog[10], catalog[300], catalog[600], catalog[900]].map((i) => i.item_id);

  const shopper = await freshContext(browser());
  const seen: { url: URL; method: string; headers: Record<string, string>; body: Buffer | null }[] = [];
  await shopper.context.route('**/*', (route) => {
    const r: Request = route.request();
    seen.push({ url: new URL(r.url()), method: r.method(), headers: r.headers(), body: r.postDataBuffer() });
    return route.continue();
  });
  await pinDemoBackends(shopper.context, url, 'wasm');
  const page = await shopper.context.newPage();
  await page.goto(url);
  await page.waitForFunction(() => window.silo !== undefined);
  await page.evaluate(() => window.silo.ready);
  await page.evaluate(async (sequence) => {
    for (const id of sequence) window.silo.track('view_item', { items: [{ item_id: id }] });
    await window.silo.settled();
  }, sequence);
  await page.evaluate(() => window.silo.federated({ participate: true }));
  const status = await until('the secure popularity round and the prior download', async () => {
    const s = await page.evaluate(() => window.silo.status());
    if (s.federated.lastError) throw new Error(`worker: ${s.federated.lastError}; page errors: ${shopper.errors.join('; ')}`);
    return s.federated.uploaded === 1 && s.federated.popularityVersion !== undefined && s;
  });
  expect(status.federated).toMatchObject({ popularityVersion: 1, pending: 0, lastError: null });

  // the helper's key came from the helper's origin, without cookies
  const keyFetch = seen.filter((r) => r.url.href === `${helper.url}/dap/v1/hpke-config`);
  expect(keyFetch.length).toBeGreaterThanOrEqual(1);
  for (const r of keyFetch) expect(r.headers.cookie).toBeUndefined();

  // one write besides the check-in: the sealed report, to the report route
  const writes = seen.filter((r) => r.method !== 'GET');
  expect(writes.map((r) => `${r.method} ${r.url.pathname}`)).toEqual([`POST ${API_PREFIX}/checkin`, `POST ${API_PREFIX}/rounds/${status.federated.lastRound}/report`]);
  const body = new Uint8Array(writes[1].body!);
  const report = decodeReport(body);
  // the large part is the leader's ciphertext: random-looking bytes, and the indicator appears nowhere
  expect(report.leaderShare.payload.length).toBeGreaterThan(BUCKETS * 16);
  expect(entropy(report.leaderShare.payload)).toBeGreaterThanOrEqual(7.99);
  const indicator = Buffer.from(popularityIndicator(sequence, BUCKETS, MAX_ITEMS).buffer);
  expect(Buffer.from(body).includes(indicator.subarray(0, 64))).toBe(false);
  // what the leader decrypts is its input share: uniformly random field elements, not 0s and 1s
  const leaderKeys = await loadOrCreateKeyPair(join(secureDir, 'secure'));
  const round = (await federatedDemo().aggregator.fetchStatus()).history.at(-1)!;
  expect(round).toMatchObject({ kind: 'popularity', participants: 1 });
  const task = popularity.secure!.taskFor(round.roundId, BUCKETS, MAX_ITEMS);
  const share = await openShare(SecureLeader.taskOf(task), leaderKeys, 'leader', report);
  if (share.kind !== 'leader') throw new Error('expected the leader share');
  const measurement = share.measShare.slice(0, BUCKETS);
  expect(measurement.filter((v) => v === 0n || v === 1n).length).toBeLessThanOrEqual(1);
  const shareBytes = Buffer.concat(measurement.map((v) => Buffer.from(v.toString(16).padStart(32, '0'), 'hex')));
  expect(entropy(shareBytes)).toBeGreaterThanOrEqual(7.99);

  // and the release is the count (this shopper's buckets), through the usual API
  const prior = await new FederatedHttpClient(url).downloadPopularity('latest');
  expect(prior.counts.length).toBe(BUCKETS);
  const expected = popularityIndicator(sequence, BUCKETS, MAX_ITEMS);
  expect(Array.from(prior.counts)).toEqual(Array.from(expected));
  expect(shopper.errors).toEqual([]);
  await shopper.context.close();
}, 180_000);
