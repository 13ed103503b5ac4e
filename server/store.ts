// The aggregator's storage interface. The aggregator (aggregator.ts) is written once against
// it; FileStore (embedded, one process) and RedisStore (several processes share one Redis)
// implement it. Every method that changes a round is atomic in the implementation: Redis
// runs it as one Lua script, the file store runs it in one JS turn before its durable write.
import type { GaussianRounds } from '../federated/pld.ts';
import type { RoundTask } from '../federated/protocol.ts';
import type { ClientSettings, QuantizedValues } from './strategies.ts';

export interface RoundRecord {
  /** absent: a model round (records written before popularity rounds existed) */
  kind?: 'model' | 'popularity';
  roundId: number;
  participants: number;
  /** the model version after the round (a popularity round leaves it unchanged) */
  newModelVersion: number;
  epsilonThisRound: number | null;
  epsilonTotal: number | null;
  clipNorm: number;
}

/** Server state that changes only when a round closes. */
export interface GlobalState {
  modelVersion: number;
  /** strategy.saveState() (e.g. the adaptive clip norm) */
  strategy: unknown;
  /** RdpAccountant.toJSON() */
  accountant: unknown;
  /**
   * The DP rounds released so far, grouped by (q, noise multiplier), for the PLD accountant
   * (absent in states written before it; then only the RDP ledger covers every round)
   */
  ledger?: GaussianRounds[];
  history: RoundRecord[];
  /**
   * SHA-256 (hex) of each model version's and popularity release's bytes, recorded when they
   * were written: a file that no longer matches is not served (absent in older states)
   */
  hashes?: { models: Record<string, string>; popularity: Record<string, string> };
  /** when the last closed round opened (ms since the epoch): the next opens no sooner than the round interval after it */
  lastRoundOpenedAt?: number;
  /** popularity releases (absent until the first popularity round was opened) */
  popularity?: PopularityState;
}

export interface PopularityState {
  /** the latest released vector's version (0: none released yet) */
  version: number;
  buckets: number;
  /** the latest popularity round opened, released or abandoned: schedules the next */
  lastRoundId: number;
  /** participants of the latest release */
  participants: number;
}

/** A round as opened; immutable until it closes. */
export interface OpenRound {
  id: number;
  modelVersion: number;
  task: RoundTask;
  settings: ClientSettings;
  /** the server-side bound on a decoded summary's norm: clip + rounding error + client noise */
  normBound: number;
  /**
   * What a shared store keeps of the round's uploads. 'sum': the strategy needs only their
   * sum (FedAvg, DP-FedAvg), so each instance keeps a running sum and the store holds one
   * partial sum per instance, whatever the cohort. 'summaries' (also when absent: rounds
   * opened before this field existed): every accepted summary (order statistics need them).
   */
  keep?: 'sum' | 'summaries';
  /** the round's participant cap: bounds the integer sums (int32 when they cannot overflow) */
  maxParticipants?: number;
}

/** An upload's values as the aggregator read them (a view on the request body). */
export interface UploadValues {
  ints: QuantizedValues;
  withinClip: boolean;
  /**
   * The norm check, given Σ q²; throws (an HTTP 422) when the norm is above the round's
   * bound, else holds the values to the clip bound C in place (rounds/clamp.ts), moving
   * `sum` by the same change where it holds them already, and returns Σ q² afterwards. The
   * aggregator runs it itself unless `store.sumsRound(round)`: then accept() runs it on the
   * Σ q² of its own pass over the values, before the token is spent.
   */
  checkNorm(sumOfSquares: number, sum?: Int32Array | Float64Array): number;
}

/** The integer sum of a round's accepted uploads, all at the round's scale. */
export interface RoundSum {
  sum: Float64Array;
  count: number;
  withinClip: number;
}

export type AcceptResult = { ok: true; accepted: number } | { ok: false; reason: 'not-open' | 'unknown-token' | 'duplicate' };

export interface AggregatorStore {
  /** 'file' or 'redis', for status and logs */
  readonly kind: string;
  /**
   * true when this process is the store's only writer (embedded store): the aggregator may
   * then keep the round's running sum in memory instead of re-reading summaries at close
   */
  readonly exclusive: boolean;
  /**
   * Writes `state` and model v`state.modelVersion` if the store is empty (once, even when
   * several instances start together) and returns the state stored afterwards.
   */
  init(state: GlobalState, weights: Float32Array): Promise<GlobalState>;
  readState(): Promise<GlobalState>;
  /** a model version's bytes (little-endian float32), or null if unknown */
  readModel(version: number): Promise<Uint8Array | null>;
  /** a popularity release's bytes (little-endian float32), or null if unknown */
  readPopularity(version: number): Promise<Uint8Array | null>;
  /**
   * Stores popularity release `version` durably (closer only, before commitClose publishes
   * it in the state; a release the state does not name yet is never served).
   */
  writePopularity(version: number, counts: Float32Array): Promise<void>;
  /** the server optimiser's state for the current model version (null: none saved) */
  readOptimizer(): Promise<Uint8Array | null>;
  /**
   * The round with this id, if it is open or closing; may answer from a cache (a shared
   * store's round that another instance closed meanwhile): accept() is the authority.
   */
  roundById(id: number): Promise<OpenRound | null>;
    /** the round that is open or closing; `closing`: it accepts nothing more and no new round opens yet */
  currentRound(): Promise<{ round: OpenRound; closing: boolean } | null>;
  /**
   * Opens the round `make(id)` builds, unless a round is open or closing. Returns the round
   * open afterwards (this one or one another instance opened), or null while one closes.
   * `make` may be called again if another instance opened and closed a round meanwhile.
   */
  openRound(make: (id: number) => OpenRound): Promise<OpenRound | null>;
  /**
   * Records a fresh upload token if the round is open and has fewer than `max` tokens out.
   * Resolves the number of tokens out after it, or 0 (nothing recorded) when refused.
   */
  issueToken(roundId: number, token: string, max: number): Promise<number>;
  /** issued tokens and accepted summaries of the round */
  counts(roundId: number): Promise<{ selected: number; accepted: number }>;
  /**
   * Atomically: the round is open, the token was issued for it and not used → the token is
   * spent and the summary (or, for a 'sum' round in a shared store, its values added into
   * this instance's stored partial sum) stored durably; resolves only then. Otherwise
   * nothing changes. `summary` and `values` must stay untouched until it resolves.
   */
  accept(roundId: number, token: string, summary: Uint8Array, values: UploadValues): Promise<AcceptResult>;
  /**
   * true when accept() adds this round's values into a sum itself (Redis, 'sum' rounds):
   * it then also runs values.checkNorm in that pass, so the values are read once.
   */
  sumsRound?(round: OpenRound): boolean;
  /**
   * Stops the round accepting uploads and makes the caller its closer. Exactly one caller
   * across all instances gets true (or a later caller after the closer released or lost it).
   * Resolves after every upload the round acknowledged is readable by `summaries`.
   */
  claimClose(roundId: number): Promise<boolean>;
  /** the round's accepted summaries (closer only; streamed: a few in memory at a time) */
  summaries(roundId: number): AsyncIterable<Uint8Array>;
  /**
   * Stores that keep 'sum' rounds as partial sums (Redis): the round's total over all
   * instances (closer only). A store without it keeps every summary of every round.
   */
  roundSum?(roundId: number): Promise<RoundSum>;
  /**
   * The closer publishes the round's outcome atomically: the new model version and
   * optimiser state (null when the round was abandoned), the new state; the round is gone.
   */
  commitClose(roundId: number, next: GlobalState, model: Float32Array | null, optimizer: Uint8Array | null): Promise<void>;
  /** the closer failed: the round stays closing and another attempt may take it over */
  abortClose(roundId: number): Promise<void>;
  close(): Promise<void>;
}
