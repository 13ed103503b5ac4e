// Privacy floors compiled into the client: a round task whose parameters are weaker than
// these is refused, whatever the server (in practice, the storefront that runs it) asks.
// The page cannot lower them either: they are not options.
import type { RoundTask } from '../federated/protocol.ts';

export interface PrivacyFloors {
  /** a model round's L2 clip norm may be at most this */
  maxClipNorm: number;
  /** a popularity round may ask for at most this many items (its clip norm is √maxItems) */
  maxPopularityItems: number;
  /** the smallest cohort a task may promise (its minParticipants) */
  minCohort: number;
  /** the noise on the released sum, as a multiple of the clip norm, at the promised cohort */
  minNoiseMultiplier: number;
  /** the most (ε) the server may have spent, or promise to spend, on what this client helps release */
  maxEpsilon: number;
}

export const CLIENT_FLOORS: Readonly<PrivacyFloors> = Object.freeze({
  // about 4× the median norm of a one-step client delta (0.37): room for adaptive clipping to
  // follow real updates, none for a run of clipped reports to drive the clip up without end
  maxClipNorm: 1.5,
  maxPopularityItems: 50,
  minCohort: 10,
  minNoiseMultiplier: 0.5,
  maxEpsilon: 8,
});

/**
 * What a task may promise beyond RoundTask (a server that sends none of these is checked on
 * the fields it does send). noiseMultiplier: the central noise the server says it adds.
 */
export interface TaskPrivacyPromise {
  minParticipants?: number;
  noiseMultiplier?: number;
  epsilon?: number;
}

/**
 * Why this client refuses the task, or null if it is within the floors. `spentEpsilon`: the
 * total ε the server last reported for its releases (the global model's account).
 */
export function refusalReason(task: RoundTask & TaskPrivacyPromise, spentEpsilon?: number, floors: PrivacyFloors = CLIENT_FLOORS): string | null {
  const kind = task.kind ?? 'model';
  if (!(task.clipNorm > 0) || !Number.isFinite(task.clipNorm)) return `clip norm ${task.clipNorm} is not a positive number`;
  if (kind === 'popularity') {
    const items = task.maxItems ?? Infinity;
    if (!(items <= floors.maxPopularityItems)) return `asks for ${items} items, more than ${floors.maxPopularityItems}`;
  } else if (task.clipNorm > floors.maxClipNorm) return `clip norm ${task.clipNorm} above ${floors.maxClipNorm}`;
  if (task.minParticipants !== undefined && !(task.minParticipants >= floors.minCohort)) return `cohort of ${task.minParticipants}, fewer than ${floors.minCohort}`;
  const noise = promisedNoiseMultiplier(task);
  if (noise !== undefined && !(noise >= floors.minNoiseMultiplier)) return `noise multiplier ${noise.toFixed(3)} below ${floors.minNoiseMultiplier}`;
  if (task.epsilon !== undefined && !(task.epsilon <= floors.maxEpsilon)) return `promises ε ${task.epsilon}, above ${floors.maxEpsilon}`;
  if (spentEpsilon !== undefined && spentEpsilon > floors.maxEpsilon) return `the server has spent ε ${spentEpsilon.toFixed(2)}, above ${floors.maxEpsilon}`;
  return null;
}

/**
 * The noise on the released sum in clip norms: the central promise, or the clients' own
 * shares (std σ each, so σ·√n on a sum of n ≥ minParticipants) when the cohort is promised.
 * Undefined when the task says nothing it can be computed from.
 */
function promisedNoiseMultiplier(task: RoundTask & TaskPrivacyPromise): number | undefined {
  const central = task.noiseMultiplier ?? 0;
  const distributed = task.clientNoiseStd > 0 && task.minParticipants !== undefined ? (task.clientNoiseStd * Math.sqrt(task.minParticipants)) / task.clipNorm : 0;
  if (task.noiseMultiplier === undefined && distributed === 0) return undefined;
  // independent Gaussians add in variance
  return Math.hypot(central, distributed);
}
