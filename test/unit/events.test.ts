import { describe, expect, it } from 'vitest';
import { lenientNumber, validateEvent } from '../../src/events.ts';

describe('GA4-lenient numeric fields', () => {
  it('reads numeric strings as numbers, as GA4 does', () => {
    const result = validateEvent('purchase', {
      value: '19.90',
      currency: 'EUR',
      transaction_id: 'T1',
      items: [{ item_id: 'SKU-1', quantity: '2', price: ' 9.95 ', index: '0' }],
    });
    expect(result).toEqual({
      ok: true,
      event: expect.objectContaining({
        params: { value: 19.9, currency: 'EUR', transaction_id: 'T1', items: [{ item_id: 'SKU-1', quantity: 2, price: 9.95, index: 0 }] },
      }),
    });
  });

  it('treats "" and null like an absent field', () => {
    const result = validateEvent('add_to_cart', { value: '', items: [{ item_id: 'a', quantity: '', price: null }] });
    expect(result.ok && result.event.params).toEqual({ items: [{ item_id: 'a' }] });
  });

  it.each([
    [{ value: '19,90' }, 'value must be a non-negative number'],
    [{ value: '$19.90' }, 'value must be a non-negative number'],
    [{ value: '-5' }, 'value must be a non-negative number'],
    [{ value: 'Infinity' }, 'value must be a non-negative number'],
    [{ value: true }, 'value must be a non-negative number'],
    [{ items: [{ item_id: 'a', quantity: '2.5' }] }, 'items[0].quantity must be an integer between 1 and 10000'],
    [{ items: [{ item_id: 'a', quantity: 'two' }] }, 'items[0].quantity must be an integer between 1 and 10000'],
    [{ items: [{ item_id: 'a', quantity: '0' }] }, 'items[0].quantity must be an integer between 1 and 10000'],
    [{ items: [{ item_id: 'a', price: '1e12' }] }, 'items[0].price must be a number between 0 and 1000000000'],
    [{ items: [{ item_id: 'a', price: [] }] }, 'items[0].price must be a number between 0 and 1000000000'],
  ])('still rejects what is not a number: %j', (params, reason) => {
    const withItems = { items: [{ item_id: 'a' }], ...params };
    expect(validateEvent('add_to_cart', withItems)).toEqual({ ok: false, reason });
  });

  it('lenientNumber spells out the rule', () => {
    expect(lenientNumber(3)).toBe(3);
    expect(lenientNumber('1e3')).toBe(1000);
    expect(lenientNumber('.5')).toBe(0.5);
    expect(lenientNumber('  ')).toBeUndefined();
    expect(lenientNumber(undefined)).toBeUndefined();
    expect(lenientNumber('0x10')).toBeNaN();
    expect(lenientNumber('1 000')).toBeNaN();
    expect(lenientNumber({})).toBeNaN();
  });
});
