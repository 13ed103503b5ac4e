// Rényi-DP accountant for the sampled Gaussian mechanism (Mironov, Talwar & Zhang 2019,
// "Rényi Differential Privacy of the Sampled Gaussian Mechanism"). This is a port of the
// computation in TF-Privacy's rdp_accountant.compute_rdp (same orders, same integer and
// fractional-order formulas), so numbers can be checked against published TF-Privacy output.
//
// Used by the aggregation server: one DP-FedAvg round with cohort sampling rate q and
// noise multiplier z is one sampled Gaussian mechanism step at user level.
// Pure TypeScript: runs in Node and in the browser worker.

/** TF-Privacy / Opacus default orders. */
export const DEFAULT_ORDERS: readonly number[] = [
  ...Array.from({ length: 99 }, (_, x) => 1 + (x + 1) / 10),
  ...Array.from({ length: 52 }, (_, x) => 12 + x),
];

/** log(exp(a) + exp(b)) without overflow. */
function logAdd(a: number, b: number): number {
  const hi = Math.max(a, b);
  const lo = Math.min(a, b);
  if (lo === -Infinity) return hi;
  return Math.log1p(Math.exp(lo - hi)) + hi;
}

/** log(exp(a) - exp(b)) for a >= b. */
function logSub(a: number, b: number): number {
  if (b === -Infinity) return a;
  if (a < b) throw new Error('logSub: negative result');
  if (a === b) return -Infinity;
  return Math.log(-Math.expm1(b - a)) + a;
}

/** ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9: ~15 significant digits). */
function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** ln C(n, k) for integers 0 <= k <= n. */
function logBinomInt(n: number, k: number): number {
  return logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1);
}

/**
 * ln erfc(x), accurate in the far tail (where erfc underflows). Uses the Chebyshev fit of
 * Numerical Recipes' erfcc (relative error < 1.2e-7 everywhere), evaluated in log space.
 */
export function logErfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const poly =
    -z * z - 1.26551223 +
    t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 +
    t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  const logTail = Math.log(t) + poly; // ln erfc(|x|)
  if (x >= 0) return logTail;
  return Math.log(2 - Math.exp(logTail)); // erfc(-z) = 2 - erfc(z)
}

/** ln A_α for integer α (Mironov et al. 2019, Sec. 3.3). */
function logAInt(q: number, sigma: number, alpha: number): number {
  let logA = -Infinity;
  for (let i = 0; i <= alpha; i++) {
    const logCoef = logBinomInt(alpha, i) + i * Math.log(q) + (alpha - i) * Math.log(1 - q);
    logA = logAdd(logA, logCoef + (i * i - i) / (2 * sigma * sigma));
  }
  return logA;
}

/** ln A_α for fractional α (Mironov et al. 2019, Sec. 3.3): two converging series. */
function logAFrac(q: number, sigma: number, alpha: number): number {
  let logA0 = -Infinity;
  let logA1 = -Infinity;
  const z0 = sigma * sigma * Math.log(1 / q - 1) + 0.5;
  let coef = 1; // C(α, i), the generalised binomial coefficient, built up term by term
  for (let i = 0; ; i++) {
    if (i > 0) coef *= (alpha - i + 1) / i;
    const logCoef = Math.log(Math.abs(coef));
    const j = alpha - i;
    const logT0 = logCoef + i * Math.log(q) + j * Math.log(1 - q);
    const logT1 = logCoef + j * Math.log(q) + i * Math.log(1 - q);
    const logE0 = Math.log(0.5) + logErfc((i - z0) / (Math.SQRT2 * sigma));
    const logE1 = Math.log(0.5) + logErfc((z0 - j) / (Math.SQRT2 * sigma));
    const logS0 = logT0 + (i * i - i) / (2 * sigma * sigma) + logE0;
    const logS1 = logT1 + (j * j - j) / (2 * sigma * sigma) + logE1;
    if (coef > 0) {
      logA0 = logAdd(logA0, logS0);
      logA1 = logAdd(logA1, logS1);
    } else {
      logA0 = logSub(logA0, logS0);
      logA1 = logSub(logA1, logS1);
    }
    if (Math.max(logS0, logS1) < -30 || i > 10_000) break;
  }
  return logAdd(logA0, logA1);
}

/** RDP ε(α) of ONE step of the sampled Gaussian mechanism (sampling rate q, noise multiplier σ). */
export function rdpOneStep(q: number, noiseMultiplier: number, order: number): number {
  if (q === 0) return 0;
  if (noiseMultiplier === 0) return Infinity;
  if (q === 1) return order / (2 * noiseMultiplier * noiseMultiplier);
  if (!Number.isFinite(order)) return Infinity;
  const logA = Number.isInteger(order) ? logAInt(q, noiseMultiplier, order) : logAFrac(q, noiseMultiplier, order);
  return logA / (order - 1);
}

/** RDP of `steps` compositions, one value per order (RDP composes additively). */
export function computeRdp(q: number, noiseMultiplier: number, steps: number, orders: readonly number[] = DEFAULT_ORDERS): number[] {
  return orders.map((a) => rdpOneStep(q, noiseMultiplier, a) * steps);
}

export type Conversion = 'classic' | 'improved';

export interface PrivacySpent {
  epsilon: number;
  delta: number;
  /** the RDP order at which the bound is tightest */
  order: number;
}

/**
 * RDP → (ε, δ)-DP, minimised over orders.
 * - 'classic': ε = RDP(α) − ln δ / (α − 1) (Mironov 2017, Prop. 3); what TF-Privacy's
 *   tutorials printed (e.g. ε = 3.01 for the MNIST example) and what we test against.
 * - 'improved' (default): ε = RDP(α) + ln((α−1)/α) − (ln δ + ln α)/(α − 1)
 *   (Balle et al. 2020, Thm. 21; Canonne, Kamath & Steinke 2020), as Opacus'
 *   get_privacy_spent and current TF-Privacy compute. Always ≤ the classic value.
 */
export function rdpToDp(orders: readonly number[], rdp: readonly number[], delta: number, conversion: Conversion = 'improved'): PrivacySpent {
  if (!(delta > 0 && delta < 1)) throw new Error('delta must be in (0, 1)');
  let best: PrivacySpent = { epsilon: Infinity, delta, order: NaN };
  orders.forEach((a, i) => {
    if (a <= 1) return;
    let eps: number;
    if (conversion === 'classic') eps = rdp[i] - Math.log(delta) / (a - 1);
    else eps = rdp[i] + Math.log((a - 1) / a) - (Math.log(delta) + Math.log(a)) / (a - 1);
    if (eps < 0) eps = 0; // ε is never negative; the improved bound can undershoot on tiny RDP
    if (eps < best.epsilon) best = { epsilon: eps, delta, order: a };
  });
  return best;
}

/**
 * Running privacy ledger: each step (a federated round, or a DP-SGD batch) with its own q
 * and σ adds its RDP curve. Rounds may differ (cohort size changes), hence per-step inputs.
 */
export class RdpAccountant {
  private readonly rdp: number[];
  private stepCount = 0;

  constructor(readonly orders: readonly number[] = DEFAULT_ORDERS) {
    this.rdp = orders.map(() => 0);
  }

  get steps(): number {
    return this.stepCount;
  }

  /** Records `steps` steps of the sampled Gaussian mechanism. */
  step(q: number, noiseMultiplier: number, steps = 1): void {
    const curve = computeRdp(q, noiseMultiplier, steps, this.orders);
    curve.forEach((v, i) => (this.rdp[i] += v));
    this.stepCount += steps;
  }

  spent(delta: number, conversion: Conversion = 'improved'): PrivacySpent {
    if (this.stepCount === 0) return { epsilon: 0, delta, order: NaN };
    return rdpToDp(this.orders, this.rdp, delta, conversion);
  }

  /** Serialisable state, so a restarted server keeps the privacy ledger. */
  toJSON(): { orders: number[]; rdp: number[]; steps: number } {
    return { orders: [...this.orders], rdp: [...this.rdp], steps: this.stepCount };
  }

  static fromJSON(state: { orders: number[]; rdp: number[]; steps: number }): RdpAccountant {
    const acc = new RdpAccountant(state.orders);
    state.rdp.forEach((v, i) => (acc.rdp[i] = v));
    acc.stepCount = state.steps;
    return acc;
  }
}

/** ε of a single step alone, for reporting "ε per round". */
export function epsilonOfOneStep(q: number, noiseMultiplier: number, delta: number, conversion: Conversion = 'improved'): number {
  return rdpToDp(DEFAULT_ORDERS, computeRdp(q, noiseMultiplier, 1), delta, conversion).epsilon;
}

/**
 * Smallest noise multiplier (to 1e-3) giving ε ≤ target after `steps` steps at rate q:
 * used to calibrate DP runs to a budget. Bisection: ε is decreasing in σ.
 * `spentRdp` (per DEFAULT_ORDERS) is what other releases about the same users already
 * spent: the steps are calibrated so that the composition of both meets the target.
 */
export function noiseForEpsilon(q: number, steps: number, targetEpsilon: number, delta: number, conversion: Conversion = 'improved', spentRdp?: readonly number[]): number {
  const eps = (z: number) => rdpToDp(DEFAULT_ORDERS, computeRdp(q, z, steps).map((v, i) => v + (spentRdp?.[i] ?? 0)), delta, conversion).epsilon;
  let lo = 0.05;
  let hi = 1;
  while (eps(hi) > targetEpsilon) {
    hi *= 2;
    if (hi > 1e4) throw new Error('target epsilon unreachable');
  }
  while (hi - lo > 1e-3) {
    const mid = (lo + hi) / 2;
    if (eps(mid) > targetEpsilon) lo = mid;
    else hi = mid;
  }
  return hi;
}
