// Robust rule: norm bounding (clients clip to clipNorm, the server rejects larger norms)
// plus the coordinate-wise trimmed mean (Yin et al. 2018): per coordinate, drop the
// `trimFraction` largest and smallest values and average the rest. trimFraction = 0.5
// gives the coordinate-wise median. Needs every update: memory grows with the cohort.
import type { ClientSettings, CollectedUpdates, CollectStrategy, RoundOutcome } from './types.ts';

export class TrimmedMean implements CollectStrategy {
  readonly name: string;
  readonly input = 'updates';
  constructor(private readonly clipNorm = 10, private readonly trimFraction = 0.1) {
    if (trimFraction < 0 || trimFraction > 0.5) throw new Error('trimFraction must be in [0, 0.5]');
    this.name = trimFraction >= 0.5 ? 'median' : 'trimmed-mean';
  }
  clientSettings(): ClientSettings {
    return { clipNorm: this.clipNorm, clientNoiseStd: 0 };
  }
  aggregate(round: CollectedUpdates): RoundOutcome {
    const deltas = round.updates;
    const n = deltas.length;
    const d = n ? deltas[0].length : 0;
    const update = new Float32Array(d);
    const column = new Float64Array(n);
    const median = this.trimFraction >= 0.5;
    const cut = Math.floor(this.trimFraction * n);
    for (let j = 0; j < d; j++) {
      for (let i = 0; i < n; i++) column[i] = deltas[i][j];
      column.sort();
      if (median) update[j] = n % 2 ? column[(n - 1) / 2] : (column[n / 2 - 1] + column[n / 2]) / 2;
      else {
        let s = 0;
        for (let i = cut; i < n - cut; i++) s += column[i];
        update[j] = s / (n - 2 * cut);
      }
    }
    return { update, noiseMultiplier: null, noiseStd: 0 };
  }
  saveState(): unknown {
    return {};
  }
  loadState(): void {}
}
