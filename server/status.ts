// The aggregator's status: a snapshot refreshed from the store (sync `status()` for the
// operator's process), and the public view GET /fl/v1/status serves, which leaves out the
// exact participant counts of DP rounds (with the round's own q they would tell who took part).
import type { Config } from './options.ts';
import type { PrivacyLedger, ReleasePlan } from './privacy/ledger.ts';
import { releasesPerMonth } from './privacy/ledger.ts';
import type { AggregatorStore, GlobalState, OpenRound, RoundRecord } from './store.ts';
import type { RoundCloser } from './rounds/closer.ts';
import { DifferentialPrivacy } from './strategies/differential-privacy.ts';

export interface AggregatorStatus {
  modelVersion: number;
  parameterCount: number;
  strategy: string;
  serverOptimizer: string;
  store: string;
  round: null | {
    id: number;
    modelVersion: number;
    /** null in the public view of a DP round */
    selected: number | null;
    accepted: number | null;
    minParticipants: number;
    maxParticipants: number;
    deadline: number;
    clipNorm: number;
    closing: boolean;
    kind: 'model' | 'popularity';
  };
  /** the latest popularity release (null: popularity rounds off or none released yet) */
  popularity: null | { version: number; buckets: number; participants: number | null; weight: number; maxItems: number };
  privacy: {
    delta: number;
    epsilon: number | null;
    rounds: number;
    lastRoundEpsilon: number | null;
    accountant: 'rdp' | 'pld';
    /** the most ε one shopper can spend in 30 days under this server's schedule (null: rounds are not rate-limited) */
    epsilonPerMonth: number | null;
  };
  /** participants is null in the public view of a DP round */
  history: (Omit<RoundRecord, 'participants'> & { participants: number | null })[];
}

export class StatusView {
  private snapshot!: AggregatorStatus;
  private readonly perMonth: number | null;

  constructor(private readonly store: AggregatorStore, private readonly config: Config, private readonly closer: RoundCloser, private readonly ledger: PrivacyLedger) {
    this.perMonth = ledger.perMonth(this.releasePlans());
  }

  /** The DP releases the schedule allows in 30 days (model and popularity rounds share the slots). */
  private releasePlans(): ReleasePlan[] {
    const c = this.config;
    const z = c.strategy instanceof DifferentialPrivacy ? c.strategy.noiseMultiplier : undefined;
    const rounds = c.roundIntervalMs > 0 ? releasesPerMonth(Math.max(c.roundIntervalMs, 1)) : Infinity;
    const plans: ReleasePlan[] = [];
    const popEvery = c.popularity ? c.popularity.everyRounds + 1 : Infinity;
    const popRounds = c.popularity ? Math.ceil(rounds / popEvery) : 0;
    if (c.popularity) plans.push({ q: c.popularity.selectionProbability, noiseMultiplier: this.closer.accountedNoise(c.popularity.maxParticipants, c.popularity.noiseMultiplier), perMonth: popRounds });
    if (z !== undefined) plans.push({ q: c.selectionProbability, noiseMultiplier: this.closer.accountedNoise(c.maxParticipants, z), perMonth: rounds });
    return plans;
  }

  get current(): AggregatorStatus {
    return this.snapshot;
  }

  async refresh(): Promise<AggregatorStatus> {
    const st = await this.store.readState();
    const cur = await this.store.currentRound();
    this.snapshot = this.build(st, cur, cur ? await this.store.counts(cur.round.id) : { selected: 0, accepted: 0 });
    return this.snapshot;
  }

  /** counts seen by this process since the last refresh (the store's count, never ++) */
  note(roundId: number, counts: { selected?: number; accepted?: number }): void {
    const r = this.snapshot?.round;
    if (r?.id !== roundId) return;
    if (counts.selected !== undefined) r.selected = Math.max(r.selected ?? 0, counts.selected);
    if (counts.accepted !== undefined) r.accepted = Math.max(r.accepted ?? 0, counts.accepted);
  }

  private build(st: GlobalState, cur: { round: OpenRound; closing: boolean } | null, counts: { selected: number; accepted: number }): AggregatorStatus {
    const c = this.config;
    const last = st.history.length ? st.history[st.history.length - 1] : null;
    const spent = this.ledger.spent(st);
    return {
      modelVersion: st.modelVersion,
      parameterCount: c.length,
      strategy: c.strategy.name,
      serverOptimizer: c.serverOptimizer.name,
      store: this.store.kind,
      round: cur && {
        id: cur.round.id,
        modelVersion: cur.round.modelVersion,
        selected: counts.selected,
        accepted: counts.accepted,
        minParticipants: c.minParticipants,
        maxParticipants: this.closer.capOf(cur.round),
        deadline: cur.round.task.deadline,
        clipNorm: cur.round.settings.clipNorm,
        closing: cur.closing,
        kind: cur.round.task.kind ?? 'model',
      },
      popularity: c.popularity && st.popularity?.version
        ? { version: st.popularity.version, buckets: st.popularity.buckets, participants: st.popularity.participants, weight: c.popularity.weight, maxItems: c.popularity.maxItems }
        : null,
      privacy: { delta: c.delta, epsilon: spent.epsilon, rounds: spent.rounds, lastRoundEpsilon: last?.epsilonThisRound ?? null, accountant: c.accountant, epsilonPerMonth: this.perMonth },
      history: st.history,
    };
  }

  /** The snapshot without exact participant counts of DP rounds, for anyone to read. */
  publicView(s: AggregatorStatus): AggregatorStatus {
    const dpRound = s.round && (s.round.kind === 'popularity' || this.config.strategy instanceof DifferentialPrivacy);
    return {
      ...s,
      round: s.round && (dpRound ? { ...s.round, selected: null, accepted: null } : s.round),
      popularity: s.popularity && { ...s.popularity, participants: null },
      history: s.history.map((r) => (r.epsilonThisRound === null ? r : { ...r, participants: null })),
    };
  }
}
