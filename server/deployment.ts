// The settings `npm start` and `npm run server` ship with, chosen so that the ε one shopper
// can spend in 30 days is at most 8 (δ = 1e-6), as GET /fl/v1/status reports in
// privacy.epsilonPerMonth: a round opens at most every 6 hours (≤ 120 a month), each
// check-in is selected with q = 0.2, DP-FedAvg noise z = 4 (a cap of 100 tasks can bind, so
// it is accounted as z/2 = 2: sensitivity 2C), and a popularity release (ε = 1 on its own)
// every 100 rounds. 6.95 a month by the RDP accountant.
import { noiseForEpsilon } from '../federated/accountant.ts';
import { type AggregatorOptions, PUBLIC_EDGE_LIMITS } from './options.ts';
import { defaultDelta } from './privacy/ledger.ts';
import { ServerAdam } from './server-optimizers.ts';
import { DpFedAvg } from './strategies/differential-privacy.ts';

export const DEPLOYMENT = {
  noiseMultiplier: 4,
  selectionProbability: 0.2,
  roundIntervalHours: 6,
  minParticipants: 10,
  maxParticipants: 100,
  popularityEpsilon: 1,
  popularityEveryRounds: 100,
  bits: 8 as const,
};

/** The shipped aggregator options (everything but the model and the store). */
export function deploymentOptions(population?: number): Omit<AggregatorOptions, 'initialWeights'> {
  const delta = defaultDelta(population);
  return {
    strategy: new DpFedAvg({ noiseMultiplier: DEPLOYMENT.noiseMultiplier }),
    // FedAdam on the server; the clients run plain SGD (the aggregator's default round settings)
    serverOptimizer: new ServerAdam(),
    // one byte per parameter keeps a browser's upload under 256 KB
    bits: DEPLOYMENT.bits,
    minParticipants: DEPLOYMENT.minParticipants,
    maxParticipants: DEPLOYMENT.maxParticipants,
    selectionProbability: DEPLOYMENT.selectionProbability,
    roundIntervalMs: DEPLOYMENT.roundIntervalHours * 3600_000,
    delta,
    population,
    popularity: { noiseMultiplier: noiseForEpsilon(1, 1, DEPLOYMENT.popularityEpsilon, delta), everyRounds: DEPLOYMENT.popularityEveryRounds },
    edge: PUBLIC_EDGE_LIMITS,
  };
}
