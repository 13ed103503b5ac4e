// A round's close: its accepted uploads go through its strategy's one `aggregate`, the
// outcome is accounted in the privacy ledger, and the result is published: a new model
// version (model rounds, after the server optimiser's step) or a popularity release.
import { sha256Hex, withHash } from '../downloads.ts';
import { type Config, NO_CAP } from '../options.ts';
import type { PrivacyLedger } from '../privacy/ledger.ts';
import type { AggregatorStore, GlobalState, OpenRound, RoundRecord } from '../store.ts';
import type { AggregationStrategy, RoundOutcome } from '../strategies/types.ts';
import { roundSensitivity } from './clamp.ts';
import { capOf } from './plan.ts';
import { decodeSum, type RoundSumSource } from './round-sum.ts';

export interface RoundStrategies {
  model: AggregationStrategy;
  popularity: AggregationStrategy | null;
}

export class RoundCloser {
  constructor(
    private readonly store: AggregatorStore,
    private readonly config: Config,
    readonly strategies: RoundStrategies,
    private readonly sums: RoundSumSource,
    private readonly ledger: PrivacyLedger,
  ) {}

  strategyOf(round: OpenRound): AggregationStrategy {
    return round.task.kind === 'popularity' ? this.strategies.popularity! : this.strategies.model;
  }

  capOf(round: OpenRound): number {
    return capOf(round, this.config);
  }

  /** Poisson rate q of the round's selection */
  selectionOf(round: OpenRound): number {
    return round.task.kind === 'popularity' ? this.config.popularity!.selectionProbability : this.config.selectionProbability;
  }

  /**
   * z as the accountant must see it: a first-come cap lets one shopper's presence displace
   * another's update (sensitivity 2C), which is z/2 in the add/remove accountant. A cap at
   * or above the population (or none) cannot bind.
   */
  accountedNoise(cap: number, z: number): number {
    const population = this.config.population ?? Infinity;
    return cap >= NO_CAP || cap >= population ? z : z / 2;
  }

  /** The state with the round's opening recorded, for the round interval (also across restarts and instances). */
  opened(st: GlobalState, round: OpenRound): GlobalState {
    return { ...st, lastRoundOpenedAt: Math.max(st.lastRoundOpenedAt ?? 0, round.task.deadline - this.config.roundDurationMs) };
  }

  /** Closes the round without a release: nothing published, no privacy spent. */
  async abandon(round: OpenRound): Promise<void> {
    const st = this.opened(await this.store.readState(), round);
    // a popularity round still moves the popularity schedule
    await this.store.commitClose(round.id, round.task.kind === 'popularity' ? this.withPopularity(st, round, 0, 0) : st, null, null);
  }

  /** Aggregates and publishes the round; true if a model version or popularity release resulted. */
  async finish(round: OpenRound): Promise<boolean> {
    const st = this.opened(await this.store.readState(), round);
    const strategy = this.strategyOf(round);
    strategy.loadState(round.task.kind === 'popularity' ? null : st.strategy);
    const aggregated = await this.aggregate(round, strategy);
    if (!aggregated) {
      await this.abandon(round);
      return false;
    }
    const { outcome, count } = aggregated;
    const dp = outcome.noiseMultiplier === null ? null : this.ledger.record(st, this.selectionOf(round), this.accountedNoise(this.capOf(round), outcome.noiseMultiplier));
    const record: RoundRecord = {
      kind: round.task.kind === 'popularity' ? 'popularity' : 'model',
      roundId: round.id,
      participants: count,
      newModelVersion: st.modelVersion,
      epsilonThisRound: dp?.epsRound ?? null,
      epsilonTotal: dp?.epsTotal ?? null,
      clipNorm: round.settings.clipNorm,
    };
    const accounted: GlobalState = { ...st, accountant: dp ? dp.accountant : st.accountant, ledger: dp ? dp.ledger : st.ledger };
    if (round.task.kind === 'popularity') {
      const version = (st.popularity?.version ?? 0) + 1;
      await this.store.writePopularity(version, outcome.update);
      const hashes = withHash(st.hashes, 'popularity', version, sha256Hex(outcome.update));
      const next = { ...this.withPopularity(accounted, round, version, count), history: [...st.history, record], hashes };
      await this.store.commitClose(round.id, next, null, null);
      return true;
    }
    return this.publishModel(round, accounted, outcome, { ...record, newModelVersion: st.modelVersion + 1 }, strategy);
  }

  private withPopularity(st: GlobalState, round: OpenRound, version: number, participants: number): GlobalState {
    const previous = st.popularity;
    return { ...st, popularity: { version: version || (previous?.version ?? 0), buckets: round.task.length, lastRoundId: round.id, participants: version ? participants : (previous?.participants ?? 0) } };
  }

  /** The strategy's outcome, or null when fewer than minParticipants uploads were accepted. */
  private async aggregate(round: OpenRound, strategy: AggregationStrategy): Promise<{ outcome: RoundOutcome; count: number } | null> {
    if (round.task.secure) {
      const secure = this.config.popularity?.secure;
      if (!secure) throw new Error(`round ${round.id} is a secure round and no helper is configured`);
      return secure.aggregate(round, this.store, this.config.minParticipants, this.config.popularity!.noiseMultiplier);
    }
    const context = { expectedCohort: this.config.expectedCohort, settings: round.settings, sensitivity: roundSensitivity(round), random: this.config.random };
    if (strategy.input === 'sum') {
      const total = await this.sums.integerSum(round);
      if (total.count < this.config.minParticipants) return null;
      return { outcome: strategy.aggregate(decodeSum(total), context), count: total.count };
    }
    const collected = await this.sums.collected(round);
    if (collected.updates.length < this.config.minParticipants) return null;
    return { outcome: strategy.aggregate(collected, context), count: collected.updates.length };
  }

  private async publishModel(round: OpenRound, st: GlobalState, outcome: RoundOutcome, record: RoundRecord, strategy: AggregationStrategy): Promise<boolean> {
    const { length, serverOptimizer } = this.config;
    const bytes = await this.store.readModel(st.modelVersion);
    if (!bytes) throw new Error(`store has no model v${st.modelVersion}`);
    const weights = new Float32Array(length);
    new Uint8Array(weights.buffer).set(bytes);
    serverOptimizer.loadState(await this.store.readOptimizer(), length);
    serverOptimizer.apply(weights, outcome.update, outcome.noiseStd, st.modelVersion - 1); // versions start at 1
    const hashes = withHash(st.hashes, 'models', record.newModelVersion, sha256Hex(weights));
    const next: GlobalState = { ...st, modelVersion: record.newModelVersion, strategy: strategy.saveState(), history: [...st.history, record], hashes };
    await this.store.commitClose(round.id, next, weights, serverOptimizer.saveState());
    return true;
  }
}
