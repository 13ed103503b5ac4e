// The one aggregation interface: a strategy turns one round's accepted updates into one
// global update (in the spirit of Flower's Strategy.aggregate_fit). Each strategy names the
// input it needs, because that decides what the server keeps while the round is open:
// 'sum' rules (FedAvg and everything linear) get the round's sum, kept in memory that does
// not grow with the cohort; 'updates' rules (order statistics) get every update. The type
// of `aggregate`'s argument follows from `input`, so no strategy is ever handed the wrong one.

export type QuantizedValues = Int8Array | Int16Array | Int32Array;

/** What a round tells each selected client: clip bound and client-side noise. */
export interface ClientSettings {
  clipNorm: number;
  clientNoiseStd: number;
}

/** A round's accepted updates, summed (decoded to real units). */
export interface SummedUpdates {
  /** Σ Δ_i, plus any noise a wrapper already added */
  sum: Float64Array;
  /** how many updates the sum stands for; a DP wrapper replaces it with the fixed expected cohort */
  count: number;
  /** how many reported their norm within the clip bound (adaptive clipping) */
  withinClip: number;
  /** per-coordinate std of the noise already in `sum` (0: none) */
  noiseStd: number;
}

/** A round's accepted updates, each one decoded. */
export interface CollectedUpdates {
  updates: Float32Array[];
  withinClip: number;
}

export interface RoundContext {
  /** the cohort the round was planned for (its clients were told settings for this size) */
  expectedCohort: number;
  /** the settings the round's clients were given */
  settings: ClientSettings;
  /** the bound on one client's decoded upload norm that the server enforced: a DP wrapper's L2 sensitivity */
  sensitivity: number;
  random: () => number;
}

export interface RoundOutcome {
  /** the aggregated update to hand to the server optimiser (a pseudo-gradient, sign: +) */
  update: Float32Array;
  /** noise multiplier z of the released sum (for the accountant); null if no DP */
  noiseMultiplier: number | null;
  /** std of the noise in each coordinate of `update` (0 without DP): lets the server optimiser tell noise from signal */
  noiseStd: number;
}

interface StrategyCommon {
  readonly name: string;
  /** clip bound and client-side noise for a round planned for this cohort */
  clientSettings(expectedCohort: number): ClientSettings;
  /** JSON-serialisable state that must survive a restart (e.g. the adaptive clip norm) */
  saveState(): unknown;
  loadState(state: unknown): void;
}

export interface SumStrategy extends StrategyCommon {
  readonly input: 'sum';
  aggregate(round: SummedUpdates, context: RoundContext): RoundOutcome;
}

export interface CollectStrategy extends StrategyCommon {
  readonly input: 'updates';
  aggregate(round: CollectedUpdates, context: RoundContext): RoundOutcome;
}

export type AggregationStrategy = SumStrategy | CollectStrategy;
