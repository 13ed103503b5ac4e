// Named configurations of `npm run bench:private`. Without --preset the recommended one runs:
// the federated settings of the best measured Beauty run at ε ≤ 8 (BENCHMARKS.md, the `dp8`
// row: 2,000 shoppers a round × 108 rounds, one client SGD step at lr 0.2, clip from 0.3, FedAdam
// lr 0.02, a popularity release at ε 1 inside the total, PLD accounting), with δ 1e-6.
import type { DeviceSchedule } from './on-device.ts';
import type { FederationSettings } from './federation.ts';
import type { CentralSettings } from './central.ts';

export interface PrivateBenchConfig {
  data?: string;
  attributes?: string;
  /** item metadata TSV (bench/datasets.ts applyItemMetadataTsv) */
  metadata?: string;
  /** first N users only */
  users?: number;
  federation: FederationSettings;
  /** threads: worker threads running the per-shopper updates (one per core) */
  device: { schedule: DeviceSchedule; threads: number };
  central: CentralSettings;
  /** validation users the weights β, γ are chosen on (a fixed random subset) */
  validationUsers: number;
  /** test users scored (a fixed random subset), or 'all' */
  testUsers: number | 'all';
}

const RECOMMENDED: PrivateBenchConfig = {
  federation: {
    clientsPerRound: 2000,
    rounds: 108,
    epsilon: 8,
    delta: 1e-6,
    priorEpsilon: 1,
    priorBuckets: 65536,
    clip: 0.3,
    localEpochs: 1,
    localLearningRate: 0.2,
    localOptimizer: 'sgd',
    serverLearningRate: 0.02,
    serverTau: 1e-6,
    bits: 8,
    accountant: 'pld',
  },
  device: { schedule: 'catch-up', threads: 2 },
  // bench:quality's learning rate and patience for this model size
  central: { maxEpochs: 200, patience: 5, learningRate: 0.005, batchSize: 256, seed: 43 },
  validationUsers: 5000,
  testUsers: 'all',
};

const BEAUTY_DIR = '/work/shared/datasets/beauty';

export const PRESETS: Record<string, PrivateBenchConfig> = {
  recommended: RECOMMENDED,
  /** the headline: every Beauty shopper and test user */
  beauty: { ...RECOMMENDED, data: `${BEAUTY_DIR}/Beauty.txt`, attributes: `${BEAUTY_DIR}/Beauty_item2attributes.json` },
  /** ML-1M with its genres as public item features, at the recommended (Beauty-chosen, untuned here) settings */
  'ml-1m': { ...RECOMMENDED, data: '/work/shared/datasets/ml-1m/ml-1m.txt', metadata: '/work/shared/datasets/ml-1m/sas_item_metadata.tsv' },
  /** a smoke check in minutes: the first 1,500 users, a few small rounds, 500 test users, a capped reference */
  quick: {
    ...RECOMMENDED,
    users: 1500,
    federation: { ...RECOMMENDED.federation, clientsPerRound: 300, rounds: 4 },
    central: { ...RECOMMENDED.central, maxEpochs: 3, patience: 2 },
    validationUsers: 300,
    testUsers: 500,
  },
};
