// FedAvg (McMahan et al. 2017) with equal client weights: the summary protocol does not
// carry example counts (they would reveal how much a shopper browses), so every
// participating shopper weighs 1.
import type { ClientSettings, RoundOutcome, SummedUpdates, SumStrategy } from './types.ts';

export class FedAvg implements SumStrategy {
  readonly name: string = 'fedavg';
  readonly input = 'sum';
  constructor(private readonly clipNorm = 10) {}
  clientSettings(): ClientSettings {
    return { clipNorm: this.clipNorm, clientNoiseStd: 0 };
  }
  aggregate(round: SummedUpdates): RoundOutcome {
    const update = new Float32Array(round.sum.length);
    const n = Math.max(round.count, 1);
    for (let i = 0; i < update.length; i++) update[i] = round.sum[i] / n;
    return { update, noiseMultiplier: null, noiseStd: round.noiseStd / n };
  }
  saveState(): unknown {
    return {};
  }
  loadState(): void {}
}

/**
 * Releases the round's sum itself (no averaging): the popularity count, where each client
 * uploads a 0/1 indicator per hash bucket and the sum is how many touched each bucket.
 */
export class SumRelease implements SumStrategy {
  readonly name = 'sum';
  readonly input = 'sum';
  constructor(private readonly clipNorm: number) {}
  clientSettings(): ClientSettings {
    return { clipNorm: this.clipNorm, clientNoiseStd: 0 };
  }
  aggregate(round: SummedUpdates): RoundOutcome {
    return { update: Float32Array.from(round.sum), noiseMultiplier: null, noiseStd: round.noiseStd };
  }
  saveState(): unknown {
    return {};
  }
  loadState(): void {}
}
