// Federated aggregation server: rounds, client selection, validated summary uploads,
// aggregation strategies, DP accounting and model versions. Protocol: server/PROTOCOL.md.
// Mount `handle` on any node:http server; it answers only paths under /fl/v1/.
// This file wires the parts together:
//   http/       routes, body reading and edge limits
//   rounds/     scheduling (open, select, close), the upload gate, the round sum, the closer
//   privacy/    the ledger (accountant, ε history, ε per month)
//   strategies/ one aggregation rule per file behind one `aggregate`, DP as a wrapper
// Written once against AggregatorStore (store.ts): the embedded FileStore (default) or a
// RedisStore that several instances share.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { API_PREFIX } from '../federated/protocol.ts';
import { HEADER_BYTES } from '../federated/summary.ts';
import { sha256Hex, versionCache } from './downloads.ts';
import { withFormats } from './model-formats.ts';
import { BodyPool } from './http/body.ts';
import { sendError } from './http/respond.ts';
import { aggregatorRoutes } from './http/routes.ts';
import { type AggregatorOptions, type Config, resolveOptions } from './options.ts';
import { PrivacyLedger } from './privacy/ledger.ts';
import { RoundCloser, type RoundStrategies } from './rounds/closer.ts';
import { capOf } from './rounds/plan.ts';
import { RoundSums } from './rounds/round-sum.ts';
import { RoundScheduler } from './rounds/scheduler.ts';
import { storedUploadCheck } from './rounds/upload-gate.ts';
import { FileStore } from './file-store.ts';
import { StatusView, type AggregatorStatus } from './status.ts';
import type { AggregatorStore, GlobalState } from './store.ts';
import { DifferentialPrivacy } from './strategies/differential-privacy.ts';
import { SumRelease } from './strategies/fedavg.ts';

export type { RoundRecord } from './store.ts';
export type { AggregatorOptions, EdgeLimits, PopularityOptions, TrainingSettings } from './options.ts';
export { PUBLIC_EDGE_LIMITS } from './options.ts';
export type { AggregatorStatus } from './status.ts';

export interface Aggregator {
  /** handles requests under /fl/v1/; resolves false (and touches nothing) for any other path */
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /**
   * Status as this instance last saw it, with exact counts (the operator's view; GET
   * /fl/v1/status leaves DP rounds' counts out). With a shared store other instances'
   * changes show after the next request or timer tick.
   */
  status(): AggregatorStatus;
  fetchStatus(): Promise<AggregatorStatus>;
  /**
   * Operator action: end the open round now, as its deadline would (aggregate if it has
   * ≥ minParticipants accepted, else abandon). Resolves true if a new model version resulted.
   */
  closeRoundNow(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Starts the aggregator on `options.store` (default: a FileStore in `dataDir`). The aggregator
 * owns the store from here on: `close()` closes it, and so does a start that fails (bad
 * options, a stored model of another size), so no Redis connection is left reconnecting.
 */
export async function createAggregator(options: AggregatorOptions): Promise<Aggregator> {
  const store: AggregatorStore = options.store ?? new FileStore(options.dataDir ?? '.silo-data');
  try {
    return await startAggregator(resolveOptions(options), options.initialWeights, store);
  } catch (e) {
    await store.close().catch(() => {});
    throw e;
  }
}

/** The popularity count goes through the same strategy interface: the sum, noised by the DP wrapper. */
function roundStrategies(config: Config): RoundStrategies {
  const p = config.popularity;
  const popularity = p && new DifferentialPrivacy(new SumRelease(Math.sqrt(p.maxItems)), { noiseMultiplier: p.noiseMultiplier, initialClipNorm: Math.sqrt(p.maxItems), adaptiveClipping: false }, 'popularity');
  return { model: config.strategy, popularity };
}

async function startAggregator(config: Config, initialWeights: Float32Array, store: AggregatorStore): Promise<Aggregator> {
  const { strategy, length } = config;
  const ledger = new PrivacyLedger(config.delta, config.accountant);
  const initial: GlobalState = { modelVersion: 1, strategy: strategy.saveState(), accountant: PrivacyLedger.empty(), ledger: [], history: [], hashes: { models: { 1: sha256Hex(initialWeights) }, popularity: {} } };
  const state = await store.init(initial, initialWeights);
  const model = await store.readModel(state.modelVersion);
  if (!model) throw new Error(`store has no model v${state.modelVersion}`);
  if (model.byteLength !== length * 4) throw new Error(`stored model has ${model.byteLength / 4} values, initialWeights ${length}: different model, use another store`);
  strategy.loadState(state.strategy);
  // a popularity upload is the raw indicator (the noise is added to the sum), so the server
  // must be the one trusted to add noise: not for a strategy that noises on the client
  if (config.popularity && strategy.clientSettings(config.expectedCohort).clientNoiseStd > 0) throw new Error('popularity rounds need a strategy with central noise');

  // stored uploads are re-checked before they count (a store is not trusted blindly)
  const sums = new RoundSums(store, (round) => capOf(round, config), storedUploadCheck);
  const closer = new RoundCloser(store, config, roundStrategies(config), sums, ledger);
  const status = new StatusView(store, config, closer, ledger);
  const scheduler = new RoundScheduler(store, config, closer, sums, () => status.refresh(), (id, counts) => status.note(id, counts));
  await status.refresh();
  await scheduler.resume();
  await status.refresh();

  const routes = aggregatorRoutes({
    config,
    store,
    scheduler,
    status,
    model: withFormats(versionCache('model version', (v) => store.readModel(v), async (v) => (await store.readState()).hashes?.models[v])),
    popularity: versionCache('popularity release', (v) => store.readPopularity(v), async (v) => (await store.readState()).hashes?.popularity[v]),
    bodies: new BodyPool(new Set([...[1, 2, 4].map((b) => HEADER_BYTES + length * b), ...(config.popularity ? [HEADER_BYTES + config.popularity.buckets] : [])])),
    maxBody: HEADER_BYTES + Math.max(length, config.popularity?.buckets ?? 0) * 4,
  });

  const timer = scheduler.startTimer();
  return {
    async handle(req, res) {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname !== API_PREFIX && !url.pathname.startsWith(API_PREFIX + '/')) return false;
      try {
        await routes.dispatch(req, res, url.pathname.slice(API_PREFIX.length));
      } catch (e) {
        sendError(res, e);
      }
      return true;
    },
    status: () => status.current,
    fetchStatus: async () => {
      await scheduler.current(config.clock());
      return status.refresh();
    },
    closeRoundNow() {
      return scheduler.tracked(
        (async () => {
          const cur = await store.currentRound();
          return cur ? scheduler.closeRound(cur.round.id) : false;
        })(),
      );
    },
    async close() {
      await timer.stop();
      await store.close();
    },
  };
}
