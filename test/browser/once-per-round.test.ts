// One draw per shopper per round, in real Chromium. The server's privacy accounting samples
// each shopper with rate q once per round; a shopper who asked again (a reload, a second tab,
// a retry after "wait") would be sampled twice and could upload twice. The round here has a
// free place after the first shopper's upload, so only the client can keep a second tab of
// the same shopper from taking it: the test counts every check-in that leaves the context.
import type { BrowserContext, Page } from 'playwright-core';
import { expect, it } from 'vitest';
import { API_PREFIX } from '../../federated/protocol.ts';
import { freshContext, pinDemoBackends } from './chromium.ts';
import { useFederatedDemo } from './fl-server.ts';
import { useChromium } from './use-chromium.ts';
import { until } from '../until.ts';

const browser = useChromium();
// two places, and the round aggregates only when both are taken (10-minute deadline)
const federatedDemo = useFederatedDemo({ minParticipants: 2, maxParticipants: 2 });

async function openTab(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  await page.goto(federatedDemo().url);
  await page.evaluate(() => window.silo.ready);
  return page;
}

/** Counts the check-ins that leave `context` (all its pages and workers). */
async function countCheckIns(context: BrowserContext): Promise<() => number> {
  let n = 0;
  await context.route(`**${API_PREFIX}/checkin`, (route) => {
    n++;
    return route.continue();
  });
  return () => n;
}

async function browseAndOptIn(page: Page): Promise<void> {
  await page.evaluate(async () => {
    const catalog = (await (await fetch('/catalog.json')).json()) as { item_id: string }[];
    for (const item of catalog.slice(0, 4)) window.silo.track('view_item', { items: [{ item_id: item.item_id }] });
    await window.silo.settled();
    await window.silo.federated({ participate: true });
  });
}

it('a second tab and a reload of the same shopper do not check in again during the round', async () => {
  const { url, aggregator } = federatedDemo();
  const shopper = await freshContext(browser());
  const checkIns = await countCheckIns(shopper.context);
  await pinDemoBackends(shopper.context, url, 'wasm');
  const first = await openTab(shopper.context);
  await browseAndOptIn(first);
  const firstStatus = await until('the first tab to upload', async () => {
    const s = await first.evaluate(() => window.silo.status());
    return s.federated.uploaded === 1 && s;
  });
  const round = aggregator.status().round!;
  expect(round).toMatchObject({ selected: 1, accepted: 1, maxParticipants: 2 }); // a place is still free
  expect(checkIns()).toBe(1);
  // the shopper is told not to ask before the round's deadline
  expect(firstStatus.federated.nextCheckIn).toBeGreaterThanOrEqual(round.deadline);

  // a second tab: opted in (the choice is stored), same events; its worker tries at start-up
  const second = await openTab(shopper.context);
  const secondStatus = await until('the second tab to decide about checking in', async () => {
    const s = await second.evaluate(() => window.silo.status());
    return s.federated.nextCheckIn !== undefined && s;
  });
  expect(secondStatus.federated).toMatchObject({ participate: true, uploaded: 0, nextCheckIn: firstStatus.federated.nextCheckIn });
  // and a reload of the first tab
  await first.reload();
  await first.evaluate(() => window.silo.ready);
  await until('the reloaded tab to decide', async () => (await first.evaluate(() => window.silo.status())).federated.nextCheckIn !== undefined);
  expect(checkIns()).toBe(1);
  expect(aggregator.status().round).toMatchObject({ id: round.id, selected: 1, accepted: 1 });

  // another shopper takes the free place: the round aggregates with two different shoppers
  const other = await freshContext(browser());
  await pinDemoBackends(other.context, url, 'wasm');
  await browseAndOptIn(await openTab(other.context));
  await until('the round to aggregate', () => aggregator.status().history.at(-1)?.roundId === round.id);
  expect(aggregator.status().history.at(-1)).toMatchObject({ roundId: round.id, participants: 2 });
  expect(checkIns()).toBe(1);
  expect(shopper.errors).toEqual([]);
  expect(other.errors).toEqual([]);
  await shopper.context.close();
  await other.context.close();
});
