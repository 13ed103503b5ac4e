// Membership inference on the released popularity counts, against the ε the ledger records.
//
// The mechanism as released: the sum of the cohort's 0/1 bucket indicators plus discrete
// Gaussian noise N_Z(0, σ²) per bucket (federated/dp/discrete-gaussian.ts), σ = z·√maxItems
// with z = noiseForEpsilon(q = 1, 1 release, ε, δ), as server/deployment.ts sizes it. The
// attacker is as strong as DP allows for: it knows every other shopper's items, so the
// cohort's counts cancel and only the target's presence and the noise remain. It runs the
// likelihood-ratio test: for a discrete Gaussian the log-ratio of "target in" to "target out"
// is (Σ_b (y_b − c_b) − k/2)/σ² over the target's k buckets, so thresholding the sum
// over the target's buckets is the optimal test. Buckets outside the target's are
// independent of its presence and carry nothing, so each trial draws the noise on the
// target's buckets only. In secure mode each aggregator adds its own noise of the same σ;
// a curious aggregator knows its own, so the view it attacks carries one draw (noiseShares 1),
// an outsider's two (noiseShares 2).
import { discreteGaussianVector } from '../../federated/dp/discrete-gaussian.ts';
import { proportionBounds } from './stats.ts';

export interface MembershipOptions {
  epsilon: number;
  delta: number;
  /** noise std / √maxItems, as the server computes it for ε */
  noiseMultiplier: number;
  maxItems: number;
  /** distinct buckets of the target shopper (≤ maxItems) */
  targetBuckets: number;
  /** trials with the target and without it, each */
  trials: number;
  /** how many aggregators' noise draws the attacked view carries */
  noiseShares: 1 | 2;
  /** the rest of the cohort's counts on the target's buckets (known to the attacker) */
  cohortCounts: readonly number[];
}

export interface MembershipPoint {
  fpr: number;
  tpr: number;
  /** e^ε·FPR + δ: the most any test can reach at this FPR */
  bound: number;
  /** the Gaussian trade-off an optimal test reaches with continuous noise: Φ(Φ⁻¹(FPR) + μ) */
  gaussianOptimum: number;
  /** 99.9% lower confidence bound on the TPR (Clopper–Pearson) */
  tprLow: number;
  /** 99.9% upper confidence bound on the realised FPR */
  fprHigh: number;
  /** fails only when the TPR is above the bound beyond sampling error */
  withinBound: boolean;
  /** the ε this point proves at 99.9% confidence: ln((TPR_low − δ) / FPR_high), 0 when none */
  epsilonLowerBound: number;
}

export interface MembershipResult {
  options: Omit<MembershipOptions, 'cohortCounts'>;
  sigma: number;
  points: MembershipPoint[];
}

/** Standard normal CDF. */
function normalCdf(x: number): number {
  // Zelen & Severo 26.2.17, |error| < 7.5e-8
  const t = 1 / (1 + 0.2316419 * Math.abs(x));
  const d = 0.3989422804014327 * Math.exp((-x * x) / 2);
  const p = d * t * (0.31938153 + t * (-0.356563782 + t * (1.781477937 + t * (-1.821255978 + t * 1.330274429))));
  return x >= 0 ? 1 - p : p;
}

function normalQuantile(p: number): number {
  let lo = -10;
  let hi = 10;
  for (let i = 0; i < 100; i++) {
    const m = (lo + hi) / 2;
    if (normalCdf(m) < p) lo = m;
    else hi = m;
  }
  return (lo + hi) / 2;
}

/** The released counts on the target's buckets minus what the attacker knows, summed: the LR statistic. */
function statistic(present: boolean, o: MembershipOptions, sigma: number): number {
  let s = 0;
  for (let share = 0; share < o.noiseShares; share++) {
    const noise = discreteGaussianVector(o.targetBuckets, sigma);
    for (let b = 0; b < o.targetBuckets; b++) s += noise[b];
  }
  // released − known cohort counts: the cohort cancels exactly; kept explicit for clarity
  for (let b = 0; b < o.targetBuckets; b++) s += o.cohortCounts[b] + (present ? 1 : 0) - o.cohortCounts[b];
  return s;
}

export function membershipAttack(o: MembershipOptions, fprs: readonly number[] = [0.01, 0.05, 0.1]): MembershipResult {
  if (o.targetBuckets > o.maxItems) throw new Error('a shopper contributes at most maxItems buckets');
  const sigma = o.noiseMultiplier * Math.sqrt(o.maxItems);
  // thresholds are set on separate calibration trials without the target, then evaluated
  const calibration = Array.from({ length: o.trials }, () => statistic(false, o, sigma)).sort((a, b) => a - b);
  const outs = Array.from({ length: o.trials }, () => statistic(false, o, sigma));
  const ins = Array.from({ length: o.trials }, () => statistic(true, o, sigma));
  const mu = o.targetBuckets / (sigma * Math.sqrt(o.noiseShares * o.targetBuckets));
  const points = fprs.map((target) => {
    const threshold = calibration[Math.min(calibration.length - 1, Math.floor((1 - target) * calibration.length))];
    // "in" when the statistic exceeds the threshold
    const fp = outs.filter((s) => s > threshold).length;
    const tp = ins.filter((s) => s > threshold).length;
    const fpr = fp / o.trials;
    const tpr = tp / o.trials;
    const { low: tprLow } = proportionBounds(tp, o.trials, 0.999);
    const { high: fprHigh } = proportionBounds(fp, o.trials, 0.999);
    const bound = Math.exp(o.epsilon) * fpr + o.delta;
    return {
      fpr, tpr, bound, tprLow, fprHigh,
      gaussianOptimum: normalCdf(normalQuantile(fpr) + mu),
      withinBound: tprLow <= Math.min(1, Math.exp(o.epsilon) * fprHigh + o.delta),
      epsilonLowerBound: tprLow > o.delta ? Math.max(0, Math.log((tprLow - o.delta) / fprHigh)) : 0,
    };
  });
  const { cohortCounts: _, ...options } = o;
  return { options, sigma, points };
}
