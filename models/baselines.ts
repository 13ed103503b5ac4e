// Non-neural baselines every model must beat. Pure TypeScript, shared with the browser.
// Both produce scores for item indices 0..numItems-1 (0 = padding, never recommended).

/**
 * Per-item user counts for a release with user-level DP: each user adds 1 to each of their
 * `maxItems` most recent distinct items, so one user moves the count vector by at most
 * √maxItems in L2 (the Gaussian mechanism's sensitivity). Index 0 (padding) stays 0.
 */
export function distinctItemCounts(trainSequences: readonly number[][], numItems: number, maxItems: number): Float32Array {
  const counts = new Float32Array(numItems);
  for (const seq of trainSequences) for (const i of [...new Set([...seq].reverse())].slice(0, maxItems)) counts[i]++;
  return counts;
}

/** Most popular items first, whatever the user did. */
export class PopularityModel {
  readonly counts: Float32Array;

  constructor(trainSequences: readonly number[][], readonly numItems: number) {
    this.counts = new Float32Array(numItems);
    for (const seq of trainSequences) for (const i of seq) this.counts[i]++;
    this.counts[0] = -Infinity;
  }

  score(histories: readonly number[][]): Float32Array {
    const out = new Float32Array(histories.length * this.numItems);
    histories.forEach((_, b) => out.set(this.counts, b * this.numItems));
    return out;
  }
}

/**
 * Item-to-item transitions: how often item j directly followed item i in training (a
 * first-order Markov chain), normalised per source item, summed over the user's last few
 * items with geometric decay so the most recent item counts most. Popularity, scaled far
 * below one transition, breaks ties so cold items still get a sensible order.
 */
export class TransitionModel {
  /** transitions.get(i).get(j): how often j directly followed i */
  private readonly transitions = new Map<number, Map<number, number>>();
  private readonly popularity: PopularityModel;

  constructor(
    trainSequences: readonly number[][],
    readonly numItems: number,
    /** how many of the latest items vote, and how much less each older one weighs */
    readonly window = 3,
    readonly decay = 0.5,
  ) {
    const transitions = this.transitions;
    for (const seq of trainSequences) {
      for (let t = 0; t + 1 < seq.length; t++) {
        let row = transitions.get(seq[t]);
        if (!row) transitions.set(seq[t], (row = new Map()));
        row.set(seq[t + 1], (row.get(seq[t + 1]) ?? 0) + 1);
      }
    }
    this.popularity = new PopularityModel(trainSequences, numItems);
  }

  score(histories: readonly number[][]): Float32Array {
    const n = this.numItems;
    const out = new Float32Array(histories.length * n);
    let maxPop = 1;
    for (let j = 1; j < n; j++) maxPop = Math.max(maxPop, this.popularity.counts[j]);
    const transitions = this.transitions;
    histories.forEach((history, b) => {
      const base = b * n;
      for (let j = 1; j < n; j++) out[base + j] = (1e-3 * this.popularity.counts[j]) / maxPop;
      out[base] = -Infinity;
      let weight = 1;
      for (let k = history.length - 1; k >= Math.max(0, history.length - this.window); k--) {
        const row = transitions.get(history[k]);
        if (row) {
          let total = 0;
          for (const c of row.values()) total += c;
          for (const [j, c] of row) out[base + j] += (weight * c) / total;
        }
        weight *= this.decay;
      }
    });
    return out;
  }
}
