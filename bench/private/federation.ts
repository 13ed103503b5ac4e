// The private training path, as a deployment runs it: the real aggregation server on
// loopback, every virtual shopper running the browser's own client code
// (federated/client.ts trainRoundUpdate, federated/transport.ts), DP-FedAvg with central
// noise calibrated so that the popularity release and every model round together stay
// within the target ε at the given δ.
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { computeRdp, DEFAULT_ORDERS, noiseForEpsilon, rdpToDp } from '../../federated/accountant.ts';
import { trainRoundUpdate } from '../../federated/client.ts';
import { type GaussianRounds, pldEpsilon, pldNoiseForEpsilon } from '../../federated/pld.ts';
import { popularityBucket, popularitySummary } from '../../federated/popularity.ts';
import { flattenWeights, unflattenWeights } from '../../federated/summary.ts';
import { FederatedHttpClient } from '../../federated/transport.ts';
import { SasRec } from '../../models/sasrec.ts';
import { createAggregator } from '../../server/aggregator.ts';
import { DpFedAvg } from '../../server/strategies.ts';
import { ServerAdam } from '../../server/server-optimizers.ts';
import { cosineDecay } from '../cosine-decay.ts';
import { inProcessCheckIn } from './check-in.ts';

export interface FederationSettings {
  clientsPerRound: number;
  rounds: number;
  /** total ε per shopper: the popularity release and every model round together */
  epsilon: number;
  delta: number;
  /** ε of the popularity release alone (part of `epsilon`), or null for no prior */
  priorEpsilon: number | null;
  priorBuckets: number;
  clip: number;
  clipQuantile?: number;
  localEpochs: number;
  localLearningRate: number;
  localOptimizer: 'sgd' | 'adam';
  serverLearningRate: number;
  serverLearningRateFinal?: number;
  serverTau: number;
  bits: 8 | 16 | 32;
  accountant: 'rdp' | 'pld';
}

export interface FederationResult {
  /** the last global model the server published */
  weights: Float32Array[];
  /** log(1 + max(0, released count)) per item index, or null without a popularity round */
  prior: Float32Array | null;
  /** the prior weight the server publishes with its release */
  publishedBeta: number | null;
  noiseMultiplier: number;
  priorNoiseMultiplier: number | null;
  /** ε of everything released, by the run's accountant, at `delta` */
  epsilon: number;
  /** ε as the server's own ledger reports it after the last round */
  serverEpsilon: number | null;
  roundsRun: number;
  meanUploadBytes: number;
  seconds: number;
}

/** each shopper's ≤ 20 most recent distinct items count once in the popularity release (L2 sensitivity √20) */
const PRIOR_MAX_ITEMS = 20;

/**
 * Runs the popularity round (if asked) and `rounds` model rounds; `train` holds every
 * shopper's training prefix. `model` gives the initial weights and is left untouched.
 */
type Aggregator = Awaited<ReturnType<typeof createAggregator>>;

/**
 * The popularity round, run before any model round: every shopper uploads its indicator
 * (the worker's code), the server releases the noised counts; returns log(1 + count) per item.
 */
async function popularityRound(aggregator: Aggregator, client: FederatedHttpClient, train: readonly number[][], itemKeys: readonly string[]): Promise<{ prior: Float32Array; publishedBeta: number }> {
  for (const seq of train) {
    const answer = await inProcessCheckIn(aggregator);
    if (answer.status !== 'task' || !answer.token) continue;
    if (answer.task.kind !== 'popularity') throw new Error(`expected the popularity round first, got a ${answer.task.kind} round`);
    await client.uploadSummary(answer.task.roundId, answer.token, popularitySummary(answer.task, seq.map((i) => itemKeys[i])));
  }
  // the last upload may have filled the round and closed it
  if (!(await aggregator.fetchStatus()).popularity && !(await aggregator.closeRoundNow())) throw new Error('popularity round released nothing');
  const release = await client.downloadPopularity();
  const prior = new Float32Array(itemKeys.length);
  for (let i = 1; i < itemKeys.length; i++) prior[i] = Math.log1p(Math.max(0, release.counts[popularityBucket(itemKeys[i], release.counts.length)]));
  return { prior, publishedBeta: release.weight };
}

/** `rounds` model rounds: every shopper checks in once per round, in a random order. */
async function modelRounds(
  aggregator: Aggregator,
  client: FederatedHttpClient,
  model: SasRec,
  table: tf.Tensor2D,
  users: readonly number[][],
  initialWeights: Float32Array[],
  rounds: number,
  log: (line: string) => void,
  random: () => number,
): Promise<{ bytes: number; uploads: number }> {
  const personalModel = new SasRec(model.config);
  let cached: { version: number; weights: Float32Array[] } | null = null;
  let bytes = 0;
  let uploads = 0;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    const startVersion = aggregator.status().modelVersion;
    const order = users.map((_, i) => i).sort(() => random() - 0.5);
    let participants = 0;
    for (const u of order) {
      const answer = await inProcessCheckIn(aggregator);
      if (answer.status !== 'task' || !answer.token) continue;
      const task = answer.task;
      if (!cached || cached.version !== task.modelVersion) {
        const m = await client.downloadModel(task.modelVersion);
        cached = { version: m.version, weights: unflattenWeights(m.weights, initialWeights) };
      }
      const { summary } = await trainRoundUpdate({ model: personalModel, globalWeights: cached.weights, task, sequences: [users[u]], table });
      await client.uploadSummary(task.roundId, answer.token, summary);
      bytes += summary.length;
      uploads++;
      participants++;
      if (aggregator.status().modelVersion !== startVersion) break; // the round filled
    }
    // Poisson sampling may select fewer than the cap: end the round as its deadline would
    if (aggregator.status().modelVersion === startVersion && !(await aggregator.closeRoundNow())) throw new Error(`round ${r + 1}: no participant`);
    const st = aggregator.status();
    log(`round ${r + 1}/${rounds}: ${participants} clients, server ε ${st.privacy.epsilon?.toFixed(3) ?? '—'} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  personalModel.dispose();
  return { bytes, uploads };
}

export async function runFederation(
  model: SasRec,
  table: tf.Tensor2D,
  itemKeys: readonly string[],
  train: readonly number[][],
  settings: FederationSettings,
  log: (line: string) => void,
  random: () => number,
): Promise<FederationResult> {
  const started = performance.now();
  const users = train.filter((s) => s.length >= 2);
  const { delta, rounds } = settings;
  const q = Math.min(1, settings.clientsPerRound / users.length);
  const priorNoise = settings.priorEpsilon === null ? null : noiseForEpsilon(1, 1, settings.priorEpsilon, delta);
  const priorRounds: GaussianRounds[] = priorNoise === null ? [] : [{ q: 1, noiseMultiplier: priorNoise, count: 1 }];
  const priorRdp = priorNoise === null ? undefined : computeRdp(1, priorNoise, 1);
  const z = settings.accountant === 'pld'
    ? pldNoiseForEpsilon(q, rounds, settings.epsilon, delta, priorRounds)
    : noiseForEpsilon(q, rounds, settings.epsilon, delta, 'improved', priorRdp);
  const initialWeights = await model.getWeights();
  const dataDir = mkdtempSync(join(tmpdir(), 'silo-bench-private-'));
  const schedule = settings.serverLearningRateFinal === undefined ? settings.serverLearningRate : cosineDecay(settings.serverLearningRate, settings.serverLearningRateFinal, rounds);
  const aggregator = await createAggregator({
    initialWeights: flattenWeights(initialWeights),
    dataDir,
    strategy: new DpFedAvg({
      noiseMultiplier: z,
      initialClipNorm: settings.clip,
      noiseMode: 'central',
      ...(settings.clipQuantile === undefined ? {} : { targetUnclippedQuantile: settings.clipQuantile }),
    }),
    serverOptimizer: new ServerAdam(schedule, 0.9, 0.99, settings.serverTau, false),
    minParticipants: 1,
    maxParticipants: settings.clientsPerRound * 2,
    roundDurationMs: 24 * 3600_000,
    selectionProbability: q,
    training: { epochs: settings.localEpochs, learningRate: settings.localLearningRate, batchSize: 16, optimizer: settings.localOptimizer },
    bits: settings.bits,
    delta,
    accountant: settings.accountant,
    // the popularity round first, then only model rounds
    ...(priorNoise === null ? {} : { popularity: { noiseMultiplier: priorNoise, buckets: settings.priorBuckets, maxItems: PRIOR_MAX_ITEMS, everyRounds: rounds + 1, maxParticipants: train.length, selectionProbability: 1 } }),
  });
  const server = createServer(async (req, res) => {
    if (!(await aggregator.handle(req, res))) res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = new FederatedHttpClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  try {
    log(`federated: ${settings.clientsPerRound} clients/round (q ${q.toFixed(4)}), ${rounds} rounds, z ${z.toFixed(3)}${priorNoise === null ? '' : `, popularity release z ${priorNoise.toFixed(3)} (ε ${settings.priorEpsilon} alone)`}, δ ${delta}, ${settings.accountant.toUpperCase()} accounting`);
    const { prior, publishedBeta } = priorNoise === null ? { prior: null, publishedBeta: null } : await popularityRound(aggregator, client, train, itemKeys);
    const { bytes, uploads } = await modelRounds(aggregator, client, model, table, users, initialWeights, rounds, log, random);
    const latest = await client.downloadModel('latest');
    const epsilon = settings.accountant === 'pld'
      ? pldEpsilon([...priorRounds, { q, noiseMultiplier: z, count: rounds }], delta)
      : rdpToDp(DEFAULT_ORDERS, computeRdp(q, z, rounds).map((v, i) => v + (priorRdp?.[i] ?? 0)), delta).epsilon;
    return {
      weights: unflattenWeights(latest.weights, initialWeights),
      prior,
      publishedBeta,
      noiseMultiplier: z,
      priorNoiseMultiplier: priorNoise,
      epsilon,
      serverEpsilon: aggregator.status().privacy.epsilon,
      roundsRun: rounds,
      meanUploadBytes: uploads ? bytes / uploads : 0,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
    await aggregator.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
