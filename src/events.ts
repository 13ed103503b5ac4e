// GA4-style ecommerce events: the vocabulary, the shape Silo stores, and the validation
// that runs on the main thread before anything is queued. Pure code: the worker, the
// profile and the tests import it too.

export const EVENT_NAMES = [
  'view_item',
  'view_item_list',
  'select_item',
  'add_to_cart',
  'remove_from_cart',
  'add_to_wishlist',
  'view_cart',
  'begin_checkout',
  'purchase',
  'search',
] as const;

export type EventName = (typeof EVENT_NAMES)[number];

/** Events that must name at least one item. */
const ITEM_EVENTS: ReadonlySet<EventName> = new Set([
  'view_item',
  'select_item',
  'add_to_cart',
  'remove_from_cart',
  'add_to_wishlist',
  'purchase',
]);

/** GA4 item fields Silo keeps; anything else on an item is dropped. */
export interface Ga4Item {
  item_id: string;
  item_name?: string;
  item_brand?: string;
  item_category?: string;
  item_category2?: string;
  item_category3?: string;
  item_category4?: string;
  item_category5?: string;
  item_variant?: string;
  item_list_name?: string;
  price?: number;
  quantity?: number;
  index?: number;
}

export interface EventParams {
  items?: Ga4Item[];
  search_term?: string;
  value?: number;
  currency?: string;
  transaction_id?: string;
  item_list_id?: string;
  item_list_name?: string;
}

/** Who reported an event: the page's track() call, its dataLayer, Silo's widget, or a product page's JSON-LD. */
export type EventSource = 'track' | 'dataLayer' | 'widget' | 'jsonld';

/** One validated event, as queued to the worker and stored in IndexedDB. */
export interface SiloEvent {
  name: EventName;
  params: EventParams;
  /** milliseconds since the epoch, taken on the main thread when the event happened */
  ts: number;
  source: EventSource;
  /**
   * Unique per event (the page's random token and a counter), given by the tracker. A batch
   * whose delivery was cut short by a crashed worker is sent again; the store skips the events
   * it already holds, so each is stored once.
   */
  eventId?: string;
}

export type TrackResult = { ok: true } | { ok: false; reason: string };
export type ValidationResult = { ok: true; event: SiloEvent } | { ok: false; reason: string };

export const LIMITS = {
  maxItems: 200,
  maxString: 256,
  maxPrice: 1e9,
  maxQuantity: 10_000,
} as const;

const STRING_ITEM_FIELDS = [
  'item_name',
  'item_brand',
  'item_category',
  'item_category2',
  'item_category3',
  'item_category4',
  'item_category5',
  'item_variant',
  'item_list_name',
] as const;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function cleanString(v: unknown, field: string): string | { reason: string } | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && Number.isFinite(v)) v = String(v);
  if (typeof v !== 'string') return { reason: `${field} must be a string` };
  const s = v.trim();
  if (s.length > LIMITS.maxString) return { reason: `${field} is longer than ${LIMITS.maxString} characters` };
  return s.length ? s : undefined;
}

/** A plain decimal number written as a string ("2", " 19.90 ", "1e3"); no units, no thousands separators. */
const NUMERIC_STRING = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * A numeric field read as GA4 reads it: numbers, and strings that spell a number (tag
 * templates often send "2" or "19.90"), are numbers; absent, null and "" are absent (undefined);
 * anything else is NaN, which the caller rejects with its field's reason.
 */
export function lenientNumber(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    const s = v.trim();
    if (s === '') return undefined;
    return NUMERIC_STRING.test(s) ? Number(s) : NaN;
  }
  return NaN;
}

function validateItem(raw: unknown, i: number): Ga4Item | { reason: string } {
  if (!isRecord(raw)) return { reason: `items[${i}] must be an object` };
  const id = cleanString(raw.item_id, `items[${i}].item_id`);
  if (id === undefined) return { reason: `items[${i}].item_id is required` };
  if (typeof id !== 'string') return id;
  const item: Ga4Item = { item_id: id };
  for (const field of STRING_ITEM_FIELDS) {
    const s = cleanString(raw[field], `items[${i}].${field}`);
    if (typeof s === 'object') return s;
    if (s !== undefined) item[field] = s;
  }
  const price = lenientNumber(raw.price);
  if (price !== undefined) {
    if (!Number.isFinite(price) || price < 0 || price > LIMITS.maxPrice) {
      return { reason: `items[${i}].price must be a number between 0 and ${LIMITS.maxPrice}` };
    }
    item.price = price;
  }
  const q = lenientNumber(raw.quantity);
  if (q !== undefined) {
    if (!Number.isInteger(q) || q < 1 || q > LIMITS.maxQuantity) {
      return { reason: `items[${i}].quantity must be an integer between 1 and ${LIMITS.maxQuantity}` };
    }
    item.quantity = q;
  }
  const index = lenientNumber(raw.index);
  if (index !== undefined && Number.isInteger(index) && index >= 0) item.index = index;
  return item;
}

/**
 * Checks a gtag-style `(name, params)` pair. Never throws: bad input comes back as
 * `{ ok: false, reason }` so the caller can report and count it.
 */
export function validateEvent(
  name: unknown,
  params: unknown,
  ts: number = Date.now(),
  source: EventSource = 'track',
): ValidationResult {
  try {
    if (typeof name !== 'string') return { ok: false, reason: 'event name must be a string' };
    if (!(EVENT_NAMES as readonly string[]).includes(name)) {
      return { ok: false, reason: `unknown event "${name.slice(0, 40)}"; expected one of ${EVENT_NAMES.join(', ')}` };
    }
    const eventName = name as EventName;
    if (params !== undefined && !isRecord(params)) return { ok: false, reason: 'params must be an object' };
    const p = (params ?? {}) as Record<string, unknown>;
    const out: EventParams = {};
    if (p.items !== undefined) {
      if (!Array.isArray(p.items)) return { ok: false, reason: 'items must be an array' };
      if (p.items.length > LIMITS.maxItems) return { ok: false, reason: `more than ${LIMITS.maxItems} items` };
      const items: Ga4Item[] = [];
      for (let i = 0; i < p.items.length; i++) {
        const item = validateItem(p.items[i], i);
        if ('reason' in item) return { ok: false, reason: item.reason };
        items.push(item);
      }
      out.items = items;
    }
    if (ITEM_EVENTS.has(eventName) && !out.items?.length) {
      return { ok: false, reason: `${eventName} needs at least one item with an item_id` };
    }
    for (const field of ['search_term', 'currency', 'transaction_id', 'item_list_id', 'item_list_name'] as const) {
      const s = cleanString(p[field], field);
      if (typeof s === 'object') return { ok: false, reason: s.reason };
      if (s !== undefined) out[field] = s;
    }
    if (eventName === 'search' && !out.search_term) return { ok: false, reason: 'search needs a search_term' };
    const value = lenientNumber(p.value);
    if (value !== undefined) {
      if (!Number.isFinite(value) || value < 0) return { ok: false, reason: 'value must be a non-negative number' };
      out.value = value;
    }
    if (!Number.isFinite(ts)) return { ok: false, reason: 'timestamp must be finite' };
    return { ok: true, event: { name: eventName, params: out, ts, source } };
  } catch (err) {
    // getters on hostile objects can throw; that is bad input, not our crash
    return { ok: false, reason: `unreadable event: ${(err as Error).message}` };
  }
}

/** The item ids an event is about, in order. */
export function eventItemIds(event: SiloEvent): string[] {
  return (event.params.items ?? []).map((i) => i.item_id);
}
