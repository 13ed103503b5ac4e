// Scores every evaluation case the way a shopper's device would rank for them: the global
// model's scores, the same model after the worker's on-device update on the shopper's own
// history, and additive signals that cost no privacy (the released popularity prior, public
// item-feature neighbours). Each variant is base + β·prior + γ·neighbours, ranked over the
// full catalog (models/metrics.ts fullRank rules: history items excluded, ties halved).
import * as tf from '@tensorflow/tfjs';
import { type EvalCase, ndcgAtRank } from '../../models/metrics.ts';
import type { SasRec } from '../../models/sasrec.ts';
import type { AttributeNeighbours } from './neighbours.ts';
import type { DeviceScorer } from './device-pool.ts';

export interface Variant {
  base: 'global' | 'device';
  /** weight of the popularity prior */
  beta: number;
  /** weight of the public-feature neighbour score */
  gamma: number;
}

export const variantKey = (v: Variant) => `${v.base} β${v.beta} γ${v.gamma}`;

export interface ScoringInputs {
  globalModel: SasRec;
  table: tf.Tensor2D;
  /** null: no on-device stage (variants on 'device' are refused) */
  device: DeviceScorer | null;
  prior: Float32Array | null;
  neighbours: AttributeNeighbours | null;
}

/** 0-based full-ranking rank of the target under base + β·prior + γ·neighbours */
function combinedRank(base: Float32Array, offset: number, n: number, c: EvalCase, excluded: Uint8Array, v: Variant, prior: Float32Array | null, nb: Float32Array | null): number {
  const b = v.beta && prior ? v.beta : 0;
  const g = v.gamma && nb ? v.gamma : 0;
  const at = (j: number) => base[offset + j] + (b ? b * prior![j] : 0) + (g ? g * nb![j] : 0);
  const s = at(c.target);
  let higher = 0;
  let ties = 0;
  for (let j = 1; j < n; j++) {
    if (j === c.target || excluded[j]) continue;
    const x = at(j);
    if (x > s) higher++;
    else if (x === s) ties++;
  }
  return higher + Math.floor(ties / 2);
}

/**
 * Ranks of every case's target under every variant (keyed by variantKey), in case order.
 * The global model is scored in batches; the on-device update runs once per case, on the device threads.
 */
export async function rankVariants(cases: readonly EvalCase[], variants: readonly Variant[], inputs: ScoringInputs, progress?: (done: number) => void): Promise<Map<string, Int32Array>> {
  const { globalModel, table, device, prior, neighbours } = inputs;
  const n = table.shape[0];
  if (!device && variants.some((v) => v.base === 'device')) throw new Error('device variants need an on-device updater');
  const ranks = new Map(variants.map((v) => [variantKey(v), new Int32Array(cases.length)]));
  const needGlobal = variants.some((v) => v.base === 'global');
  const needNeighbours = !!neighbours && variants.some((v) => v.gamma !== 0);
  const nb = needNeighbours ? new Float32Array(n) : null;
  /** 1 for the case's history items (left out of its ranking) */
  const excluded = new Uint8Array(n);
  const globalItems = needGlobal ? globalModel.itemEmbeddings(table) : null;
  const batch = 128;
  const chunks: EvalCase[][] = [];
  for (let start = 0; start < cases.length; start += batch) chunks.push(cases.slice(start, start + batch));
  const needDevice = !!device && variants.some((v) => v.base === 'device');
  // the device threads update and score the next chunk while this thread ranks the current one
  const deviceScores = (k: number) => (needDevice && k < chunks.length ? device!.scoreAfterUpdate(chunks[k].map((c) => c.history)) : Promise.resolve(null));
  let nextDevice = deviceScores(0);
  try {
    for (let k = 0; k < chunks.length; k++) {
      const chunk = chunks[k];
      const start = k * batch;
      const globalScores = globalItems ? await globalModel.scoreNext(chunk.map((c) => c.history), table, globalItems) : null;
      const chunkDevice = await nextDevice;
      nextDevice = deviceScores(k + 1);
      for (let b = 0; b < chunk.length; b++) {
        const c = chunk[b];
        for (const i of c.history) excluded[i] = 1;
        excluded[c.target] = 0; // a re-bought target still has to be found
        if (nb) neighbours!.scores(c.history, nb);
        for (const v of variants) {
          const rank = v.base === 'global' ? combinedRank(globalScores!, b * n, n, c, excluded, v, prior, nb) : combinedRank(chunkDevice!, b * n, n, c, excluded, v, prior, nb);
          ranks.get(variantKey(v))![start + b] = rank;
        }
        for (const i of c.history) excluded[i] = 0;
      }
      progress?.(start + chunk.length);
    }
  } finally {
    globalItems?.dispose();
    await nextDevice.catch(() => null);
  }
  return ranks;
}

export interface StageMetrics {
  'NDCG@10': number;
  'HR@10': number;
  perUserNdcg10: Float64Array;
}

export function metricsOf(ranks: Int32Array): StageMetrics {
  const perUserNdcg10 = Float64Array.from(ranks, (r) => ndcgAtRank(r));
  let hits = 0;
  for (const r of ranks) if (r < 10) hits++;
  return { 'NDCG@10': perUserNdcg10.reduce((a, b) => a + b, 0) / Math.max(1, ranks.length), 'HR@10': hits / Math.max(1, ranks.length), perUserNdcg10 };
}

/** The variant among `candidates` with the highest NDCG@10 on validation (earlier wins ties). */
export function bestOnValidation(candidates: readonly Variant[], validationRanks: Map<string, Int32Array>): { variant: Variant; ndcg10: number } {
  let best: { variant: Variant; ndcg10: number } | null = null;
  for (const v of candidates) {
    const ndcg10 = metricsOf(validationRanks.get(variantKey(v))!)['NDCG@10'];
    if (!best || ndcg10 > best.ndcg10) best = { variant: v, ndcg10 };
  }
  if (!best) throw new Error('no candidate variants');
  return best;
}
