import { describe, expect, it } from 'vitest';
import type { RoundTask } from '../../federated/protocol.ts';
import { CLIENT_FLOORS, refusalReason, type TaskPrivacyPromise } from '../../workers/privacy-floors.ts';

const model: RoundTask = { kind: 'model', roundId: 1, modelVersion: 1, length: 100, epochs: 1, learningRate: 0.2, batchSize: 4, optimizer: 'sgd', clipNorm: 0.3, clientNoiseStd: 0, bits: 8, scale: 100, deadline: 0 };
const popularity: RoundTask = { ...model, kind: 'popularity', maxItems: 20, clipNorm: Math.sqrt(20) };
const task = (t: RoundTask, extra: Partial<RoundTask> & TaskPrivacyPromise = {}) => ({ ...t, ...extra });

describe('client-side privacy floors', () => {
  it('accepts tasks within the floors, including ones that promise nothing beyond RoundTask', () => {
    expect(refusalReason(model)).toBeNull();
    expect(refusalReason(popularity)).toBeNull();
    expect(refusalReason(task(model, { minParticipants: 10, noiseMultiplier: 1, epsilon: 8 }), 7.9)).toBeNull();
  });

  it('refuses a clip norm above the maximum, or one that is not a positive number', () => {
    expect(refusalReason(task(model, { clipNorm: CLIENT_FLOORS.maxClipNorm }))).toBeNull();
    expect(refusalReason(task(model, { clipNorm: 1.71 }))).toMatch(/clip norm 1.71 above 1.5/);
    expect(refusalReason(task(model, { clipNorm: 0 }))).toMatch(/not a positive number/);
    expect(refusalReason(task(model, { clipNorm: NaN }))).toMatch(/not a positive number/);
  });

  it('refuses a popularity round that asks for too many items (its clip is √maxItems, not the model clip)', () => {
    expect(refusalReason(task(popularity, { maxItems: 50, clipNorm: Math.sqrt(50) }))).toBeNull();
    expect(refusalReason(task(popularity, { maxItems: 51, clipNorm: Math.sqrt(51) }))).toMatch(/51 items/);
    expect(refusalReason(task(popularity, { maxItems: undefined }))).toMatch(/Infinity items/);
  });

  it('refuses a promised cohort below the minimum', () => {
    expect(refusalReason(task(model, { minParticipants: 9 }))).toMatch(/cohort of 9/);
    expect(refusalReason(task(model, { minParticipants: 1 }))).toMatch(/cohort of 1/);
  });

  it('refuses too little noise, central or summed from client shares at the promised cohort', () => {
    expect(refusalReason(task(model, { noiseMultiplier: 0.4 }))).toMatch(/noise multiplier 0.400 below 0.5/);
    // distributed: σ = z·C/√n per client; at n = 100 and z = 1 each share is 0.1·C
    expect(refusalReason(task(model, { clientNoiseStd: 0.03, minParticipants: 100 }))).toBeNull();
    expect(refusalReason(task(model, { clientNoiseStd: 0.003, minParticipants: 100 }))).toMatch(/noise multiplier 0.100/);
    // noise sized for a large cap (0.014 per client), a small cohort actually promised
    expect(refusalReason(task(model, { clientNoiseStd: 0.3 * 0.014, minParticipants: 10 }))).toMatch(/noise multiplier/);
  });

  it('refuses a promised or already spent ε above the maximum', () => {
    expect(refusalReason(task(model, { epsilon: 8.5 }))).toMatch(/promises ε 8.5/);
    expect(refusalReason(model, 21.44)).toMatch(/spent ε 21.44/);
    expect(refusalReason(model, 8)).toBeNull();
  });

  it('cannot be loosened by the page: the compiled floors are frozen', () => {
    expect(Object.isFrozen(CLIENT_FLOORS)).toBe(true);
  });
});
