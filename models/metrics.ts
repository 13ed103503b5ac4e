// Evaluation protocol, written once and shared by the Node benchmark and the browser.
// Pure TypeScript (no tfjs) so it can run anywhere and be unit-tested by hand.
//
// Protocol (as in SASRec / S3-Rec): leave-one-out per user. The last item is the test
// target, the second-to-last the validation target, everything before is training.
// Full ranking scores every item; items in the user's history are excluded (never the
// target itself). Sampled ranking ranks the target against 100 uniformly drawn items the
// user has not interacted with: numbers are much higher and not comparable.

export const CUTOFFS = [5, 10, 20] as const;

/** Metric name → value, e.g. { "HR@10": 0.06, "NDCG@10": 0.03, "MRR": 0.02 }. */
export type Metrics = Record<string, number>;

export interface EvalCase {
  /** items the model may see (in time order), all excluded from the ranking */
  history: number[];
  target: number;
}

export interface LeaveOneOutSplit {
  /** per user: training prefix (sequence minus the last two items) */
  train: number[][];
  validation: EvalCase[];
  test: EvalCase[];
}

/**
 * Leave-one-out. Users with fewer than 3 items still contribute their items to training
 * but are not evaluated (they have no separate validation and test target).
 */
export function leaveOneOut(sequences: readonly number[][]): LeaveOneOutSplit {
  const split: LeaveOneOutSplit = { train: [], validation: [], test: [] };
  for (const seq of sequences) {
    if (seq.length < 3) {
      split.train.push([...seq]);
      continue;
    }
    const n = seq.length;
    split.train.push(seq.slice(0, n - 2));
    split.validation.push({ history: seq.slice(0, n - 2), target: seq[n - 2] });
    split.test.push({ history: seq.slice(0, n - 1), target: seq[n - 1] });
  }
  return split;
}

/**
 * 0-based rank of `target` among the candidate items: the number of candidates scoring
 * higher, plus half of those tying (the expected rank under a random tie-break, rounded
 * down, so a constant scorer is not rewarded). `scores` is indexed by item; candidates are
 * items 1..scores.length-1 that are not in `excluded` (the target always competes).
 */
export function fullRank(scores: ArrayLike<number>, target: number, excluded: ReadonlySet<number>, offset = 0, numItems = scores.length - offset): number {
  const s = scores[offset + target];
  let higher = 0;
  let ties = 0;
  for (let j = 1; j < numItems; j++) {
    if (j === target || excluded.has(j)) continue;
    const v = scores[offset + j];
    if (v > s) higher++;
    else if (v === s) ties++;
  }
  return higher + Math.floor(ties / 2);
}

/** Rank of the target among the given negative items (same tie rule as fullRank). */
export function sampledRank(scores: ArrayLike<number>, target: number, negatives: readonly number[], offset = 0): number {
  const s = scores[offset + target];
  let higher = 0;
  let ties = 0;
  for (const j of negatives) {
    const v = scores[offset + j];
    if (v > s) higher++;
    else if (v === s) ties++;
  }
  return higher + Math.floor(ties / 2);
}

/** Averages HR@k, NDCG@k (one relevant item: 1/log2(rank+2)) and MRR over ranks. */
export class MetricAccumulator {
  private count = 0;
  private readonly sums = new Map<string, number>();

  add(rank: number): void {
    this.count++;
    for (const k of CUTOFFS) {
      const hit = rank < k;
      this.bump(`HR@${k}`, hit ? 1 : 0);
      this.bump(`NDCG@${k}`, ndcgAtRank(rank, k));
    }
    this.bump('MRR', 1 / (rank + 1));
  }

  private bump(name: string, value: number): void {
    this.sums.set(name, (this.sums.get(name) ?? 0) + value);
  }

  get users(): number {
    return this.count;
  }

  result(): Metrics {
    const out: Metrics = {};
    for (const k of CUTOFFS) {
      out[`HR@${k}`] = this.count ? (this.sums.get(`HR@${k}`) ?? 0) / this.count : 0;
      out[`NDCG@${k}`] = this.count ? (this.sums.get(`NDCG@${k}`) ?? 0) / this.count : 0;
    }
    out.MRR = this.count ? (this.sums.get('MRR') ?? 0) / this.count : 0;
    return out;
  }
}

/** Small fast seeded PRNG (mulberry32): the same seed gives the same negatives everywhere. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` distinct items in 1..numItems-1, none in `excluded` nor equal to target. */
export function sampleNegatives(rand: () => number, numItems: number, count: number, target: number, excluded: ReadonlySet<number>): number[] {
  const available = numItems - 1 - excluded.size - (excluded.has(target) ? 0 : 1);
  if (available < count) throw new Error(`only ${available} items available for ${count} negatives`);
  const chosen = new Set<number>();
  while (chosen.size < count) {
    const j = 1 + Math.floor(rand() * (numItems - 1));
    if (j !== target && !excluded.has(j)) chosen.add(j);
  }
  return [...chosen];
}

/** Scores every item (index 0..numItems-1; 0 is padding) for each history, row-major. */
export type BatchScorer = (histories: number[][]) => Promise<Float32Array> | Float32Array;

export interface EvaluationResult {
  full: Metrics;
  sampled: Metrics;
  users: number;
  /** each case's full-ranking rank, in the order of `cases` (for paired comparisons) */
  fullRanks: Int32Array;
}

/**
 * Runs both protocols over `cases` in batches. `numItems` counts the padding row, so
 * valid items are 1..numItems-1. Negatives for the sampled protocol come from `seed`.
 */
export async function evaluate(
  cases: readonly EvalCase[],
  numItems: number,
  scoreBatch: BatchScorer,
  options: { batchSize?: number; sampledNegatives?: number; seed?: number } = {},
): Promise<EvaluationResult> {
  const batchSize = options.batchSize ?? 256;
  const negativesPerUser = options.sampledNegatives ?? 100;
  const rand = mulberry32(options.seed ?? 12345);
  const full = new MetricAccumulator();
  const sampled = new MetricAccumulator();
  const fullRanks = new Int32Array(cases.length);
  for (let start = 0; start < cases.length; start += batchSize) {
    const chunk = cases.slice(start, start + batchSize);
    const scores = await scoreBatch(chunk.map((c) => c.history));
    if (scores.length !== chunk.length * numItems) throw new Error(`scorer returned ${scores.length} scores, expected ${chunk.length * numItems}`);
    chunk.forEach((c, b) => {
      const seen = new Set(c.history);
      seen.delete(c.target); // a re-bought target still has to be found
      const offset = b * numItems;
      fullRanks[start + b] = fullRank(scores, c.target, seen, offset, numItems);
      full.add(fullRanks[start + b]);
      const negatives = sampleNegatives(rand, numItems, negativesPerUser, c.target, seen);
      sampled.add(sampledRank(scores, c.target, negatives, offset));
    });
  }
  return { full: full.result(), sampled: sampled.result(), users: full.users, fullRanks };
}

/** NDCG@k of one case whose single relevant item is at 0-based `rank`. */
export function ndcgAtRank(rank: number, k = 10): number {
  return rank < k ? 1 / Math.log2(rank + 2) : 0;
}

export interface BootstrapOptions {
  resamples?: number;
  level?: number;
  seed?: number;
}

export interface Interval {
  low: number;
  high: number;
  level: number;
}

export interface RatioInterval extends Interval {
  /** mean(candidate) / mean(reference) */
  ratio: number;
}

export interface MeanInterval extends Interval {
  mean: number;
}

/**
 * Percentile bootstrap: `statistic` is computed on `resamples` resamples of n users drawn
 * with replacement (it calls `draw()` for each user index it takes).
 */
function percentileBootstrap(n: number, statistic: (draw: () => number) => number, options: BootstrapOptions): Interval {
  const resamples = options.resamples ?? 2000;
  const level = options.level ?? 0.95;
  const rand = mulberry32(options.seed ?? 1);
  const draw = () => Math.floor(rand() * n);
  const stats = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) stats[r] = statistic(draw);
  stats.sort();
  const at = (q: number) => stats[Math.min(resamples - 1, Math.max(0, Math.round(q * (resamples - 1))))];
  return { low: at((1 - level) / 2), high: at((1 + level) / 2), level };
}

function sum(xs: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < xs.length; i++) total += xs[i];
  return total;
}

/**
 * Percentile bootstrap interval of mean(candidate) / mean(reference) over the same users,
 * resampled together (paired): the uncertainty of "model A keeps x% of model B" that comes
 * from which users happen to be in the test set, not from retraining.
 */
export function pairedBootstrapRatio(candidate: ArrayLike<number>, reference: ArrayLike<number>, options: BootstrapOptions = {}): RatioInterval {
  const n = candidate.length;
  if (n === 0 || reference.length !== n) throw new Error(`paired bootstrap needs two equal, non-empty samples (got ${n} and ${reference.length})`);
  const interval = percentileBootstrap(
    n,
    (draw) => {
      let a = 0;
      let b = 0;
      for (let i = 0; i < n; i++) {
        const j = draw();
        a += candidate[j];
        b += reference[j];
      }
      return a / b;
    },
    options,
  );
  return { ratio: sum(candidate) / sum(reference), ...interval };
}

/**
 * Percentile bootstrap interval of a per-user metric's mean (e.g. test NDCG@10): how far
 * the score could move with another draw of test users of the same size.
 */
export function bootstrapMean(values: ArrayLike<number>, options: BootstrapOptions = {}): MeanInterval {
  const n = values.length;
  if (n === 0) throw new Error('bootstrap needs a non-empty sample');
  const interval = percentileBootstrap(
    n,
    (draw) => {
      let total = 0;
      for (let i = 0; i < n; i++) total += values[draw()];
      return total / n;
    },
    options,
  );
  return { mean: sum(values) / n, ...interval };
}
