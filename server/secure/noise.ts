// Each aggregator's discrete Gaussian noise on its aggregate share, and the signed unshard.
// Each σ alone meets the round's ε for L2 sensitivity √maxWeight: a curious aggregator
// knows (and can subtract) its own noise, so only the other's protects the shoppers from it.
// The discrete Gaussian has the continuous one's zCDP (CKS20, Thm 14), so the ledger records
// one Gaussian release at q = 1, z = σ/√maxWeight.
import { noiseForEpsilon } from '../../federated/accountant.ts';
import { discreteGaussian, CryptoUniform, varianceRatio } from '../../federated/dp/discrete-gaussian.ts';
import type { Field } from '../../federated/vdaf/field.ts';

/** σ of one aggregator's noise for (ε, δ) at q = 1 and sensitivity √maxWeight. */
export function aggregatorSigma(epsilon: number, delta: number, maxWeight: number): number {
  if (!(epsilon > 0 && Number.isFinite(epsilon))) throw new Error('epsilon must be a positive number');
  return noiseForEpsilon(1, 1, epsilon, delta) * Math.sqrt(maxWeight);
}

/** Adds independent N_Z(0, σ²) to each element, mod p (in place). */
export function addDiscreteGaussian(field: Field, share: bigint[], sigma: number): bigint[] {
  const sigma2 = varianceRatio(sigma);
  const rng = new CryptoUniform();
  for (let i = 0; i < share.length; i++) share[i] = field.of(share[i] + discreteGaussian(sigma2, rng));
  return share;
}

/** Σ shares mod p, read as signed (above p/2: negative), for noised counts. */
export function unshardSigned(field: Field, shares: readonly (readonly bigint[])[]): Float32Array {
  const n = shares[0].length;
  const out = new Float32Array(n);
  const half = field.modulus / 2n;
  for (let i = 0; i < n; i++) {
    let s = 0n;
    for (const share of shares) s += share[i];
    s %= field.modulus;
    out[i] = Number(s > half ? s - field.modulus : s);
  }
  return out;
}
