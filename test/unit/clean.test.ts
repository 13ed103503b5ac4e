import { describe, expect, it } from 'vitest';
import type { EventName, SiloEvent } from '../../src/events.ts';
import { cleanEvents } from '../../workers/profile/clean.ts';

const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);
const ev = (name: EventName, ts: number, ids: string[] = ['a'], extra: Partial<SiloEvent['params']> = {}): SiloEvent => ({
  name,
  ts,
  source: 'track',
  params: { items: ids.map((item_id) => ({ item_id })), ...extra },
});

describe('cleanEvents', () => {
  it('drops an identical event repeated within 2 s, keeps it after 2 s', () => {
    const r = cleanEvents([ev('view_item', T0), ev('view_item', T0 + 1_500), ev('view_item', T0 + 4_000)], T0 + 10_000);
    expect(r.kept.map((e) => e.ts)).toEqual([T0, T0 + 4_000]);
    expect(r.rejected.duplicate).toBe(1);
  });

  it('does not treat different items or different event names as duplicates', () => {
    const r = cleanEvents([ev('view_item', T0, ['a']), ev('view_item', T0 + 100, ['b']), ev('add_to_cart', T0 + 200, ['a'])], T0 + 1_000);
    expect(r.kept).toHaveLength(3);
    expect(r.rejectedTotal).toBe(0);
  });

  it('splits sessions after 30 minutes of inactivity, not before', () => {
    const min = 60_000;
    const r = cleanEvents(
      [ev('view_item', T0, ['a']), ev('view_item', T0 + 29 * min, ['b']), ev('view_item', T0 + 60 * min, ['c'])],
      T0 + 61 * min,
    );
    expect(r.kept.map((e) => e.session)).toEqual([0, 0, 1]);
    expect(r.sessions).toHaveLength(2);
    expect(r.sessions[0]).toMatchObject({ start: T0, end: T0 + 29 * min, events: 2 });
  });

  it('sorts out-of-order input by time before splitting sessions', () => {
    const r = cleanEvents([ev('view_item', T0 + 3_600_000, ['b']), ev('view_item', T0, ['a'])], T0 + 4_000_000);
    expect(r.kept.map((e) => e.params.items![0].item_id)).toEqual(['a', 'b']);
    expect(r.kept.map((e) => e.session)).toEqual([0, 1]);
  });

  it('rejects a sustained burst (31 events in 5 s) entirely, but keeps a human quick streak', () => {
    const burst = Array.from({ length: 31 }, (_, i) => ev('view_item', T0 + i * 150, [`b${i}`]));
    const human = Array.from({ length: 10 }, (_, i) => ev('view_item', T0 + 60_000 + i * 400, [`h${i}`]));
    const r = cleanEvents([...burst, ...human], T0 + 120_000);
    expect(r.rejected.burst).toBe(31);
    expect(r.kept).toHaveLength(10);
    expect(r.kept.every((e) => e.params.items![0].item_id.startsWith('h'))).toBe(true);
  });

  it('keeps exactly 30 events in 5 s (the threshold is "more than")', () => {
    const events = Array.from({ length: 30 }, (_, i) => ev('view_item', T0 + i * 160, [`x${i}`]));
    expect(cleanEvents(events, T0 + 60_000).rejected.burst).toBe(0);
  });

  it('rejects timestamps far in the future and non-finite ones', () => {
    const r = cleanEvents([ev('view_item', T0), ev('view_item', T0 + 3_600_000, ['b']), ev('view_item', Number.NaN, ['c'])], T0);
    expect(r.rejected.bad_timestamp).toBe(2);
    expect(r.kept).toHaveLength(1);
  });

  it('rejects a second purchase with the same transaction_id, however late', () => {
    const r = cleanEvents(
      [ev('purchase', T0, ['a'], { transaction_id: 'T1' }), ev('purchase', T0 + 3_600_000, ['a'], { transaction_id: 'T1' }), ev('purchase', T0 + 7_200_000, ['a'], { transaction_id: 'T2' })],
      T0 + 8_000_000,
    );
    expect(r.rejected.duplicate_transaction).toBe(1);
    expect(r.kept.map((e) => e.params.transaction_id)).toEqual(['T1', 'T2']);
  });

  it('keeps a purchase with no earlier view or add_to_cart (GA4 allows it)', () => {
    const r = cleanEvents([ev('purchase', T0, ['z'], { transaction_id: 'T9' })], T0 + 1);
    expect(r.kept).toHaveLength(1);
    expect(r.rejectedTotal).toBe(0);
  });

  it('counts every rejection once', () => {
    const events = [ev('view_item', T0), ev('view_item', T0 + 10), ev('view_item', Infinity)];
    const r = cleanEvents(events, T0 + 1_000);
    expect(r.kept.length + r.rejectedTotal).toBe(events.length);
  });
});
