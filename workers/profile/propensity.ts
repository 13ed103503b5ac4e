// Purchase propensity for the current session: a logistic model over session features, and
// the measurements that say whether its probabilities can be taken at face value (expected
// calibration error, Brier score, a reliability table).
//
// Status: the worker does NOT serve a propensity yet. A probability is only worth showing
// once it has been calibrated on real logs with purchase events, and none of the datasets
// this project can use has event types (Beauty = reviews, ML-1M = ratings). The profile
// therefore says `{ available: false, reason }`; this file is the path to make it available:
// `npx tsx bench/profile.ts --calibration log.csv` fits and measures on a real
// `user,item,timestamp,event_type` log, and the fitted model (plain JSON) is what the worker
// would pass to computeProfile as `purchaseProbability`.
//
// Pure code (no DOM, no tfjs): a few thousand sessions fit in well under a second.
import type { EventName, SiloEvent } from '../../src/events.ts';
import { DEFAULT_CLEAN_OPTIONS } from './clean.ts';

/** What a session looks like before its first purchase, plus what came before it. */
export const FEATURE_NAMES = [
  'log1p(views)',
  'log1p(distinct items)',
  'log1p(add_to_cart)',
  'has cart',
  'log1p(minutes in session)',
  'log1p(earlier sessions)',
  'log1p(earlier purchases)',
  'earlier purchase rate',
  'log1p(days since previous session)',
] as const;

export interface SessionExample {
  features: number[];
  /** 1 when the session went on to a purchase */
  label: 0 | 1;
  /** session start, for time-ordered splits */
  start: number;
}

const VIEW: ReadonlySet<EventName> = new Set(['view_item', 'select_item']);
const DAY_MS = 86_400_000;

/**
 * One example per session of one shopper's events (any order; sorted here). Features use only
 * the events before the session's first purchase — the moment a storefront would ask — and
 * sessions that open with a purchase (nothing observed before it) are skipped.
 */
export function sessionExamples(events: readonly Pick<SiloEvent, 'name' | 'ts' | 'params'>[], sessionGapMs = DEFAULT_CLEAN_OPTIONS.sessionGapMs): SessionExample[] {
  const sorted = [...events].sort((a, b) => a.ts - b.ts);
  const sessions: (typeof sorted)[] = [];
  for (const e of sorted) {
    const current = sessions[sessions.length - 1];
    if (current && e.ts - current[current.length - 1].ts <= sessionGapMs) current.push(e);
    else sessions.push([e]);
  }
  const out: SessionExample[] = [];
  let earlierSessions = 0;
  let earlierPurchases = 0;
  let previousEnd: number | undefined;
  for (const session of sessions) {
    const firstPurchase = session.findIndex((e) => e.name === 'purchase');
    const observed = firstPurchase < 0 ? session : session.slice(0, firstPurchase);
    if (observed.length > 0) out.push({ features: featuresOf(observed, earlierSessions, earlierPurchases, previousEnd), label: firstPurchase >= 0 ? 1 : 0, start: session[0].ts });
    earlierSessions++;
    earlierPurchases += session.filter((e) => e.name === 'purchase').length;
    previousEnd = session[session.length - 1].ts;
  }
  return out;
}

/** Features of the current session so far (events in it, oldest first) and the shopper's past. */
export function featuresOf(observed: readonly Pick<SiloEvent, 'name' | 'ts' | 'params'>[], earlierSessions: number, earlierPurchases: number, previousEnd?: number): number[] {
  let views = 0, carts = 0;
  const items = new Set<string>();
  for (const e of observed) {
    if (VIEW.has(e.name)) views++;
    if (e.name === 'add_to_cart') carts++;
    for (const item of e.params.items ?? []) items.add(item.item_id);
  }
  const minutes = (observed[observed.length - 1].ts - observed[0].ts) / 60_000;
  const gapDays = previousEnd === undefined ? 0 : (observed[0].ts - previousEnd) / DAY_MS;
  return [
    Math.log1p(views),
    Math.log1p(items.size),
    Math.log1p(carts),
    carts > 0 ? 1 : 0,
    Math.log1p(Math.max(0, minutes)),
    Math.log1p(earlierSessions),
    Math.log1p(earlierPurchases),
    earlierSessions ? earlierPurchases / earlierSessions : 0,
    Math.log1p(Math.max(0, gapDays)),
  ];
}

export interface PropensityModel {
  featureNames: readonly string[];
  mean: number[];
  std: number[];
  weights: number[];
  bias: number;
  /** sessions and purchase rate it was fitted on */
  fittedOn: { sessions: number; positiveRate: number };
}

const sigmoid = (z: number) => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));

export function predict(model: PropensityModel, features: readonly number[]): number {
  if (features.length !== model.weights.length) throw new Error(`propensity: expected ${model.weights.length} features, got ${features.length}`);
  let z = model.bias;
  for (let j = 0; j < features.length; j++) z += model.weights[j] * ((features[j] - model.mean[j]) / model.std[j]);
  return sigmoid(z);
}

/**
 * L2-regularised logistic regression by full-batch gradient descent on standardised
 * features. Log loss is a proper scoring rule, so a well-specified fit is calibrated by
 * construction; the held-out ECE says whether that holds on the data.
 */
export function fitPropensity(examples: readonly SessionExample[], options: { epochs?: number; learningRate?: number; l2?: number } = {}): PropensityModel {
  if (examples.length === 0) throw new Error('propensity: no sessions to fit on');
  const positives = examples.reduce((s, e) => s + e.label, 0);
  if (positives === 0 || positives === examples.length) throw new Error('propensity: need sessions with and without a purchase to fit on');
  const epochs = options.epochs ?? 500;
  const lr = options.learningRate ?? 0.5;
  const l2 = options.l2 ?? 1e-4;
  const d = examples[0].features.length;
  const n = examples.length;
  const mean = new Array<number>(d).fill(0);
  const std = new Array<number>(d).fill(0);
  for (const e of examples) for (let j = 0; j < d; j++) mean[j] += e.features[j] / n;
  for (const e of examples) for (let j = 0; j < d; j++) std[j] += (e.features[j] - mean[j]) ** 2 / n;
  for (let j = 0; j < d; j++) std[j] = Math.sqrt(std[j]) || 1; // a constant feature stays 0
  const x = examples.map((e) => e.features.map((v, j) => (v - mean[j]) / std[j]));
  const w = new Array<number>(d).fill(0);
  const rate = positives / n;
  let b = Math.log(rate / (1 - rate)); // start at the base rate
  const grad = new Array<number>(d);
  for (let epoch = 0; epoch < epochs; epoch++) {
    grad.fill(0);
    let gb = 0;
    for (let i = 0; i < n; i++) {
      let z = b;
      for (let j = 0; j < d; j++) z += w[j] * x[i][j];
      const err = sigmoid(z) - examples[i].label;
      gb += err;
      for (let j = 0; j < d; j++) grad[j] += err * x[i][j];
    }
    b -= (lr * gb) / n;
    for (let j = 0; j < d; j++) w[j] -= lr * (grad[j] / n + l2 * w[j]);
  }
  return { featureNames: [...FEATURE_NAMES].slice(0, d), mean, std, weights: w, bias: b, fittedOn: { sessions: n, positiveRate: rate } };
}

export interface ReliabilityBin {
  lower: number;
  upper: number;
  count: number;
  meanPredicted: number;
  observedRate: number;
}

export interface CalibrationReport {
  n: number;
  positiveRate: number;
  /** expected calibration error: Σ (bin count / n) · |observed rate − mean predicted|, equal-width bins */
  ece: number;
  brier: number;
  /** Brier of always predicting the base rate: a model should beat it */
  brierBaseRate: number;
  logLoss: number;
  bins: ReliabilityBin[];
}

export function calibrationReport(predicted: readonly number[], labels: readonly (0 | 1)[], binCount = 10): CalibrationReport {
  if (predicted.length !== labels.length) throw new Error('calibration: predictions and labels differ in length');
  const n = predicted.length;
  if (n === 0) throw new Error('calibration: nothing to measure');
  for (const p of predicted) if (!(p >= 0 && p <= 1)) throw new Error(`calibration: ${p} is not a probability`);
  const rate = labels.reduce<number>((s, y) => s + y, 0) / n;
  const bins = Array.from({ length: binCount }, (_, k) => ({ lower: k / binCount, upper: (k + 1) / binCount, count: 0, sumP: 0, sumY: 0 }));
  let brier = 0, brierBase = 0, logLoss = 0;
  for (let i = 0; i < n; i++) {
    const p = predicted[i], y = labels[i];
    const bin = bins[Math.min(binCount - 1, Math.floor(p * binCount))];
    bin.count++;
    bin.sumP += p;
    bin.sumY += y;
    brier += (p - y) ** 2;
    brierBase += (rate - y) ** 2;
    const clipped = Math.min(1 - 1e-12, Math.max(1e-12, p));
    logLoss -= y ? Math.log(clipped) : Math.log(1 - clipped);
  }
  let ece = 0;
  const out: ReliabilityBin[] = bins.map((b) => {
    const meanPredicted = b.count ? b.sumP / b.count : 0;
    const observedRate = b.count ? b.sumY / b.count : 0;
    ece += (b.count / n) * Math.abs(observedRate - meanPredicted);
    return { lower: b.lower, upper: b.upper, count: b.count, meanPredicted, observedRate };
  });
  return { n, positiveRate: rate, ece, brier: brier / n, brierBaseRate: brierBase / n, logLoss: logLoss / n, bins: out };
}

/** Event types of common public logs → GA4 names; anything else is ignored. */
const EVENT_ALIASES: Readonly<Record<string, EventName>> = {
  view: 'view_item', view_item: 'view_item', pageview: 'view_item', click: 'select_item', select_item: 'select_item',
  addtocart: 'add_to_cart', add_to_cart: 'add_to_cart', cart: 'add_to_cart',
  remove_from_cart: 'remove_from_cart', removefromcart: 'remove_from_cart',
  transaction: 'purchase', purchase: 'purchase', buy: 'purchase', order: 'purchase',
};

/**
 * A `user,item,timestamp,event_type` log (optional header; timestamps in seconds or
 * milliseconds) → events per user. Throws on a row without four fields or a bad timestamp,
 * and when no row is a purchase (nothing to calibrate against).
 */
export function parseEventLog(text: string): Map<string, Pick<SiloEvent, 'name' | 'ts' | 'params'>[]> {
  const rows = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  if (rows.length && Number.isNaN(Number(rows[0].split(',')[2]))) rows.shift();
  const byUser = new Map<string, Pick<SiloEvent, 'name' | 'ts' | 'params'>[]>();
  let purchases = 0;
  rows.forEach((row, i) => {
    const [user, item, time, type] = row.split(',').map((f) => f.trim());
    if (!user || !item || !time || !type) throw new Error(`event log row ${i + 1}: user,item,timestamp,event_type expected, got "${row}"`);
    const t = Number(time);
    if (!Number.isFinite(t)) throw new Error(`event log row ${i + 1}: bad timestamp "${time}"`);
    const name = EVENT_ALIASES[type.toLowerCase()];
    if (!name) return;
    if (name === 'purchase') purchases++;
    let events = byUser.get(user);
    if (!events) byUser.set(user, (events = []));
    events.push({ name, ts: t < 1e11 ? t * 1000 : t, params: { items: [{ item_id: item }] } });
  });
  if (purchases === 0) throw new Error('event log has no purchase events: propensity cannot be calibrated on it');
  return byUser;
}

/**
 * Fits on the earlier sessions and measures on the later ones (by session start time, the
 * way a deployed model meets the future): `trainShare` of sessions for fitting.
 */
export function measureCalibration(byUser: ReadonlyMap<string, Pick<SiloEvent, 'name' | 'ts' | 'params'>[]>, trainShare = 0.8): { model: PropensityModel; report: CalibrationReport; trainSessions: number } {
  const all: SessionExample[] = [];
  for (const events of byUser.values()) all.push(...sessionExamples(events));
  all.sort((a, b) => a.start - b.start);
  const cut = Math.floor(all.length * trainShare);
  const train = all.slice(0, cut);
  const test = all.slice(cut);
  if (test.length === 0) throw new Error('calibration: no held-out sessions');
  const model = fitPropensity(train);
  const report = calibrationReport(test.map((e) => predict(model, e.features)), test.map((e) => e.label));
  return { model, report, trainSessions: train.length };
}
