// The privacy ledger: every released round's (q, z) in the RDP accountant and in the PLD
// ledger, ε per round and in total, and the ε a shopper can spend in a month under the
// server's schedule. A round whose tasks are capped first-come is accounted with the
// replacement sensitivity 2C (one shopper's presence can displace another's update), i.e.
// noise multiplier z/2 in the add/remove accountant; an uncapped (Poisson) round with z.
import { RdpAccountant } from '../../federated/accountant.ts';
import { type GaussianRounds, pldEpsilon } from '../../federated/pld.ts';
import type { GlobalState } from '../store.ts';

type AccountantJson = ReturnType<RdpAccountant['toJSON']>;

export type AccountantKind = 'rdp' | 'pld';

/** One kind of DP release the server schedules, for the monthly figure. */
export interface ReleasePlan {
  q: number;
  /** z as accounted (already halved for a capped round) */
  noiseMultiplier: number;
  /** the most such releases in 30 days */
  perMonth: number;
}

export interface LedgerEntry {
  accountant: unknown;
  ledger: GaussianRounds[];
  epsRound: number;
  epsTotal: number;
}

const MONTH_MS = 30 * 24 * 3600_000;

/** Rounds of a schedule in 30 days: at most one opens per interval. */
export function releasesPerMonth(intervalMs: number): number {
  return Math.ceil(MONTH_MS / intervalMs);
}

/** δ = min(1e-6, 1/(10·N)) for a population of N shoppers (1e-6 when N is unknown). */
export function defaultDelta(population?: number): number {
  return population && population > 0 ? Math.min(1e-6, 1 / (10 * population)) : 1e-6;
}

export class PrivacyLedger {
  constructor(readonly delta: number, readonly kind: AccountantKind) {
    if (!(delta > 0 && delta < 1)) throw new Error('delta must be in (0, 1)');
  }

  static empty(): unknown {
    return new RdpAccountant().toJSON();
  }

  /** The state's accountant and ledger after one more release; PLD takes the smaller bound. */
  record(st: GlobalState, q: number, noiseMultiplier: number): LedgerEntry {
    const accountant = RdpAccountant.fromJSON(st.accountant as AccountantJson);
    const one = new RdpAccountant(accountant.orders);
    one.step(q, noiseMultiplier);
    accountant.step(q, noiseMultiplier);
    const previous = st.ledger ?? [];
    const same = previous.find((r) => r.q === q && r.noiseMultiplier === noiseMultiplier);
    const ledger = same ? previous.map((r) => (r === same ? { ...r, count: r.count + 1 } : r)) : [...previous, { q, noiseMultiplier, count: 1 }];
    let epsRound = one.spent(this.delta).epsilon;
    let epsTotal = accountant.spent(this.delta).epsilon;
    if (this.kind === 'pld') {
      epsRound = Math.min(epsRound, pldEpsilon([{ q, noiseMultiplier, count: 1 }], this.delta));
      // a ledger missing earlier rounds (a state from before it was kept) leaves the RDP figure
      if (ledger.reduce((n, r) => n + r.count, 0) === accountant.steps) epsTotal = Math.min(epsTotal, pldEpsilon(ledger, this.delta));
    }
    return { accountant: accountant.toJSON(), ledger, epsRound, epsTotal };
  }

  /** ε spent so far (0 before any release; null when releases happened but none was accounted). */
  spent(st: GlobalState): { epsilon: number | null; rounds: number } {
    const accountant = RdpAccountant.fromJSON(st.accountant as AccountantJson);
    if (!accountant.steps) return { epsilon: st.history.length ? null : 0, rounds: 0 };
    // the PLD figure is computed once per round close (seconds), so it is read back from the history
    const epsilon = this.kind === 'pld' ? ([...st.history].reverse().find((r) => r.epsilonTotal !== null)?.epsilonTotal ?? null) : accountant.spent(this.delta).epsilon;
    return { epsilon, rounds: accountant.steps };
  }

  /** The most ε one shopper can spend in 30 days under these plans (RDP bound; null: unbounded). */
  perMonth(plans: readonly ReleasePlan[]): number | null {
    if (plans.some((p) => !Number.isFinite(p.perMonth) || (p.noiseMultiplier <= 0 && p.perMonth > 0))) return null;
    const accountant = new RdpAccountant();
    for (const p of plans) if (p.perMonth > 0) accountant.step(p.q, p.noiseMultiplier, p.perMonth);
    return accountant.steps ? accountant.spent(this.delta).epsilon : 0;
  }
}
