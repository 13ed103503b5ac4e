// Differential privacy as a wrapper around any sum strategy (as Flower's
// DifferentialPrivacy*Fixed/AdaptiveClipping wrappers are around any strategy): clients clip
// to C, the wrapper noises the round's sum with N(0, (z_Δ·C)²) (or has each client add its
// share of that noise), hands the noised sum to the inner rule with the round's *planned*
// cohort as its count, and adapts C from a noised count of unclipped clients (Andrew et al.
// 2021, "Differentially Private Learning with Adaptive Clipping"):
//   C ← C · exp(−η_C (b̃ − γ)),  b̃ = (Σ b_i + N(0, σ_b²)) / cohort, clamped to [0, 1].
// The two queries compose to z with z⁻² = z_Δ⁻² + (2σ_b)⁻² (Andrew et al., Thm. 1).
// The fixed denominator keeps the exact participant count out of the release.
import { gaussian } from '../../federated/summary.ts';
import { FedAvg } from './fedavg.ts';
import type { ClientSettings, RoundContext, RoundOutcome, SummedUpdates, SumStrategy } from './types.ts';

export interface DifferentialPrivacyOptions {
  /** noise multiplier z of the whole round (update and clip-count queries together) */
  noiseMultiplier: number;
  initialClipNorm: number;
  /** 'central': the server adds the noise; 'distributed': each client adds its share */
  noiseMode: 'central' | 'distributed';
  /** adaptive clipping: target fraction of unclipped updates γ, learning rate η_C */
  adaptiveClipping: boolean;
  targetUnclippedQuantile: number;
  clipLearningRate: number;
  /**
   * Adaptive clipping never raises C above this multiple of the initial clip: clients that
   * always report "clipped" (sybils) can then at most move it this far, however many rounds
   */
  maxClipGrowth: number;
  /**
   * Soft-threshold the noised update at this many noise stds (0: off). Post-processing, so
   * free in privacy; off by default (on Beauty at ε = 8 it also removed the weak signal).
   */
  denoiseThreshold: number;
}

export class DifferentialPrivacy implements SumStrategy {
  readonly name: string;
  readonly input = 'sum';
  private clipNorm: number;
  protected readonly opts: DifferentialPrivacyOptions;

  constructor(private readonly inner: SumStrategy, options: Partial<DifferentialPrivacyOptions> = {}, name = `dp-${inner.name}`) {
    this.name = name;
    this.opts = {
      noiseMultiplier: 1.0,
      // below the median norm of a one-step client delta (0.37), where adaptive clipping settles
      initialClipNorm: 0.3,
      noiseMode: 'central',
      adaptiveClipping: true,
      targetUnclippedQuantile: 0.5,
      clipLearningRate: 0.2,
      maxClipGrowth: 4,
      denoiseThreshold: 0,
      ...options,
    };
    if (!(this.opts.noiseMultiplier >= 0 && Number.isFinite(this.opts.noiseMultiplier))) throw new Error('noiseMultiplier must be a finite number ≥ 0');
    this.clipNorm = this.opts.initialClipNorm;
  }

  get currentClipNorm(): number {
    return this.clipNorm;
  }
  get noiseMultiplier(): number {
    return this.opts.noiseMultiplier;
  }
  get noiseMode(): 'central' | 'distributed' {
    return this.opts.noiseMode;
  }

  /**
   * σ_b: cohort/20 as Andrew et al. suggest, but never so small that the count query takes
   * more than 5% of the privacy budget ((2σ_b)⁻² ≤ 0.05·z⁻²), which small cohorts would hit.
   */
  private countNoiseStd(cohort: number): number {
    const z = this.opts.noiseMultiplier;
    if (!this.opts.adaptiveClipping || z <= 0) return 0;
    return Math.max(cohort / 20, z / (2 * Math.sqrt(0.05)));
  }

  /** the noise multiplier left for the update sum once the clip-count query takes its share */
  updateNoiseMultiplier(cohort: number): number {
    const z = this.opts.noiseMultiplier;
    const sb = this.countNoiseStd(cohort);
    if (z === 0 || sb === 0) return z;
    const inv = z ** -2 - (2 * sb) ** -2;
    if (inv <= 0) throw new Error('noise multiplier too small for the clip-count noise; raise it or the cohort');
    return inv ** -0.5;
  }

  clientSettings(expectedCohort: number): ClientSettings {
    const zDelta = this.updateNoiseMultiplier(expectedCohort);
    const clientNoiseStd = this.opts.noiseMode === 'distributed' ? (zDelta * this.clipNorm) / Math.sqrt(expectedCohort) : 0;
    return { clipNorm: this.clipNorm, clientNoiseStd };
  }

  aggregate(round: SummedUpdates, context: RoundContext): RoundOutcome {
    const cohort = Math.max(context.expectedCohort, 1);
    const { clientNoiseStd } = context.settings;
    const normal = gaussian(context.random);
    // sized for the norm the server enforced (clip + rounding), not the clip alone
    const serverStd = this.opts.noiseMode === 'central' ? this.updateNoiseMultiplier(cohort) * context.sensitivity : 0;
    const sum = round.sum;
    if (serverStd > 0) for (let i = 0; i < sum.length; i++) sum[i] += serverStd * normal();
    const sumNoiseStd = serverStd || clientNoiseStd * Math.sqrt(round.count);
    const inner = this.inner.aggregate({ sum, count: cohort, withinClip: round.withinClip, noiseStd: sumNoiseStd }, context);
    const lambda = this.opts.denoiseThreshold * inner.noiseStd;
    const update = inner.update;
    if (lambda > 0) for (let i = 0; i < update.length; i++) update[i] = Math.sign(update[i]) * Math.max(Math.abs(update[i]) - lambda, 0);
    if (this.opts.adaptiveClipping) this.adaptClip(round.withinClip, cohort, normal);
    return { update, noiseMultiplier: this.opts.noiseMultiplier, noiseStd: inner.noiseStd };
  }

  private adaptClip(withinClip: number, cohort: number, normal: () => number): void {
    const noised = (withinClip + this.countNoiseStd(cohort) * normal()) / cohort;
    // clamping is post-processing (free in privacy) and bounds one round's move to exp(±η·max(γ, 1−γ))
    const unclipped = Math.min(1, Math.max(0, noised));
    const next = this.clipNorm * Math.exp(-this.opts.clipLearningRate * (unclipped - this.opts.targetUnclippedQuantile));
    this.clipNorm = Math.min(next, this.opts.initialClipNorm * this.opts.maxClipGrowth);
  }

  saveState(): unknown {
    return { clipNorm: this.clipNorm };
  }
  loadState(state: unknown): void {
    const s = state as { clipNorm?: number } | null;
    if (s && typeof s.clipNorm === 'number' && s.clipNorm > 0) this.clipNorm = s.clipNorm;
  }
}

export type DpFedAvgOptions = DifferentialPrivacyOptions;

/** User-level DP-FedAvg (McMahan et al. 2018): FedAvg inside the DP wrapper. */
export class DpFedAvg extends DifferentialPrivacy {
  constructor(options: Partial<DpFedAvgOptions> = {}) {
    super(new FedAvg(), options, 'dp-fedavg');
  }
}
