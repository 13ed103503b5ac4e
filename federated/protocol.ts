// Types shared by the aggregation server and the browser worker (server/PROTOCOL.md, v1).
import type { ValueBits } from './summary.ts';

export const API_PREFIX = '/fl/v1';

/**
 * 'model' (also when absent: servers before popularity rounds): train from the global model
 * and upload the clipped change. 'popularity': upload which of the shopper's most recent
 * items were touched, one per hash bucket (federated/popularity.ts); the server releases
 * the noised sum as the popularity prior.
 */
export type RoundKind = 'model' | 'popularity';

/** What check-in hands a selected client: everything needed to produce one summary. */
export interface RoundTask {
  kind?: RoundKind;
  roundId: number;
  /** the global model version to start from (download it from /fl/v1/model/:version) */
  modelVersion: number;
  /** number of values the summary must carry (the model's parameter count; popularity: buckets) */
  length: number;
  /** popularity rounds: at most this many distinct items, the shopper's most recent */
  maxItems?: number;
  /** local training settings (unused by popularity rounds) */
  epochs: number;
  learningRate: number;
  batchSize: number;
  optimizer: 'sgd' | 'adam';
  /** L2 bound the client clips its delta to before noise and rounding */
  clipNorm: number;
  /**
   * Bound on the decoded summary's L2 norm (after noise and rounding) that the server
   * enforces (422 above it) and the privacy accountant assumes: the client redraws its
   * rounding until it holds (summary.ts, conditionalQuantize). Absent from older servers.
   */
  normBound?: number;
  /** per-coordinate Gaussian noise std the client adds (distributed DP); 0 when the server adds it */
  clientNoiseStd: number;
  bits: ValueBits;
  scale: number;
  /** upload deadline, ms since epoch */
  deadline: number;
  /**
   * A secure popularity round: upload one sealed Prio3 report (federated/secure) to
   * /fl/v1/rounds/:id/report instead of a summary (server/PROTOCOL.md, "Secure popularity rounds")
   */
  secure?: SecureRoundTask;
}

/** What a client needs to build and seal a secure popularity report. */
export interface SecureRoundTask {
  vdaf: 'Prio3MultihotCountVec';
  /** hash buckets (the vector's length) and the most ones a report may hold */
  length: number;
  maxWeight: number;
  chunkLength: number;
  /** 32 bytes, base64url: unique per round, bound into the proof and the encryption */
  taskId: string;
  /** the helper aggregator's origin: its HPKE config is fetched from there, not from the leader */
  helperUrl: string;
  /** the leader's encoded HPKE config, base64url */
  leaderHpkeConfig: string;
}

/**
 * `retryAfterSeconds`: check in again no sooner. After a task, and after a "wait" given while
 * a round was open (not selected, or no place left), it runs to that round's deadline: the
 * accountant's sampling rate q assumes one draw per shopper per round, so a client must not
 * ask the same round twice. It is relative, so a client's clock skew does not matter.
 */
export type CheckInResponse = { status: 'task'; task: RoundTask; retryAfterSeconds: number } | { status: 'wait'; retryAfterSeconds: number };
