// The leader's part of secure popularity rounds: the task it hands out, the check of a sealed
// report before it is stored, and the round's close: verify every stored report with the
// helper in batches, add its own discrete Gaussian noise to its aggregate share, fetch the
// helper's noised share and unshard. Only reports both aggregators accepted count; the others
// are counted per reason in <dataDir>/secure/rounds/r<id>.json and logged.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SecureRoundTask } from '../../federated/protocol.ts';
import { beginVerify, finishVerify, openShare } from '../../federated/secure/aggregator.ts';
import { type AggregatorKeyPair, encodeHpkeConfig } from '../../federated/secure/hpke.ts';
import { decodeReport, encodeReportShare } from '../../federated/secure/report.ts';
import { chunkLengthOf, type SecureTask, vdafOf } from '../../federated/secure/task.ts';
import { decodeAggShare } from '../../federated/vdaf/codec.ts';
import type { Prio3VerifyState } from '../../federated/vdaf/prio3.ts';
import { HttpError } from '../http/respond.ts';
import { writeFileDurably } from '../integrity-files.ts';
import type { AggregatorStore, OpenRound } from '../store.ts';
import type { RoundOutcome } from '../strategies/types.ts';
import { HelperClient } from './helper-client.ts';
import { loadOrCreateKeyPair } from './keys.ts';
import { b64, hex, type InitResult, reportIdsChecksum, unb64, verifyKeyOf } from './messages.ts';
import { addDiscreteGaussian, unshardSigned } from './noise.ts';

export interface SecureLeaderOptions {
  /** where the leader's HPKE key pair and per-round verdicts live (not the store's directory) */
  dataDir: string;
  /** the helper's base URL: shoppers fetch its HPKE config there, the leader calls its API there */
  helperUrl: string;
  helperToken: string;
  /** reports per aggregate-init request */
  batchSize?: number;
}

/** Per-reason counts of the reports left out of a round. */
export type Rejections = Record<string, number>;

interface Pending {
  id: string;
  state: Prio3VerifyState;
  reportShare: Uint8Array;
  leaderVerifierShare: Uint8Array;
}

const reportLimits = new Map<string, number>();

export class SecureLeader {
  private readonly helper: HelperClient;
  private readonly batchSize: number;

  private constructor(private readonly o: SecureLeaderOptions, private readonly keys: AggregatorKeyPair, private readonly salt: Buffer) {
    this.helper = new HelperClient(o.helperUrl, o.helperToken);
    this.batchSize = o.batchSize ?? 64;
  }

  static async create(o: SecureLeaderOptions): Promise<SecureLeader> {
    const dir = join(o.dataDir, 'secure');
    const keys = await loadOrCreateKeyPair(dir);
    // task ids must not repeat at the helper even if this leader's store is reset and round ids restart
    const saltPath = join(dir, 'task-salt');
    if (!existsSync(saltPath)) writeFileDurably(saltPath, randomBytes(32).toString('hex'));
    return new SecureLeader(o, keys, Buffer.from(readFileSync(saltPath, 'utf8'), 'hex'));
  }

  /** The secure part of popularity round `roundId`'s task (synchronous: rounds open atomically). */
  taskFor(roundId: number, length: number, maxWeight: number): SecureRoundTask {
    const id = new Uint8Array(createHash('sha256').update('silo secure popularity task').update(this.salt).update(String(roundId)).digest());
    const chunkLength = chunkLengthOf({ kind: 'popularity', length, maxWeight });
    return { vdaf: 'Prio3MultihotCountVec', length, maxWeight, chunkLength, taskId: b64(id), helperUrl: this.o.helperUrl, leaderHpkeConfig: b64(encodeHpkeConfig(this.keys.config)) };
  }

  static taskOf(t: SecureRoundTask): SecureTask {
    return { taskId: unb64(t.taskId), params: { kind: 'popularity', length: t.length, maxWeight: t.maxWeight, chunkLength: t.chunkLength } };
  }

  /** The most bytes a sealed report for such a task can have (framing, ciphertext overheads, both shares). */
  static maxReportBytes(length: number, maxWeight: number): number {
    const key = `${length}/${maxWeight}`;
    let bytes = reportLimits.get(key);
    if (bytes === undefined) {
      const vdaf = vdafOf({ taskId: new Uint8Array(32), params: { kind: 'popularity', length, maxWeight } });
      bytes = 1024 + (vdaf.flp.measLen + vdaf.flp.proofLen * vdaf.proofs) * vdaf.field.encodedSize;
      reportLimits.set(key, bytes);
    }
    return bytes;
  }

  /** Refuses (400) a report that does not parse, is not sized for the task, or whose leader share does not open. */
  async checkReport(t: SecureRoundTask, body: Uint8Array): Promise<void> {
    const task = SecureLeader.taskOf(t);
    try {
      const report = decodeReport(body);
      // fixed sizes: the helper's ciphertext is a seed and a blind, whatever the shopper voted
      const vdaf = vdafOf(task);
      const helperPlaintext = 2 + 4 + vdaf.seedSize * (vdaf.usesJointRand ? 2 : 1);
      if (report.helperShare.payload.length !== helperPlaintext + 16) throw new Error('helper share has the wrong length');
      await openShare(task, this.keys, 'leader', report);
    } catch (e) {
      throw new HttpError(400, `not a sealed report for this round: ${(e as Error).message}`);
    }
  }

  /**
   * Verifies and aggregates the round's stored reports with the helper; null when fewer than
   * `minParticipants` were accepted (the round is abandoned: nothing released). Throws when
   * the helper cannot be reached or disagrees: the close fails and, after its retries, the
   * round is abandoned with nothing released and no ε spent.
   */
  async aggregate(round: OpenRound, store: AggregatorStore, minParticipants: number, noiseMultiplier: number): Promise<{ outcome: RoundOutcome; count: number } | null> {
    const t = round.task.secure;
    if (!t) throw new Error(`round ${round.id} is not a secure round`);
    const task = SecureLeader.taskOf(t);
    const vdaf = vdafOf(task);
    const verifyKey = verifyKeyOf(this.o.helperToken, task.taskId);
    const agg = vdaf.aggInit();
    const accepted: string[] = [];
    const seen = new Set<string>();
    const rejections: Rejections = {};
    const reject = (reason: string) => (rejections[reason] = (rejections[reason] ?? 0) + 1);
    const apply = (sent: Pending[], results: InitResult[]) =>
      results.forEach((r, i) => {
        const p = sent[i];
        if (r.reportId !== b64(Buffer.from(p.id, 'hex'))) throw new Error('helper answered for another report');
        if ('rejected' in r) return void reject(r.rejected);
        // the helper checked this side's joint randomness too: a failure here means the aggregators disagree
        vdaf.aggUpdate(agg, finishVerify(task, p.state, unb64(r.verifierMessage)));
        accepted.push(p.id);
      });
    // one batch at the helper while the leader prepares the next: the two verify in parallel
    let batch: Pending[] = [];
    let inflight: Promise<void> = Promise.resolve();
    const flush = async () => {
      await inflight;
      if (!batch.length) return;
      const sent = batch;
      batch = [];
      inflight = this.helper.aggregateInit(task, sent).then((results) => apply(sent, results));
      inflight.catch(() => {}); // awaited (and rethrown) at the next flush
    };
    for await (const bytes of store.summaries(round.id)) {
      const pending = await this.prepare(task, verifyKey, bytes, seen);
      if (typeof pending === 'string') reject(pending);
      else if (batch.push(pending) >= this.batchSize) await flush();
    }
    await flush();
    await inflight;
    this.record(round.id, accepted.length, rejections);
    if (accepted.length < minParticipants) return null;
    const helperShare = decodeAggShare(vdaf, await this.helper.aggregateShare(task, accepted.length, reportIdsChecksum(accepted)));
    const sigma = noiseMultiplier * Math.sqrt(t.maxWeight);
    const counts = unshardSigned(vdaf.field, [addDiscreteGaussian(vdaf.field, agg, sigma), helperShare]);
    return { outcome: { update: counts, noiseMultiplier, noiseStd: sigma * Math.SQRT2 }, count: accepted.length };
  }

  /** The leader's verify_init on one stored report, or the reason it is left out. */
  private async prepare(task: SecureTask, verifyKey: Uint8Array, bytes: Uint8Array, seen: Set<string>): Promise<Pending | string> {
    let report;
    try {
      report = decodeReport(bytes);
    } catch {
      return 'invalid_message';
    }
    const id = hex(report.metadata.reportId);
    if (seen.has(id)) return 'report_replayed';
    seen.add(id);
    try {
      const share = await openShare(task, this.keys, 'leader', report);
      const { state, verifierShare } = beginVerify(task, verifyKey, 'leader', report, share);
      return { id, state, reportShare: encodeReportShare(report), leaderVerifierShare: verifierShare };
    } catch (e) {
      return (e as Error).message.startsWith('hpke_decrypt_error') ? 'hpke_decrypt_error' : 'verify_failed';
    }
  }

  private record(roundId: number, accepted: number, rejected: Rejections): void {
    const dir = join(this.o.dataDir, 'secure', 'rounds');
    mkdirSync(dir, { recursive: true });
    writeFileDurably(join(dir, `r${roundId}.json`), JSON.stringify({ roundId, accepted, rejected }));
    const reasons = Object.entries(rejected).map(([k, v]) => `${k} ${v}`).join(', ');
    console.log(`aggregator: secure round ${roundId}: ${accepted} reports accepted${reasons ? `, rejected: ${reasons}` : ''}`);
  }

  /** What the leader decided for a round (null: not closed here yet). */
  static readRecord(dataDir: string, roundId: number): { accepted: number; rejected: Rejections } | null {
    const path = join(dataDir, 'secure', 'rounds', `r${roundId}.json`);
    return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as { accepted: number; rejected: Rejections }) : null;
  }
}
