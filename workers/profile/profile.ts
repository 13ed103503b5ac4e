// The shopper's profile: what the recorded history says about interests, price level and
// shopping behaviour, in a typed object the worker returns and the privacy panel shows.
// Pure code (no DOM, no IndexedDB, no tfjs). Rules and thresholds: workers/profile/README.md.
import type { CatalogItem } from '../../src/catalog.ts';
import { categoryPath } from '../../src/catalog.ts';
import type { EventName, Ga4Item, SiloEvent } from '../../src/events.ts';
import { buildCatalogStats, categoryKey, percentileIn, pricePercentile, type CatalogStats } from './catalog-stats.ts';
import { cleanEvents, type CleanOptions, type RejectReason, type SessionEvent } from './clean.ts';

const DAY_MS = 86_400_000;

/**
 * How much one event says about interest in its items. Lists and cart views are impressions
 * the shop chose, not the shopper, so they weigh nothing; removing an item counts against it.
 */
export const EVENT_WEIGHTS: Readonly<Record<EventName, number>> = {
  view_item: 1,
  select_item: 1,
  add_to_wishlist: 2,
  begin_checkout: 2,
  add_to_cart: 3,
  purchase: 5,
  remove_from_cart: -2,
  view_item_list: 0,
  view_cart: 0,
  search: 1,
};

export interface ProfileOptions {
  /** Interest halves every this many days. Default 14. */
  halfLifeDays: number;
  /** How many categories, brands and search terms to keep. Default 5. */
  topN: number;
  /** Days of history in `interestsOverTime`. Default 30. */
  overTimeDays: number;
  /** A probability from the model for the current session, if the worker has one. */
  purchaseProbability?: number;
  clean?: Partial<CleanOptions>;
}

export const DEFAULT_PROFILE_OPTIONS: ProfileOptions = { halfLifeDays: 14, topN: 5, overTimeDays: 30 };

export interface WeightedCategory {
  /** "Shoes > Running": the item's full category path. */
  key: string;
  path: string[];
  /** Share of positive interest, 0..1; the top-N shares of all categories. */
  weight: number;
}
export interface WeightedName {
  name: string;
  weight: number;
}

export type Band = 'low' | 'mid' | 'high';

export interface PriceProfile {
  /** Weighted mean percentile (0..1) of the prices the shopper engaged with, each
   *  measured within its own category; undefined with fewer than 3 priced events. */
  percentile?: number;
  band: Band | 'unknown';
  /** Browsed percentile minus bought/carted percentile; > 0 means commits to cheaper
   *  items than they browse. Undefined without 2 of each. */
  browseVsBuyGap?: number;
  sensitivity: 'high' | 'medium' | 'low' | 'unknown';
  /** How many priced item events these figures rest on. */
  samples: number;
}

export interface Behaviour {
  /** Days since the last kept event; undefined with no history. */
  recencyDays?: number;
  daysSinceFirstSeen?: number;
  daysSinceLastPurchase?: number;
  sessions: number;
  sessionsLast30Days: number;
  purchases: number;
  /** Sum of purchase values (params.value, else price × quantity of the items). */
  monetary: number;
  averageOrderValue?: number;
  currency?: string;
}

export type Lifecycle = 'none' | 'new' | 'active' | 'loyal' | 'lapsing';
export type SpendTier = 'none' | 'low' | 'mid' | 'high';

export type Propensity =
  | { available: true; probability: number; source: 'model' }
  | { available: false; reason: string };

export interface ShopperProfile {
  computedAt: number;
  interests: { categories: WeightedCategory[]; brands: WeightedName[]; searches: WeightedName[] };
  /** Raw (undecayed) interest per UTC day and top-level category, oldest first. */
  interestsOverTime: { day: string; weights: Record<string, number> }[];
  price: PriceProfile;
  behaviour: Behaviour;
  segments: { lifecycle: Lifecycle; spendTier: SpendTier };
  purchasePropensity: Propensity;
  recorded: { kept: number; rejected: Record<RejectReason, number> };
}

/** The item as the catalog knows it (authoritative fields), else as the event sent it. */
function resolveItem(stats: CatalogStats, item: Ga4Item): Ga4Item {
  return stats.byId.get(item.item_id) ?? item;
}

function addTo(map: Map<string, number>, key: string, amount: number): void {
  map.set(key, (map.get(key) ?? 0) + amount);
}

/** Drops non-positive totals, keeps the top `n`, and rescales them to shares of all positive weight. */
function topShares(map: Map<string, number>, n: number): [string, number][] {
  const positive = [...map].filter(([, w]) => w > 0);
  const total = positive.reduce((s, [, w]) => s + w, 0);
  return positive
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, n)
    .map(([k, w]) => [k, w / total]);
}

/** "2026-05-31" for a timestamp; cached per day because toISOString is slow per event. */
function utcDayOf(cache: Map<number, string>, ts: number): string {
  const dayNumber = Math.floor(ts / DAY_MS);
  let day = cache.get(dayNumber);
  if (day === undefined) cache.set(dayNumber, (day = new Date(dayNumber * DAY_MS).toISOString().slice(0, 10)));
  return day;
}

function purchaseValue(event: SiloEvent, stats: CatalogStats): number {
  if (event.params.value !== undefined) return event.params.value;
  let sum = 0;
  for (const raw of event.params.items ?? []) {
    const price = raw.price ?? resolveItem(stats, raw).price ?? 0;
    sum += price * (raw.quantity ?? 1);
  }
  return sum;
}

const BROWSE_EVENTS: ReadonlySet<EventName> = new Set(['view_item', 'select_item']);
const COMMIT_EVENTS: ReadonlySet<EventName> = new Set(['add_to_cart', 'purchase']);

/** What the profile is computed from: the kept events' decayed weights and counts, in one pass. */
interface Tally {
  categories: Map<string, number>;
  paths: Map<string, string[]>;
  brands: Map<string, number>;
  searches: Map<string, number>;
  overTime: Map<string, Map<string, number>>;
  pricedSamples: number;
  browsePctSum: number;
  browseWeight: number;
  commitPctSum: number;
  commitWeight: number;
  purchases: number;
  monetary: number;
  lastPurchase: number | undefined;
  currency: string | undefined;
}

function tallyEvents(kept: readonly SessionEvent[], stats: CatalogStats, now: number, opts: ProfileOptions): Tally {
  const halfLifeMs = opts.halfLifeDays * DAY_MS;
  const categories = new Map<string, number>();
  const paths = new Map<string, string[]>();
  const brands = new Map<string, number>();
  const searches = new Map<string, number>();
  const overTime = new Map<string, Map<string, number>>();
  const overTimeFrom = now - opts.overTimeDays * DAY_MS;
  const dayNames = new Map<number, string>();
  let browsePctSum = 0, browseWeight = 0, commitPctSum = 0, commitWeight = 0;
  let pricedSamples = 0;
  let purchases = 0, monetary = 0, lastPurchase: number | undefined, currency: string | undefined;

  for (const event of kept) {
    const baseWeight = EVENT_WEIGHTS[event.name];
    // age never negative: events stamped slightly ahead (allowed clock skew) count as now
    const decay = Math.pow(0.5, Math.max(0, now - event.ts) / halfLifeMs);
    const weight = baseWeight * decay;

    if (event.name === 'search' && event.params.search_term) {
      addTo(searches, event.params.search_term.toLowerCase(), weight);
    }
    if (event.name === 'purchase') {
      purchases++;
      monetary += purchaseValue(event, stats);
      lastPurchase = event.ts;
      currency ??= event.params.currency;
    }
    if (baseWeight === 0 || event.name === 'search') continue;

    const day = event.ts >= overTimeFrom ? utcDayOf(dayNames, event.ts) : undefined;
    for (const raw of event.params.items ?? []) {
      const item = resolveItem(stats, raw);
      const known = stats.pathById.get(item.item_id);
      const path = known?.path ?? categoryPath(item);
      if (path.length) {
        const key = known?.key ?? categoryKey(path);
        addTo(categories, key, weight);
        paths.set(key, path);
        if (day !== undefined) {
          let perDay = overTime.get(day);
          if (!perDay) overTime.set(day, (perDay = new Map()));
          addTo(perDay, path[0], baseWeight);
        }
      }
      if (item.item_brand) addTo(brands, item.item_brand, weight);

      const price = item.price;
      if (price !== undefined && price > 0 && baseWeight > 0) {
        // catalog items: precomputed; items the catalog lacks: measured against their category
        const pct = (item === stats.byId.get(raw.item_id) ? stats.pricePercentileById.get(raw.item_id) : undefined) ?? pricePercentile(stats, path, price);
        if (pct !== undefined) {
          pricedSamples++;
          if (BROWSE_EVENTS.has(event.name)) { browsePctSum += pct * baseWeight; browseWeight += baseWeight; }
          else if (COMMIT_EVENTS.has(event.name)) { commitPctSum += pct * baseWeight; commitWeight += baseWeight; }
        }
      }
    }
  }
  return { categories, paths, brands, searches, overTime, pricedSamples, browsePctSum, browseWeight, commitPctSum, commitWeight, purchases, monetary, lastPurchase, currency };
}

/**
 * Builds the profile from the recorded history. Raw events go in: they are cleaned here
 * (clean.ts) so rejected events can never leak into the profile. Pass `CatalogStats` from
 * `buildCatalogStats` when calling repeatedly; a plain catalog is accepted for convenience.
 */
export function computeProfile(
  events: readonly SiloEvent[],
  catalog: CatalogStats | readonly CatalogItem[],
  now: number,
  options: Partial<ProfileOptions> = {},
): ShopperProfile {
  const opts: ProfileOptions = { ...DEFAULT_PROFILE_OPTIONS, ...options };
  const stats = Array.isArray(catalog) ? buildCatalogStats(catalog) : (catalog as CatalogStats);
  const cleaned = cleanEvents(events, now, opts.clean);
  const kept: SessionEvent[] = cleaned.kept;

  const { categories, paths, brands, searches, overTime, pricedSamples, browsePctSum, browseWeight, commitPctSum, commitWeight, purchases, monetary, lastPurchase, currency } = tallyEvents(kept, stats, now, opts);

  // price band: all engagement, weighted by event weight; sensitivity: browse vs commit
  const price: PriceProfile = { band: 'unknown', sensitivity: 'unknown', samples: pricedSamples };
  if (pricedSamples >= 3 && browseWeight + commitWeight > 0) {
    const pct = (browsePctSum + commitPctSum) / (browseWeight + commitWeight);
    price.percentile = pct;
    price.band = pct < 1 / 3 ? 'low' : pct > 2 / 3 ? 'high' : 'mid';
  }
  if (browseWeight >= 2 && commitWeight >= 2 * EVENT_WEIGHTS.add_to_cart) {
    const gap = browsePctSum / browseWeight - commitPctSum / commitWeight;
    price.browseVsBuyGap = gap;
    price.sensitivity = gap >= 0.15 ? 'high' : gap <= -0.05 ? 'low' : 'medium';
  }

  const first = kept[0]?.ts;
  const last = kept[kept.length - 1]?.ts;
  const days = (ts: number | undefined) => (ts === undefined ? undefined : Math.max(0, now - ts) / DAY_MS);
  const behaviour: Behaviour = {
    recencyDays: days(last),
    daysSinceFirstSeen: days(first),
    daysSinceLastPurchase: days(lastPurchase),
    sessions: cleaned.sessions.length,
    sessionsLast30Days: cleaned.sessions.filter((s) => now - s.end <= 30 * DAY_MS).length,
    purchases,
    monetary,
    averageOrderValue: purchases ? monetary / purchases : undefined,
    currency,
  };

  return {
    computedAt: now,
    interests: {
      categories: topShares(categories, opts.topN).map(([key, weight]) => ({ key, path: paths.get(key)!, weight })),
      brands: topShares(brands, opts.topN).map(([name, weight]) => ({ name, weight })),
      searches: topShares(searches, opts.topN).map(([name, weight]) => ({ name, weight })),
    },
    interestsOverTime: [...overTime]
      .sort((a, b) => (a[0] < b[0] ? -1 : 1))
      .map(([day, m]) => ({ day, weights: Object.fromEntries([...m].filter(([, w]) => w > 0)) })),
    price,
    behaviour,
    segments: { lifecycle: lifecycleOf(behaviour), spendTier: spendTierOf(behaviour, stats) },
    purchasePropensity: propensityOf(opts.purchaseProbability),
    recorded: { kept: kept.length, rejected: cleaned.rejected },
  };
}

/** What the SDK's `profile()` returns: the profile plus its sentences, in one call. */
export function profileWithWords(
  events: readonly SiloEvent[],
  catalog: CatalogStats | readonly CatalogItem[],
  now: number,
  options: Partial<ProfileOptions> = {},
): ShopperProfile & { words: string[] } {
  const profile = computeProfile(events, catalog, now, options);
  return { ...profile, words: explainInWords(profile) };
}

/** Lifecycle thresholds, in days and purchases. */
export const LIFECYCLE_RULES = { lapsingAfterDays: 30, newWithinDays: 7, loyalPurchases: 2 } as const;

/**
 * First rule that matches: no history → none; nothing for 30 days → lapsing; 2+ purchases →
 * loyal; first seen within 7 days → new; otherwise active.
 */
export function lifecycleOf(b: Behaviour): Lifecycle {
  if (b.recencyDays === undefined) return 'none';
  if (b.recencyDays > LIFECYCLE_RULES.lapsingAfterDays) return 'lapsing';
  if (b.purchases >= LIFECYCLE_RULES.loyalPurchases) return 'loyal';
  if ((b.daysSinceFirstSeen ?? 0) <= LIFECYCLE_RULES.newWithinDays) return 'new';
  return 'active';
}

/**
 * Average order value placed in the catalog's own price distribution (all priced items):
 * below the 1/3 quantile → low, above 2/3 → high, otherwise mid; no purchase → none.
 * Relative to the shop, so a "high" spender at a sock shop and at a furniture shop differ.
 */
export function spendTierOf(b: Behaviour, stats: CatalogStats): SpendTier {
  if (!b.purchases || b.averageOrderValue === undefined) return 'none';
  if (!stats.allPrices.length) return 'mid';
  const pct = percentileIn(stats.allPrices, b.averageOrderValue);
  return pct < 1 / 3 ? 'low' : pct > 2 / 3 ? 'high' : 'mid';
}

function propensityOf(probability: number | undefined): Propensity {
  // workers/profile/propensity.ts has the model and its calibration check; it is not served
  // until it has been calibrated on a real log with purchases (none is available yet)
  if (probability === undefined) return { available: false, reason: 'no calibrated purchase model yet: it needs real shopping logs with purchases to check its estimates against' };
  if (!Number.isFinite(probability) || probability < 0 || probability > 1) {
    return { available: false, reason: 'the model score was not a probability between 0 and 1' };
  }
  return { available: true, probability, source: 'model' };
}

function lastLevel(c: WeightedCategory): string {
  return c.path[c.path.length - 1] ?? c.key;
}

function listInWords(names: string[]): string {
  if (names.length <= 1) return names[0] ?? '';
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

/** The profile as short sentences a shopper understands (no jargon, no raw scores). */
export function explainInWords(profile: ShopperProfile): string[] {
  const words: string[] = [];
  const { interests, price, behaviour, segments, recorded } = profile;
  if (recorded.kept === 0) return ['Nothing has been recorded on this device yet.'];

  const cats = interests.categories.slice(0, 3).map(lastLevel);
  if (cats.length) words.push(`You mostly look at ${listInWords(cats)}.`);
  const brandNames = interests.brands.slice(0, 3).map((b) => b.name);
  if (brandNames.length) words.push(`Brands you come back to: ${listInWords(brandNames)}.`);
  const terms = interests.searches.slice(0, 3).map((s) => `“${s.name}”`);
  if (terms.length) words.push(`You searched for ${listInWords(terms)}.`);

  if (price.band !== 'unknown') {
    const band = { low: 'the lower end', mid: 'the middle', high: 'the upper end' }[price.band];
    words.push(`The items you look at are usually at ${band} of their category's price range.`);
  }
  if (price.sensitivity === 'high') words.push('You tend to buy cheaper items than the ones you browse.');
  if (price.sensitivity === 'low') words.push('Price does not seem to hold you back: you often pick pricier items than you browse.');

  const visits = behaviour.sessions === 1 ? 'one visit' : `${behaviour.sessions} visits`;
  const orders = behaviour.purchases === 0 ? 'no orders yet' : behaviour.purchases === 1 ? 'one order' : `${behaviour.purchases} orders`;
  words.push(`We have seen ${visits} and ${orders} from this device.`);
  const lifecycle: Record<Lifecycle, string | undefined> = {
    none: undefined,
    new: 'You are new here.',
    active: 'You visit regularly.',
    loyal: 'You are a returning customer.',
    lapsing: 'You have not been here for a while.',
  };
  if (lifecycle[segments.lifecycle]) words.push(lifecycle[segments.lifecycle]!);

  const rejected = Object.values(recorded.rejected).reduce((s, n) => s + n, 0);
  if (rejected === 1) words.push('One recorded event looked like a repeat or automated traffic and was ignored.');
  if (rejected > 1) words.push(`${rejected} recorded events looked like repeats or automated traffic and were ignored.`);
  return words;
}
