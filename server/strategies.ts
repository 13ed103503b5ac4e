// Aggregation strategies, one rule per file under strategies/, behind one interface
// (strategies/types.ts); differential privacy is a wrapper around any sum rule.
export type { AggregationStrategy, ClientSettings, CollectedUpdates, CollectStrategy, QuantizedValues, RoundContext, RoundOutcome, SummedUpdates, SumStrategy } from './strategies/types.ts';
export { FedAvg, SumRelease } from './strategies/fedavg.ts';
export { TrimmedMean } from './strategies/trimmed-mean.ts';
export { DifferentialPrivacy, type DifferentialPrivacyOptions, DpFedAvg, type DpFedAvgOptions } from './strategies/differential-privacy.ts';
