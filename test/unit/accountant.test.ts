import { describe, expect, it } from 'vitest';
import { computeRdp, DEFAULT_ORDERS, noiseForEpsilon, RdpAccountant, rdpOneStep, rdpToDp } from '../../federated/accountant.ts';

// Published values: TF-Privacy's MNIST DP-SGD tutorial table (tensorflow/privacy,
// tutorials/README.md, "Select Parameters"): N = 60000, batch 256, δ = 1e-5, computed with
// its RDP accountant and the classic RDP→DP conversion:
//   σ = 1.3, 15 epochs → ε = 1.19;  σ = 1.1, 60 epochs → ε = 3.01;  σ = 0.7, 45 epochs → ε = 7.10
// Steps = ceil(epochs · N / batch) as in compute_dp_sgd_privacy.py.
const published = [
  { sigma: 1.3, epochs: 15, epsilon: 1.19 },
  { sigma: 1.1, epochs: 60, epsilon: 3.01 },
  { sigma: 0.7, epochs: 45, epsilon: 7.1 },
];

describe('RDP accountant (sampled Gaussian mechanism)', () => {
  for (const { sigma, epochs, epsilon } of published) {
    it(`reproduces TF-Privacy's published ε = ${epsilon} for σ = ${sigma}, ${epochs} epochs (classic conversion)`, () => {
      const steps = Math.ceil((epochs * 60000) / 256);
      const spent = rdpToDp(DEFAULT_ORDERS, computeRdp(256 / 60000, sigma, steps), 1e-5, 'classic');
      expect(spent.epsilon).toBeCloseTo(epsilon, 2);
    });
  }

  it('improved conversion (Balle et al. 2020) is tighter than the classic one', () => {
    const rdp = computeRdp(256 / 60000, 1.1, 14063);
    const classic = rdpToDp(DEFAULT_ORDERS, rdp, 1e-5, 'classic').epsilon;
    const improved = rdpToDp(DEFAULT_ORDERS, rdp, 1e-5, 'improved').epsilon;
    expect(improved).toBeLessThan(classic);
    expect(improved).toBeGreaterThan(2); // the tightening is modest, not a collapse
  });

  it('q = 1 is the plain Gaussian mechanism: RDP = α / (2σ²)', () => {
    expect(rdpOneStep(1, 2, 5)).toBeCloseTo(5 / 8, 12);
  });

  it('fractional orders lie between neighbouring integer orders (RDP is monotone in α)', () => {
    const q = 0.01;
    const a = rdpOneStep(q, 1, 3);
    const b = rdpOneStep(q, 1, 3.5);
    const c = rdpOneStep(q, 1, 4);
    expect(b).toBeGreaterThan(a);
    expect(b).toBeLessThan(c);
  });

  it('accountant composes steps additively and round-trips through JSON', () => {
    const acc = new RdpAccountant();
    acc.step(0.01, 1.0, 100);
    acc.step(0.01, 1.0, 100);
    const direct = rdpToDp(DEFAULT_ORDERS, computeRdp(0.01, 1.0, 200), 1e-5).epsilon;
    expect(acc.spent(1e-5).epsilon).toBeCloseTo(direct, 10);
    const restored = RdpAccountant.fromJSON(JSON.parse(JSON.stringify(acc.toJSON())));
    expect(restored.spent(1e-5).epsilon).toBeCloseTo(direct, 10);
    expect(restored.steps).toBe(200);
  });

  it('noiseForEpsilon calibrates σ to meet the budget', () => {
    const z = noiseForEpsilon(0.05, 50, 8, 1e-4);
    const eps = rdpToDp(DEFAULT_ORDERS, computeRdp(0.05, z, 50), 1e-4).epsilon;
    expect(eps).toBeLessThanOrEqual(8);
    const epsLess = rdpToDp(DEFAULT_ORDERS, computeRdp(0.05, z - 0.01, 50), 1e-4).epsilon;
    expect(epsLess).toBeGreaterThan(8 - 0.5);
  });

  it('noiseForEpsilon leaves room for an earlier release about the same users', () => {
    // a one-off Gaussian release (q = 1, σ = 4) composed with 50 sampled rounds
    const spent = computeRdp(1, 4, 1);
    const alone = noiseForEpsilon(0.05, 50, 8, 1e-4);
    const z = noiseForEpsilon(0.05, 50, 8, 1e-4, 'improved', spent);
    const composed = (sigma: number) => rdpToDp(DEFAULT_ORDERS, computeRdp(0.05, sigma, 50).map((v, i) => v + spent[i]), 1e-4).epsilon;
    expect(composed(z)).toBeLessThanOrEqual(8);
    expect(composed(alone)).toBeGreaterThan(8); // without the room the budget would be overspent
    expect(z).toBeGreaterThan(alone);
    expect(composed(z - 0.01)).toBeGreaterThan(8 - 0.5);
  });
});
