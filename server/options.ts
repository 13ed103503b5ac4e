// The aggregator's options, their defaults and their validation, resolved once at start.
import type { IncomingMessage } from 'node:http';
import { secureRandom, type ValueBits } from '../federated/summary.ts';
import { defaultDelta, type AccountantKind } from './privacy/ledger.ts';
import { ServerSgd, type ServerOptimizer } from './server-optimizers.ts';
import type { SecureLeader } from './secure/leader.ts';
import type { AggregatorStore } from './store.ts';
import { DpFedAvg } from './strategies/differential-privacy.ts';
import type { AggregationStrategy } from './strategies/types.ts';

export interface TrainingSettings {
  epochs: number;
  learningRate: number;
  batchSize: number;
  optimizer: 'sgd' | 'adam';
}

/**
 * Popularity rounds (federated/popularity.ts): each selected shopper uploads which of its
 * `maxItems` most recent distinct items it touched, one 1 per hash bucket; the server adds
 * Gaussian noise of std noiseMultiplier·√maxItems to the sum (user-level DP, accounted in
 * the same ledger as the model rounds) and publishes it as the popularity prior.
 */
export interface PopularityOptions {
  /** z: noise std / sensitivity (√maxItems) */
  noiseMultiplier: number;
  /** length of the released vector (items are hashed into it); default 65,536 */
  buckets?: number;
  /** distinct recent items a shopper contributes; default 20 */
  maxItems?: number;
  /** model rounds between two popularity rounds; the first round the server opens is one. Default 100 */
  everyRounds?: number;
  /** β: recommenders add β·log(1 + count) to their scores; default 0.5 (tuned on Beauty validation) */
  weight?: number;
  /** participant cap of a popularity round; default none (2^24: Poisson sampling, accounted with sensitivity √maxItems) */
  maxParticipants?: number;
  /** Poisson sampling rate q of a popularity round; default 1 (every check-in) */
  selectionProbability?: number;
  /**
   * Secure rounds with a helper aggregator (server/secure): shoppers upload sealed Prio3
   * reports, each aggregator adds noise of std noiseMultiplier·√maxItems to its share, and
   * plain popularity summaries are refused
   */
  secure?: SecureLeader;
}

/**
 * Limits at the aggregator's edge (server/PROTOCOL.md, "Abuse limits"). Nothing is kept per
 * shopper: sources are network addresses, forgotten when their bucket refills or the round ends.
 */
export interface EdgeLimits {
  /** check-ins a source may make per minute, sustained (token bucket); default unlimited, PUBLIC_EDGE_LIMITS: 6 */
  checkInsPerMinute: number;
  /** check-ins a source may make at once; default unlimited, PUBLIC_EDGE_LIMITS: 10 */
  checkInBurst: number;
  /** tasks one source may hold in one round; default unlimited, PUBLIC_EDGE_LIMITS: 1 */
  tasksPerSourcePerRound: number;
  /** uploads read at the same time; more get 503 with Retry-After. Default 256 */
  maxConcurrentUploads: number;
  /** a request body must arrive within this; slower ones get 408. Default 30 s */
  bodyTimeoutMs: number;
  /** the source a request counts against; default its remote address */
  sourceOf: (req: IncomingMessage) => string;
}

export interface AggregatorOptions {
  /** the model's flattened initial weights; used only when the store has no model yet */
  initialWeights: Float32Array;
  /** where state lives: default an embedded FileStore in `dataDir` */
  store?: AggregatorStore;
  /** embedded store directory (default `.silo-data`), when no `store` is given */
  dataDir?: string;
  /** default: DP-FedAvg with adaptive clipping, z = 1, central noise */
  strategy?: AggregationStrategy;
  /** default: plain FedAvg step (lr 1) */
  serverOptimizer?: ServerOptimizer;
  /** a round aggregates once maxParticipants summaries arrived, or at the deadline if ≥ minParticipants */
  minParticipants?: number;
  /** the round's task cap (first come); ≥ 2^24 means no cap. A capped DP round is accounted with sensitivity 2C */
  maxParticipants?: number;
  /** the cohort a round is planned for: a DP round's fixed denominator and noise size. Default maxParticipants */
  expectedCohort?: number;
  roundDurationMs?: number;
  /** the least time between two round openings (default 0: the next opens when one closes); bounds ε per month */
  roundIntervalMs?: number;
  /**
   * Poisson sampling: each check-in during an open round is selected with this probability.
   * The accountant uses it as the sampling rate q, which assumes each shopper checks in at
   * most once per round.
   */
  selectionProbability?: number;
  training?: Partial<TrainingSettings>;
  bits?: ValueBits;
  /** δ for the reported (ε, δ); default min(1e-6, 1/(10·population)) */
  delta?: number;
  /** how many shoppers may take part: sets the default δ, and a cap ≥ it cannot bind (no 2C accounting) */
  population?: number;
  /**
   * 'rdp' (default): ε from the RDP ledger, cheap at every round. 'pld': the smaller of that
   * and the PLD accountant's ε (federated/pld.ts), tighter but seconds per round close
   */
  accountant?: AccountantKind;
  /** also run popularity rounds and publish the popularity prior (off when absent) */
  popularity?: PopularityOptions;
  /**
   * limits at the edge: upload concurrency and body timeout always; per-source check-in and
   * task limits only when given (a public deployment passes PUBLIC_EDGE_LIMITS; tests and
   * benchmarks drive many clients from one address)
   */
  edge?: Partial<EdgeLimits>;
  /** the least a check-in answer tells a client to wait (default 60); while a round is open, to its deadline */
  retryAfterSeconds?: number;
  random?: () => number;
  /** milliseconds since the epoch, for round deadlines; default Date.now (tests move it by hand) */
  clock?: () => number;
}

/** Participant caps at or above this count as "no cap" (the integer sums stay exact). */
export const NO_CAP = 2 ** 24;

export type ResolvedPopularity = Required<Omit<PopularityOptions, 'secure'>> & Pick<PopularityOptions, 'secure'>;

export interface Config {
  strategy: AggregationStrategy;
  serverOptimizer: ServerOptimizer;
  minParticipants: number;
  maxParticipants: number;
  expectedCohort: number;
  roundDurationMs: number;
  roundIntervalMs: number;
  selectionProbability: number;
  training: TrainingSettings;
  bits: ValueBits;
  delta: number;
  population: number | null;
  accountant: AccountantKind;
  popularity: ResolvedPopularity | null;
  edge: EdgeLimits;
  retryAfterSeconds: number;
  random: () => number;
  clock: () => number;
  length: number;
}

function remoteAddress(req: IncomingMessage): string {
  return req.socket?.remoteAddress ?? 'unknown';
}

function resolvePopularity(options: PopularityOptions | undefined, minParticipants: number): ResolvedPopularity | null {
  if (!options) return null;
  const p = { buckets: 65_536, maxItems: 20, everyRounds: 100, weight: 0.5, maxParticipants: NO_CAP, selectionProbability: 1, ...options };
  if (!(p.noiseMultiplier > 0 && Number.isFinite(p.noiseMultiplier))) throw new Error('popularity.noiseMultiplier must be a positive number');
  if (!Number.isInteger(p.buckets) || p.buckets < 1 || p.buckets > 2 ** 24) throw new Error('popularity.buckets must be an integer in [1, 2^24]');
  if (!Number.isInteger(p.maxItems) || p.maxItems < 1 || p.maxItems > p.buckets) throw new Error('popularity.maxItems must be an integer in [1, buckets]');
  if (!Number.isInteger(p.everyRounds) || p.everyRounds < 0) throw new Error('popularity.everyRounds must be a non-negative integer');
  if (!(p.weight >= 0 && Number.isFinite(p.weight))) throw new Error('popularity.weight must be ≥ 0');
  if (!(p.selectionProbability > 0 && p.selectionProbability <= 1)) throw new Error('popularity.selectionProbability must be in (0, 1]');
  if (!Number.isInteger(p.maxParticipants) || p.maxParticipants < minParticipants || p.maxParticipants > NO_CAP) throw new Error('popularity.maxParticipants must be an integer in [minParticipants, 2^24]');
  return p;
}

/** Per-source limits for an aggregator open to the public (server/PROTOCOL.md, "Abuse limits"). */
export const PUBLIC_EDGE_LIMITS: Partial<EdgeLimits> = { checkInsPerMinute: 6, checkInBurst: 10, tasksPerSourcePerRound: 1 };

function resolveEdge(edge: AggregatorOptions['edge']): EdgeLimits {
  const e: EdgeLimits = { checkInsPerMinute: Infinity, checkInBurst: Infinity, tasksPerSourcePerRound: Infinity, maxConcurrentUploads: 256, bodyTimeoutMs: 30_000, sourceOf: remoteAddress, ...edge };
  if (!(e.checkInsPerMinute > 0) || !(e.checkInBurst >= 1)) throw new Error('edge.checkInsPerMinute and edge.checkInBurst must be positive');
  if (!(e.tasksPerSourcePerRound >= 1)) throw new Error('edge.tasksPerSourcePerRound must be ≥ 1');
  if (!(e.maxConcurrentUploads >= 1) || !(e.bodyTimeoutMs > 0)) throw new Error('edge.maxConcurrentUploads and edge.bodyTimeoutMs must be positive');
  return e;
}

export function resolveOptions(options: AggregatorOptions): Config {
  const minParticipants = options.minParticipants ?? 10;
  const maxParticipants = options.maxParticipants ?? 100;
  if (minParticipants < 1 || maxParticipants < minParticipants) throw new Error('need 1 ≤ minParticipants ≤ maxParticipants');
  const expectedCohort = options.expectedCohort ?? Math.min(maxParticipants, NO_CAP);
  if (!(expectedCohort >= 1 && Number.isFinite(expectedCohort))) throw new Error('expectedCohort must be a number ≥ 1');
  // Plain SGD on the client, one step at lr 0.2: the best measured at ε ≈ 8 (a fresh Adam
  // per client stayed at chance)
  const training: TrainingSettings = { epochs: 1, learningRate: 0.2, batchSize: 16, optimizer: 'sgd', ...options.training };
  if (!(Number.isInteger(training.epochs) && training.epochs >= 1 && training.epochs <= 100)) throw new Error('training.epochs must be an integer in [1, 100]');
  if (!(training.learningRate > 0 && Number.isFinite(training.learningRate))) throw new Error('training.learningRate must be a positive number');
  const selectionProbability = options.selectionProbability ?? 1;
  if (!(selectionProbability > 0 && selectionProbability <= 1)) throw new Error('selectionProbability must be in (0, 1]');
  return {
    strategy: options.strategy ?? new DpFedAvg(),
    serverOptimizer: options.serverOptimizer ?? new ServerSgd(1),
    minParticipants,
    maxParticipants,
    expectedCohort,
    roundDurationMs: options.roundDurationMs ?? 10 * 60_000,
    roundIntervalMs: options.roundIntervalMs ?? 0,
    selectionProbability,
    training,
    bits: options.bits ?? 16,
    delta: options.delta ?? defaultDelta(options.population),
    population: options.population ?? null,
    accountant: options.accountant ?? 'rdp',
    popularity: resolvePopularity(options.popularity, minParticipants),
    edge: resolveEdge(options.edge),
    retryAfterSeconds: options.retryAfterSeconds ?? 60,
    random: options.random ?? secureRandom(),
    clock: options.clock ?? Date.now,
    length: options.initialWeights.length,
  };
}
