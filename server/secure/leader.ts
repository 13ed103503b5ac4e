// The leader's part of secure popularity rounds: the task it hands out, its half of verifying
// a sealed report on arrival (decrypt, verify_init; what it stores is that result:
// prepared.ts), and the round's close: send the stored verifier shares to the helper in
// batches, add the output shares of the reports both accepted, add its own discrete Gaussian
// noise to its aggregate share, fetch the helper's noised share and unshard. Only reports both aggregators accepted count; the others
// are counted per reason in <dataDir>/secure/rounds/r<id>.json and logged.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SecureRoundTask } from '../../federated/protocol.ts';
import { beginVerify, EncodedShareSum, openShare } from '../../federated/secure/aggregator.ts';
import { type AggregatorKeyPair, encodeHpkeConfig } from '../../federated/secure/hpke.ts';
import { decodeReport, encodeReportShare } from '../../federated/secure/report.ts';
import { chunkLengthOf, type SecureTask, vdafOf } from '../../federated/secure/task.ts';
import { decodeAggShare } from '../../federated/vdaf/codec.ts';
import { bytesEqual } from '../../federated/vdaf/xof.ts';
import { HttpError } from '../http/respond.ts';
import { writeFileDurably } from '../integrity-files.ts';
import type { AggregatorStore, OpenRound } from '../store.ts';
import type { RoundOutcome } from '../strategies/types.ts';
import { HelperClient } from './helper-client.ts';
import { loadOrCreateKeyPair } from './keys.ts';
import { b64, hex, type InitResult, reportIdsChecksum, unb64, verifyKeyOf } from './messages.ts';
import { addDiscreteGaussian, unshardSigned } from './noise.ts';
import { decodePreparedReport, encodePreparedReport, type PreparedReport } from './prepared.ts';

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

interface Pending extends PreparedReport {
  id: string;
}

const reportLimits = new Map<string, number>();

export class SecureLeader {
  private readonly helper: HelperClient;
  private readonly batchSize: number;
  private readonly verifyKeys = new Map<string, Uint8Array>();

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

  /**
   * The leader's half of verifying a sealed report, on arrival: what to store for it. Refuses
   * (400) a report that does not parse, is not sized for the task, or whose leader share does
   * not open or decode; whether its proof holds is known only with the helper, at the close.
   */
  async prepareReport(t: SecureRoundTask, body: Uint8Array): Promise<Uint8Array> {
    const task = SecureLeader.taskOf(t);
    try {
      const report = decodeReport(body);
      // fixed sizes: the helper's ciphertext is a seed and a blind, whatever the shopper voted
      const vdaf = vdafOf(task);
      const helperPlaintext = 2 + 4 + vdaf.seedSize * (vdaf.usesJointRand ? 2 : 1);
      if (report.helperShare.payload.length !== helperPlaintext + 16) throw new Error('helper share has the wrong length');
      const share = await openShare(task, this.keys, 'leader', report);
      const { state, verifierShare } = beginVerify(task, this.verifyKey(task), 'leader', report, share);
      return encodePreparedReport({
        reportId: report.metadata.reportId,
        reportShare: encodeReportShare(report),
        leaderVerifierShare: verifierShare,
        correctedJointRandSeed: state.correctedJointRandSeed ?? new Uint8Array(0),
        outShare: vdaf.field.encodeVec(state.outShare),
      });
    } catch (e) {
      throw new HttpError(400, `not a sealed report for this round: ${(e as Error).message}`);
    }
  }

  private verifyKey(task: SecureTask): Uint8Array {
    const id = hex(task.taskId);
    let key = this.verifyKeys.get(id);
    if (!key) {
      if (this.verifyKeys.size > 16) this.verifyKeys.clear();
      key = verifyKeyOf(this.o.helperToken, task.taskId);
      this.verifyKeys.set(id, key);
    }
    return key;
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
    const sum = new EncodedShareSum(task);
    const accepted: string[] = [];
    const seen = new Set<string>();
    const rejections: Rejections = {};
    const reject = (reason: string) => (rejections[reason] = (rejections[reason] ?? 0) + 1);
    const apply = (sent: Pending[], results: InitResult[]) =>
      results.forEach((r, i) => {
        const p = sent[i];
        if (r.reportId !== b64(Buffer.from(p.id, 'hex'))) throw new Error('helper answered for another report');
        if ('rejected' in r) return void reject(r.rejected);
        // verify_next: the helper checked this side's joint randomness too, so a mismatch here means the aggregators disagree
        const seed = vdaf.usesJointRand ? p.correctedJointRandSeed : null;
        if (!bytesEqual(unb64(r.verifierMessage), seed ?? new Uint8Array(0))) throw new Error('the helper confirmed a report whose joint randomness the leader rejects');
        sum.add(p.outShare);
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
      const pending = this.pending(bytes, seen);
      if (typeof pending === 'string') reject(pending);
      else if (batch.push(pending) >= this.batchSize) await flush();
    }
    await flush();
    await inflight;
    this.record(round.id, accepted.length, rejections);
    if (accepted.length < minParticipants) return null;
    const helperShare = decodeAggShare(vdaf, await this.helper.aggregateShare(task, accepted.length, reportIdsChecksum(accepted)));
    const sigma = noiseMultiplier * Math.sqrt(t.maxWeight);
    const counts = unshardSigned(vdaf.field, [addDiscreteGaussian(vdaf.field, sum.toField(), sigma), helperShare]);
    return { outcome: { update: counts, noiseMultiplier, noiseStd: sigma * Math.SQRT2 }, count: accepted.length };
  }

  /** One stored report ready to send to the helper, or the reason it is left out. */
  private pending(bytes: Uint8Array, seen: Set<string>): Pending | string {
    let prepared;
    try {
      prepared = decodePreparedReport(bytes);
    } catch {
      return 'invalid_message';
    }
    const id = hex(prepared.reportId);
    if (seen.has(id)) return 'report_replayed';
    seen.add(id);
    return { ...prepared, id };
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
