// Scoring an attack: pooled precision and recall of the items it names, chance levels, a
// binomial band to tell "at chance" from "better than chance", and byte entropy.

/** Shannon entropy of the byte histogram in bits per byte (8 is the maximum). */
export function entropyBitsPerByte(bytes: Uint8Array): number {
  if (bytes.length === 0) return 0;
  const counts = new Float64Array(256);
  for (const b of bytes) counts[b] += 1;
  let h = 0;
  for (const c of counts) {
    if (c > 0) {
      const p = c / bytes.length;
      h -= p * Math.log2(p);
    }
  }
  return h;
}

/**
 * The plug-in estimator's expected shortfall for truly uniform bytes (Miller–Madow):
 * (256 − 1) / (2 n ln 2) bits. Small bodies read below 8 even when they are uniform.
 */
export function uniformEntropyShortfall(n: number): number {
  return n > 0 ? 255 / (2 * n * Math.LN2) : 8;
}

/** Running totals of one attack over many shoppers. */
export class AttackScore {
  hits = 0;
  predicted = 0;
  actual = 0;
  shoppers = 0;
  /** expected hits of a guesser naming the same number of items at random */
  chanceHits = 0;

  /** `predicted`: the items the attacker names; `actual`: the shopper's items; `catalogSize`: what it chose from. */
  add(predicted: Iterable<string>, actual: ReadonlySet<string>, catalogSize: number): void {
    let n = 0;
    for (const item of predicted) {
      n += 1;
      if (actual.has(item)) this.hits += 1;
    }
    this.predicted += n;
    this.actual += actual.size;
    this.shoppers += 1;
    this.chanceHits += (n * actual.size) / catalogSize;
  }

  get precision(): number {
    return this.predicted ? this.hits / this.predicted : NaN;
  }

  get recall(): number {
    return this.actual ? this.hits / this.actual : NaN;
  }

  /** a random guess of the same sizes: precision = |items| / |catalog|, recall = |named| / |catalog| */
  get chancePrecision(): number {
    return this.predicted ? this.chanceHits / this.predicted : NaN;
  }

  get chanceRecall(): number {
    return this.actual ? this.chanceHits / this.actual : NaN;
  }

  /** the hit count's two-sided band at `confidence` if each true item were found with chance probability */
  chanceBand(confidence = 0.999): [number, number] {
    const p = this.actual ? this.chanceHits / this.actual : 0;
    return binomialBand(this.actual, p, confidence);
  }

  atChance(confidence = 0.999): boolean {
    const [lo, hi] = this.chanceBand(confidence);
    return this.hits >= lo && this.hits <= hi;
  }

  toJSON(): Record<string, number | boolean> {
    const [bandLow, bandHigh] = this.chanceBand();
    return {
      shoppers: this.shoppers, hits: this.hits, predicted: this.predicted, actual: this.actual,
      precision: this.precision, recall: this.recall, chancePrecision: this.chancePrecision, chanceRecall: this.chanceRecall,
      chanceBandLow: bandLow, chanceBandHigh: bandHigh, atChance: this.atChance(),
    };
  }
}

function logChoose(n: number, k: number): number {
  return logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1);
}

/** Lanczos approximation (g = 7, 9 terms): ample for binomial tails. */
function logGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

export function binomialPmf(n: number, p: number, k: number): number {
  if (p <= 0) return k === 0 ? 1 : 0;
  if (p >= 1) return k === n ? 1 : 0;
  return Math.exp(logChoose(n, k) + k * Math.log(p) + (n - k) * Math.log1p(-p));
}

/** Smallest lo and largest hi with P(X < lo) ≤ α/2 and P(X > hi) ≤ α/2, X ~ Binomial(n, p), α = 1 − confidence. */
export function binomialBand(n: number, p: number, confidence: number): [number, number] {
  const tail = (1 - confidence) / 2;
  let cdf = 0;
  let lo = 0;
  for (let k = 0; k <= n; k++) {
    cdf += binomialPmf(n, p, k);
    if (cdf > tail) {
      lo = k;
      break;
    }
  }
  let upper = 0;
  let hi = n;
  for (let k = n; k >= 0; k--) {
    upper += binomialPmf(n, p, k);
    if (upper > tail) {
      hi = k;
      break;
    }
  }
  return [lo, hi];
}

/** Exact (Clopper–Pearson) one-sided bounds on a binomial proportion, by bisection on the tail. */
export function proportionBounds(successes: number, n: number, confidence: number): { low: number; high: number } {
  const alpha = 1 - confidence;
  const tailAtLeast = (p: number) => {
    let s = 0;
    for (let k = successes; k <= n; k++) s += binomialPmf(n, p, k);
    return s;
  };
  const tailAtMost = (p: number) => {
    let s = 0;
    for (let k = 0; k <= successes; k++) s += binomialPmf(n, p, k);
    return s;
  };
  const bisect = (f: (p: number) => boolean) => {
    let a = 0;
    let b = 1;
    for (let i = 0; i < 50; i++) {
      const m = (a + b) / 2;
      if (f(m)) b = m;
      else a = m;
    }
    return (a + b) / 2;
  };
  const low = successes === 0 ? 0 : bisect((p) => tailAtLeast(p) > alpha);
  const high = successes === n ? 1 : bisect((p) => tailAtMost(p) < alpha);
  return { low, high };
}
