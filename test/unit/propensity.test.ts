// The propensity calibration path (workers/profile/propensity.ts): metrics checked by hand,
// session features without leakage, and a fit that recovers known probabilities.
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../models/metrics.ts';
import type { EventName } from '../../src/events.ts';
import {
  FEATURE_NAMES,
  calibrationReport,
  fitPropensity,
  measureCalibration,
  parseEventLog,
  predict,
  sessionExamples,
  type SessionExample,
} from '../../workers/profile/propensity.ts';

const MIN = 60_000;
const ev = (name: EventName, ts: number, item = 'a') => ({ name, ts, params: { items: [{ item_id: item }] } });

describe('calibrationReport', () => {
  it('computes ECE, Brier and log loss as defined', () => {
    const r = calibrationReport([0.1, 0.1, 0.9, 0.9], [0, 1, 1, 1]);
    // bin [0.1,0.2): predicted 0.1, observed 0.5; bin [0.9,1]: predicted 0.9, observed 1
    expect(r.ece).toBeCloseTo(0.5 * 0.4 + 0.5 * 0.1, 12);
    expect(r.brier).toBeCloseTo((0.01 + 0.81 + 0.01 + 0.01) / 4, 12);
    expect(r.brierBaseRate).toBeCloseTo((0.75 ** 2 + 3 * 0.25 ** 2) / 4, 12);
    expect(r.logLoss).toBeCloseTo(-(Math.log(0.9) + Math.log(0.1) + 2 * Math.log(0.9)) / 4, 12);
    expect(r.bins.filter((b) => b.count > 0).map((b) => [b.count, b.observedRate])).toEqual([[2, 0.5], [2, 1]]);
    expect(r.positiveRate).toBe(0.75);
  });

  it('puts p = 1 in the last bin and rejects non-probabilities and mismatched lengths', () => {
    expect(calibrationReport([1, 1], [1, 1]).ece).toBe(0);
    expect(() => calibrationReport([1.2], [1])).toThrow(/not a probability/);
    expect(() => calibrationReport([0.5], [1, 0])).toThrow(/length/);
    expect(() => calibrationReport([], [])).toThrow(/nothing/);
  });
});

describe('sessionExamples', () => {
  it('splits sessions after 30 idle minutes and observes each only up to its first purchase', () => {
    const t = Date.UTC(2026, 0, 1);
    const examples = sessionExamples([
      ev('view_item', t, 'a'),
      ev('view_item', t + 5 * MIN, 'b'),
      ev('add_to_cart', t + 6 * MIN, 'b'),
      ev('purchase', t + 8 * MIN, 'b'),
      ev('view_item', t + 9 * MIN, 'z'), // after the purchase: not a feature
      ev('view_item', t + 2 * 24 * 60 * MIN, 'c'), // two days later: a new session
      ev('purchase', t + 3 * 24 * 60 * MIN, 'd'), // opens with a purchase: nothing to observe
    ]);
    expect(examples).toHaveLength(2);
    const [first, second] = examples;
    expect(first.label).toBe(1);
    const f = Object.fromEntries(FEATURE_NAMES.map((n, j) => [n, first.features[j]]));
    expect(f['log1p(views)']).toBeCloseTo(Math.log1p(2), 12);
    expect(f['log1p(distinct items)']).toBeCloseTo(Math.log1p(2), 12);
    expect(f['log1p(add_to_cart)']).toBeCloseTo(Math.log1p(1), 12);
    expect(f['has cart']).toBe(1);
    expect(f['log1p(minutes in session)']).toBeCloseTo(Math.log1p(6), 12);
    expect(f['log1p(earlier sessions)']).toBe(0);
    expect(second.label).toBe(0);
    const g = Object.fromEntries(FEATURE_NAMES.map((n, j) => [n, second.features[j]]));
    expect(g['log1p(earlier sessions)']).toBeCloseTo(Math.log1p(1), 12);
    expect(g['log1p(earlier purchases)']).toBeCloseTo(Math.log1p(1), 12);
    expect(g['earlier purchase rate']).toBe(1);
    expect(g['log1p(days since previous session)']).toBeCloseTo(Math.log1p((2 * 24 * 60 - 9) / (24 * 60)), 9);
  });
});

describe('fitPropensity', () => {
  it('recovers known probabilities: held-out ECE small, Brier near the true model’s', () => {
    const rand = mulberry32(3);
    const trueW = [1.2, -0.8, 0.5];
    const make = (n: number): (SessionExample & { p: number })[] =>
      Array.from({ length: n }, (_, i) => {
        const features = [rand() * 2, rand() * 3, rand() < 0.3 ? 1 : 0];
        const p = 1 / (1 + Math.exp(-(-1.5 + features.reduce((s, x, j) => s + x * trueW[j], 0))));
        return { features, label: rand() < p ? 1 : 0, start: i, p };
      });
    const train = make(6000);
    const test = make(6000);
    const model = fitPropensity(train);
    const predicted = test.map((e) => predict(model, e.features));
    const report = calibrationReport(predicted, test.map((e) => e.label));
    const oracle = calibrationReport(test.map((e) => e.p), test.map((e) => e.label));
    expect(report.ece).toBeLessThan(0.03);
    expect(report.brier).toBeLessThan(oracle.brier + 0.003);
    expect(report.brier).toBeLessThan(report.brierBaseRate);
    // the same predictions halved are visibly miscalibrated
    expect(calibrationReport(predicted.map((p) => p / 2), test.map((e) => e.label)).ece).toBeGreaterThan(0.08);
  });

  it('refuses data it cannot fit', () => {
    expect(() => fitPropensity([])).toThrow(/no sessions/);
    expect(() => fitPropensity([{ features: [1], label: 0, start: 0 }])).toThrow(/with and without/);
    const model = fitPropensity([{ features: [1], label: 0, start: 0 }, { features: [2], label: 1, start: 1 }]);
    expect(() => predict(model, [1, 2])).toThrow(/expected 1 features/);
  });
});

describe('event log → calibration', () => {
  it('parses a user,item,timestamp,event_type log (header, seconds) and rejects bad rows', () => {
    const log = parseEventLog('user,item,timestamp,event_type\nu1,i1,1700000000,view\nu1,i1,1700000060,addtocart\nu1,i1,1700000120,transaction\nu2,i2,1700000000000,unknown_kind\n');
    expect(log.get('u1')!.map((e) => [e.name, e.ts])).toEqual([
      ['view_item', 1700000000000],
      ['add_to_cart', 1700000060000],
      ['purchase', 1700000120000],
    ]);
    expect(log.has('u2')).toBe(false);
    expect(() => parseEventLog('u1,i1,1700000000,view\nu1,i1\n')).toThrow(/row 2/);
    expect(() => parseEventLog('u1,i1,1700000000,view\nu1,i1,soon,view\n')).toThrow(/row 2: bad timestamp/);
    expect(() => parseEventLog('u1,i1,1700000000,view\n')).toThrow(/no purchase events/);
  });

  it('fits on earlier sessions and measures on later ones: carts buy more, and it says so', () => {
    const rand = mulberry32(11);
    const rows = ['user,item,timestamp,event_type'];
    const t0 = 1_700_000_000; // seconds
    for (let u = 0; u < 1500; u++) {
      let t = t0 + u * 7;
      for (let s = 0; s < 3; s++) {
        const views = 1 + Math.floor(rand() * 4);
        for (let v = 0; v < views; v++) rows.push(`u${u},i${v},${(t += 30)},view`);
        const cart = rand() < 0.4;
        if (cart) rows.push(`u${u},i0,${(t += 30)},addtocart`);
        if (rand() < (cart ? 0.6 : 0.05)) rows.push(`u${u},i0,${(t += 30)},transaction`);
        t += 86_400;
      }
    }
    const { model, report, trainSessions } = measureCalibration(parseEventLog(rows.join('\n')));
    expect(trainSessions).toBe(Math.floor(4500 * 0.8));
    expect(report.n).toBe(4500 - trainSessions);
    expect(report.ece).toBeLessThan(0.05);
    expect(report.brier).toBeLessThan(report.brierBaseRate);
    const withCart = predict(model, [Math.log1p(2), Math.log1p(2), Math.log1p(1), 1, Math.log1p(1.5), Math.log1p(1), 0, 0, Math.log1p(1)]);
    const without = predict(model, [Math.log1p(2), Math.log1p(2), 0, 0, Math.log1p(1), Math.log1p(1), 0, 0, Math.log1p(1)]);
    expect(withCart).toBeGreaterThan(0.45);
    expect(without).toBeLessThan(0.15);
  });
});
