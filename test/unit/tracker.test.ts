import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SiloEvent } from '../../src/events.ts';
import { type RejectionReport, Tracker } from '../../src/tracker.ts';

afterEach(() => vi.restoreAllMocks());

function recordingSink(failures: number) {
  const calls: { events: SiloEvent[]; reports: RejectionReport[] }[] = [];
  const sink = async (events: SiloEvent[], reports: RejectionReport[]) => {
    calls.push({ events, reports });
    if (calls.length <= failures) throw new Error('worker lost');
  };
  return { calls, sink };
}

describe('Tracker', () => {
  it('reports rejected events under an id, and resends a report that was not delivered under the same id', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const tracker = new Tracker({ flushDelayMs: 60_000 });
    const { calls, sink } = recordingSink(1);
    tracker.connect(sink);
    tracker.track('view_item', { items: [{ item_id: 'a' }] });
    tracker.track('not_an_event', {});
    await tracker.flush(); // the worker is lost under this call
    tracker.track('view_item', {}); // no items: rejected after the failure
    await tracker.flush();

    expect(calls).toHaveLength(2);
    const [lost, resent] = calls;
    expect(lost.reports).toEqual([{ id: expect.any(String), count: 1 }]);
    // the undelivered report keeps its id (a worker that stored it before dying counts it once);
    // the rejection made since is a report of its own
    expect(resent.reports).toEqual([lost.reports[0], { id: expect.any(String), count: 1 }]);
    expect(resent.reports[1].id).not.toBe(lost.reports[0].id);
    expect(resent.events.map((e) => e.eventId)).toEqual(lost.events.map((e) => e.eventId));
    expect(tracker.rejected).toBe(2);

    await tracker.flush(); // delivered: nothing is sent again
    expect(calls).toHaveLength(2);
  });

  it('drops undelivered reports with the queue when the shopper erases or withdraws consent', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const tracker = new Tracker({ flushDelayMs: 60_000 });
    const { calls, sink } = recordingSink(1);
    tracker.connect(sink);
    tracker.track('not_an_event', {});
    await tracker.flush();
    tracker.discard();
    await tracker.flush();
    expect(calls).toHaveLength(1);
  });

  it('remembers which events this page recorded (the JSON-LD capture steps aside for a view_item)', () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const tracker = new Tracker({ flushDelayMs: 60_000 });
    tracker.track('view_item', {}); // rejected: no items
    expect(tracker.seen.has('view_item')).toBe(false);
    tracker.track('view_item', { items: [{ item_id: 'a', quantity: '1' }] }, 'dataLayer');
    expect([...tracker.seen]).toEqual(['view_item']);
    tracker.recording = false;
    tracker.track('add_to_cart', { items: [{ item_id: 'a' }] });
    expect(tracker.seen.has('add_to_cart')).toBe(false);
  });
});
