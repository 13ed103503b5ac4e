// Aggregation strategies: how one round's client deltas become one global update.
// One small class each behind one interface (in the spirit of Flower's strategies).
// Deltas arrive already decoded to floats; strategies never see who sent what.
import { gaussian } from '../federated/summary.ts';

/** Collects one round's accepted deltas. */
export interface RoundAccumulator {
  add(delta: Float32Array, withinClip: boolean): void;
  /** adds the delta ints / scale, decoding straight from the summary's fixed-point values */
  addQuantized(ints: QuantizedValues, scale: number, withinClip: boolean): void;
  /** optional: adds the integer sum of `count` summaries at one scale (the aggregator's RunningSum) */
  addPresummed?(intSum: Int32Array | Float64Array, scale: number, count: number, withinClipCount: number): void;
  readonly count: number;
}

export type QuantizedValues = Int8Array | Int16Array | Int32Array;

function dequantized(ints: QuantizedValues, scale: number): Float32Array {
  const out = new Float32Array(ints.length);
  const inv = 1 / scale;
  for (let i = 0; i < out.length; i++) out[i] = ints[i] * inv;
  return out;
}

export interface RoundOutcome {
  /** the aggregated update to hand to the server optimiser (a pseudo-gradient, sign: +) */
  update: Float32Array;
  /** noise multiplier z of the released sum (for the accountant); null if no DP */
  noiseMultiplier: number | null;
  /** std of the Gaussian noise in each coordinate of `update` (0 without DP): lets the server optimiser tell noise from signal */
  noiseStd: number;
}

export interface ClientSettings {
  clipNorm: number;
  clientNoiseStd: number;
}

export interface AggregationStrategy {
  readonly name: string;
  /**
   * What the strategy aggregates from: 'sum' (its accumulator has addPresummed; the server
   * may keep running sums, memory independent of the cohort) or 'summaries' (it needs every
   * upload, e.g. order statistics; the store keeps all of them until the round closes).
   */
  readonly needs: 'sum' | 'summaries';
  /** clip bound and client-side noise for a round with this target cohort size */
  clientSettings(targetCohort: number): ClientSettings;
  begin(length: number, settings: ClientSettings): RoundAccumulator;
  /** the round's update; may adapt the strategy's own state (e.g. the clip norm) */
  finish(acc: RoundAccumulator, random: () => number): RoundOutcome;
  /** JSON-serialisable state that must survive a restart */
  saveState(): unknown;
  loadState(state: unknown): void;
}

/** Streaming sum: memory is one Float64Array of the model's size, whatever the cohort. */
class SumAccumulator implements RoundAccumulator {
  readonly sum: Float64Array;
  count = 0;
  withinClipCount = 0;
  constructor(length: number) {
    this.sum = new Float64Array(length);
  }
  add(delta: Float32Array, withinClip: boolean): void {
    const s = this.sum;
    for (let i = 0; i < s.length; i++) s[i] += delta[i];
    this.count++;
    if (withinClip) this.withinClipCount++;
  }
  addQuantized(ints: QuantizedValues, scale: number, withinClip: boolean): void {
    const s = this.sum;
    if (ints.length !== s.length) throw new Error(`summary has ${ints.length} values, accumulator ${s.length}`);
    const inv = 1 / scale;
    for (let i = 0; i < s.length; i++) s[i] += ints[i] * inv;
    this.count++;
    if (withinClip) this.withinClipCount++;
  }
  /** adds a sum of `count` summaries' integers (all at `scale`) that the caller kept itself */
  addPresummed(intSum: Int32Array | Float64Array, scale: number, count: number, withinClipCount: number): void {
    const s = this.sum;
    if (intSum.length !== s.length) throw new Error(`sum has ${intSum.length} values, accumulator ${s.length}`);
    const inv = 1 / scale;
    for (let i = 0; i < s.length; i++) s[i] += intSum[i] * inv;
    this.count += count;
    this.withinClipCount += withinClipCount;
  }
}

/**
 * FedAvg (McMahan et al. 2017) with equal client weights: the summary protocol does not
 * carry example counts (they would reveal how much a shopper browses), so "weighted" here
 * means every participating shopper weighs 1.
 */
export class FedAvg implements AggregationStrategy {
  readonly name = 'fedavg';
  readonly needs = 'sum';
  constructor(private readonly clipNorm = 10) {}
  clientSettings(): ClientSettings {
    return { clipNorm: this.clipNorm, clientNoiseStd: 0 };
  }
  begin(length: number): SumAccumulator {
    return new SumAccumulator(length);
  }
  finish(acc: RoundAccumulator): RoundOutcome {
    const a = acc as SumAccumulator;
    const update = new Float32Array(a.sum.length);
    for (let i = 0; i < update.length; i++) update[i] = a.sum[i] / a.count;
    return { update, noiseMultiplier: null, noiseStd: 0 };
  }
  saveState(): unknown {
    return {};
  }
  loadState(): void {}
}

/** Keeps every delta: needed for order statistics. Memory grows with the cohort (bounded by maxParticipants). */
class StoringAccumulator implements RoundAccumulator {
  readonly deltas: Float32Array[] = [];
  get count(): number {
    return this.deltas.length;
  }
  add(delta: Float32Array): void {
    this.deltas.push(delta);
  }
  addQuantized(ints: QuantizedValues, scale: number): void {
    this.deltas.push(dequantized(ints, scale));
  }
}

/**
 * Robust rule: norm bounding (clients clip to clipNorm, the server rejects larger norms)
 * plus the coordinate-wise trimmed mean (Yin et al. 2018): per coordinate, drop the
 * `trimFraction` largest and smallest values and average the rest. trimFraction = 0.5
 * gives the coordinate-wise median.
 */
export class TrimmedMean implements AggregationStrategy {
  readonly name: string;
  /** per coordinate, the order statistics of all the round's values: memory grows with the cohort */
  readonly needs = 'summaries';
  constructor(private readonly clipNorm = 10, private readonly trimFraction = 0.1) {
    if (trimFraction < 0 || trimFraction > 0.5) throw new Error('trimFraction must be in [0, 0.5]');
    this.name = trimFraction >= 0.5 ? 'median' : 'trimmed-mean';
  }
  clientSettings(): ClientSettings {
    return { clipNorm: this.clipNorm, clientNoiseStd: 0 };
  }
  begin(): StoringAccumulator {
    return new StoringAccumulator();
  }
  finish(acc: RoundAccumulator): RoundOutcome {
    const deltas = (acc as StoringAccumulator).deltas;
    const n = deltas.length;
    const d = deltas[0].length;
    const update = new Float32Array(d);
    const column = new Float64Array(n);
    const median = this.trimFraction >= 0.5;
    const cut = Math.floor(this.trimFraction * n);
    for (let j = 0; j < d; j++) {
      for (let i = 0; i < n; i++) column[i] = deltas[i][j];
      column.sort();
      if (median) update[j] = n % 2 ? column[(n - 1) / 2] : (column[n / 2 - 1] + column[n / 2]) / 2;
      else {
        let s = 0;
        for (let i = cut; i < n - cut; i++) s += column[i];
        update[j] = s / (n - 2 * cut);
      }
    }
    return { update, noiseMultiplier: null, noiseStd: 0 };
  }
  saveState(): unknown {
    return {};
  }
  loadState(): void {}
}

export interface DpFedAvgOptions {
  /** noise multiplier z of the whole round (update and clip-count queries together) */
  noiseMultiplier: number;
  initialClipNorm: number;
  /** 'central': the server adds the noise; 'distributed': each client adds its share */
  noiseMode: 'central' | 'distributed';
  /** adaptive clipping (Andrew et al. 2021): target fraction of unclipped updates γ, learning rate η_C */
  adaptiveClipping: boolean;
  targetUnclippedQuantile: number;
  clipLearningRate: number;
  /**
   * Soft-threshold the noised mean at this many noise stds (0: off). Post-processing, so free
   * in privacy: most coordinates of a recommender's update carry almost no signal (item rows
   * nobody in the cohort touched), and without it every one of them takes a pure-noise step
   * each round, which scrambles the item embeddings (Donoho 1995's denoiser for sparse signals).
   * Off by default: on Beauty at ε = 8 it also removed the weak signal FedAdam learns from
   * (BENCHMARKS.md, Federated); pair it with ServerAdam's noiseFloor.
   */
  denoiseThreshold: number;
}

/**
 * User-level DP-FedAvg (McMahan et al. 2018) with adaptive clipping (Andrew et al. 2021,
 * "Differentially Private Learning with Adaptive Clipping").
 *
 * Each round: clients clip their delta to C; the server releases
 *   mean = (Σ Δ_i + N(0, (z_Δ·C)²)) / n
 * and a noised count of unclipped clients b̃ = (Σ b_i + N(0, σ_b²)) / n, then sets
 *   C ← C · exp(−η_C (b̃ − γ)).
 * The two queries compose to an overall noise multiplier z with z⁻² = z_Δ⁻² + (2σ_b)⁻²
 * (Andrew et al., Thm. 1), so z_Δ is chosen from the target z; σ_b = n/20 as the paper
 * suggests (raised for small cohorts, see countNoiseStd). The participant count n is treated as public (as TFF does with its fixed
 * clients-per-round denominator).
 */
export class DpFedAvg implements AggregationStrategy {
  readonly name = 'dp-fedavg';
  readonly needs = 'sum';
  private clipNorm: number;
  private readonly opts: DpFedAvgOptions;
  private lastSettings: ClientSettings | null = null;

  constructor(options: Partial<DpFedAvgOptions> = {}) {
    this.opts = {
      noiseMultiplier: 1.0,
      // below the median norm of a one-step client delta (0.37, BENCHMARKS.md "ε–quality
      // curve"), where adaptive clipping settles; starting there spends no rounds getting there
      initialClipNorm: 0.3,
      noiseMode: 'central',
      adaptiveClipping: true,
      targetUnclippedQuantile: 0.5,
      clipLearningRate: 0.2,
      denoiseThreshold: 0,
      ...options,
    };
    this.clipNorm = this.opts.initialClipNorm;
  }

  get currentClipNorm(): number {
    return this.clipNorm;
  }

  /**
   * σ_b: n/20 as Andrew et al. suggest, but never so small that the count query takes more
   * than 5% of the privacy budget ((2σ_b)⁻² ≤ 0.05·z⁻²), which small cohorts would otherwise hit.
   */
  private countNoiseStd(targetCohort: number): number {
    const z = this.opts.noiseMultiplier;
    if (!this.opts.adaptiveClipping || z <= 0) return 0;
    return Math.max(targetCohort / 20, z / (2 * Math.sqrt(0.05)));
  }

  /** the noise multiplier left for the update sum once the clip-count query takes its share */
  updateNoiseMultiplier(targetCohort: number): number {
    const z = this.opts.noiseMultiplier;
    const sb = this.countNoiseStd(targetCohort);
    if (z === 0 || sb === 0) return z;
    const inv = z ** -2 - (2 * sb) ** -2;
    if (inv <= 0) throw new Error('noise multiplier too small for the clip-count noise; raise it or the cohort');
    return inv ** -0.5;
  }

  clientSettings(targetCohort: number): ClientSettings {
    const zDelta = this.updateNoiseMultiplier(targetCohort);
    const clientNoiseStd = this.opts.noiseMode === 'distributed' ? (zDelta * this.clipNorm) / Math.sqrt(targetCohort) : 0;
    return { clipNorm: this.clipNorm, clientNoiseStd };
  }

  begin(length: number, settings: ClientSettings): SumAccumulator {
    this.lastSettings = settings;
    return new SumAccumulator(length);
  }

  finish(acc: RoundAccumulator, random: () => number): RoundOutcome {
    const a = acc as SumAccumulator;
    const n = a.count;
    const settings = this.lastSettings ?? this.clientSettings(n);
    const normal = gaussian(random);
    // the round's noise is sized for the cohort the clients were told about
    const zDelta = this.updateNoiseMultiplier(Math.max(n, 1));
    const serverStd = this.opts.noiseMode === 'central' ? zDelta * settings.clipNorm : 0;
    const update = new Float32Array(a.sum.length);
    for (let i = 0; i < update.length; i++) update[i] = (a.sum[i] + serverStd * normal()) / n;
    // per-coordinate noise std of the mean: the server's noise, or n clients' shares of it
    const noiseStd = this.opts.noiseMode === 'central' ? serverStd / n : (settings.clientNoiseStd * Math.sqrt(n)) / n;
    const lambda = this.opts.denoiseThreshold * noiseStd;
    if (lambda > 0) for (let i = 0; i < update.length; i++) update[i] = Math.sign(update[i]) * Math.max(Math.abs(update[i]) - lambda, 0);
    if (this.opts.adaptiveClipping) {
      const sb = this.countNoiseStd(n);
      const unclipped = (a.withinClipCount + sb * normal()) / n;
      this.clipNorm *= Math.exp(-this.opts.clipLearningRate * (unclipped - this.opts.targetUnclippedQuantile));
    }
    return { update, noiseMultiplier: this.opts.noiseMultiplier, noiseStd };
  }

  saveState(): unknown {
    return { clipNorm: this.clipNorm };
  }
  loadState(state: unknown): void {
    const s = state as { clipNorm?: number } | null;
    if (s && typeof s.clipNorm === 'number' && s.clipNorm > 0) this.clipNorm = s.clipNorm;
  }
}
