// The round tasks the shipped server hands out (server/deployment.ts through the server's
// own planner), so every attack runs against exactly what a shopper's browser would upload.
import type { RoundTask } from '../../federated/protocol.ts';
import { deploymentOptions } from '../../server/deployment.ts';
import { type Config, resolveOptions } from '../../server/options.ts';
import { modelRound, popularityRound } from '../../server/rounds/plan.ts';
import type { GlobalState } from '../../server/store.ts';

/** The shipped server's resolved settings for a model of `parameterCount` weights. */
export function shippedConfig(parameterCount: number, popularityBuckets?: number): Config {
  const options = deploymentOptions();
  const popularity = options.popularity && popularityBuckets ? { ...options.popularity, buckets: popularityBuckets } : options.popularity;
  return resolveOptions({ ...options, popularity, initialWeights: new Float32Array(parameterCount) });
}

const FRESH_STATE: GlobalState = { modelVersion: 0, strategy: null, accountant: null, history: [] } as unknown as GlobalState;

export function shippedPopularityTask(config: Config): RoundTask {
  if (!config.popularity) throw new Error('the shipped server runs no popularity rounds');
  return popularityRound(config.popularity, 1, FRESH_STATE, Date.now() + 600_000).task;
}

export function shippedModelTask(config: Config): RoundTask {
  return modelRound(config, config.strategy, 2, FRESH_STATE, Date.now() + 600_000).task;
}
