// What a round asks of its clients: the task, the clip settings and the norm bound the
// upload gate enforces, for a model round or a popularity round.
import type { RoundTask } from '../../federated/protocol.ts';
import { defaultScale, roundedNormBound } from '../../federated/summary.ts';
import type { Config, ResolvedPopularity } from '../options.ts';
import type { GlobalState, OpenRound } from '../store.ts';
import type { AggregationStrategy } from '../strategies/types.ts';

/** The round's task cap (rounds opened before caps were stored: the option's). */
export function capOf(round: OpenRound, config: Pick<Config, 'maxParticipants'>): number {
  return round.maxParticipants ?? config.maxParticipants;
}

/** A popularity round opens first, then after every `everyRounds` rounds (counted from the last one opened, released or not). */
export function popularityDue(popularity: ResolvedPopularity | null, st: GlobalState, id: number): boolean {
  return !!popularity && (!st.popularity || id - st.popularity.lastRoundId > popularity.everyRounds);
}

export function popularityRound(p: ResolvedPopularity, id: number, st: GlobalState, deadline: number): OpenRound {
  const clipNorm = Math.sqrt(p.maxItems);
  const task: RoundTask = {
    kind: 'popularity',
    roundId: id,
    modelVersion: st.modelVersion,
    length: p.buckets,
    maxItems: p.maxItems,
    epochs: 0,
    learningRate: 0,
    batchSize: 1,
    optimizer: 'sgd',
    clipNorm,
    // 0/1 values are exact at scale 1: no rounding error, so the bound is √maxItems itself
    normBound: clipNorm * (1 + 1e-9),
    clientNoiseStd: 0,
    bits: 8,
    scale: 1,
    deadline,
  };
  // with a helper the round takes sealed reports, stored as they come and summed at close (server/secure)
  if (p.secure) task.secure = p.secure.taskFor(id, p.buckets, p.maxItems);
  return { id, modelVersion: st.modelVersion, task, settings: { clipNorm, clientNoiseStd: 0 }, normBound: task.normBound!, keep: p.secure ? 'summaries' : 'sum', maxParticipants: p.maxParticipants };
}

/**
 * Where the grid saturates, as a multiple of the clip. 8 bits: at C/4, not C. In one-step
 * browser-model deltas of 40 Beauty shoppers (clipped), no coordinate held more than 22.8% of
 * the norm, so nothing was clamped, while the rounding error that the norm bound and the DP
 * noise must cover shrinks 4×: B = 1.11·C instead of 2.16·C at 226,600 parameters. Clamping
 * only shrinks a coordinate, so the bound holds for any vector. With client noise: 2·C.
 */
function gridHeadroom(config: Config, clientNoiseStd: number): number {
  if (clientNoiseStd > 0) return 2;
  return config.bits === 8 ? 0.25 : 1;
}

export function modelRound(config: Config, strategy: AggregationStrategy, id: number, st: GlobalState, deadline: number): OpenRound {
  const settings = strategy.clientSettings(config.expectedCohort);
  const scale = defaultScale(settings.clipNorm, config.bits, gridHeadroom(config, settings.clientNoiseStd));
  // held exactly by the client's conditional rounding (federated/summary.ts)
  const normBound = roundedNormBound(settings.clipNorm, scale, config.length, settings.clientNoiseStd);
  const task: RoundTask = {
    kind: 'model',
    roundId: id,
    modelVersion: st.modelVersion,
    length: config.length,
    ...config.training,
    clipNorm: settings.clipNorm,
    normBound,
    clientNoiseStd: settings.clientNoiseStd,
    bits: config.bits,
    scale,
    deadline,
  };
  return { id, modelVersion: st.modelVersion, task, settings, normBound, keep: strategy.input === 'sum' ? 'sum' : 'summaries', maxParticipants: config.maxParticipants };
}
