// The Redis store's group commit for 'sum' rounds: uploads that arrive while this instance's
// previous commit is in flight wait, are added to the instance's running sum together, and ONE
// script checks the round is open and every token issued and unused, spends the tokens and
// replaces the instance's partial sum and its copy (redis-copies.ts); only then are they
// acknowledged. A token the script refuses is taken back out of the sum (exact: integers) and
// the rest are committed by the next try.
import { crc32 } from 'node:zlib';
import { countsSuffix } from '../integrity-redis.ts';
import { RunningSum } from '../running-sum.ts';
import type { AcceptResult, OpenRound, UploadValues } from '../store.ts';

export type Arg = string | number | Buffer;

export function bytes(b: Uint8Array | Int32Array | Float64Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

interface QueuedUpload {
  token: string;
  values: UploadValues;
  resolve: (r: AcceptResult) => void;
  reject: (e: unknown) => void;
}

/** This instance's share of a 'sum' round: its running sum (= its stored partial once no commit is in flight) and the uploads waiting for the next group commit. */
interface InstancePartial {
  round: OpenRound;
  sum: RunningSum;
  queue: QueuedUpload[];
  /** a commit is scheduled or in flight; uploads arriving meanwhile wait for the next one */
  flushing: boolean;
}

export class GroupCommit {
  /** round id → this instance's partial sum; only the newest round's is ever kept */
  private readonly partials = new Map<number, InstancePartial>();
  /** uploads committed and scripts run (batching shows as scripts < uploads) */
  readonly commits = { uploads: 0, scripts: 0 };

  constructor(
    private readonly run: (name: 'siloAcceptBatch', ...args: Arg[]) => Promise<unknown>,
    private readonly k: (...parts: (string | number)[]) => string,
    private readonly owner: string,
  ) {}

  /** queues an upload of `round` for the next commit; null: a newer round exists (this one is closed) */
  enqueue(round: OpenRound, token: string, values: UploadValues): Promise<AcceptResult> | null {
    const p = this.partialFor(round);
    if (!p) return null;
    return new Promise((resolve, reject) => {
      p.queue.push({ token, values, resolve, reject });
      if (!p.flushing) {
        p.flushing = true;
        // uploads validated in the same event-loop turn join this commit
        setImmediate(() => void this.flush(p));
      }
    });
  }

  /** a commit is scheduled or in flight */
  get busy(): boolean {
    return [...this.partials.values()].some((p) => p.flushing);
  }

  /** this instance's partial for `round`, created on its first upload; null if a newer round exists (this one is closed) */
  private partialFor(round: OpenRound): InstancePartial | null {
    const p = this.partials.get(round.id);
    if (p) return p;
    for (const id of this.partials.keys()) if (id > round.id) return null;
    // a newer round opens only after the older ones closed: their sums are in Redis or void
    this.partials.clear();
    const t = round.task;
    const fresh: InstancePartial = {
      round,
      sum: new RunningSum(round.id, Math.fround(t.scale), t.length, round.maxParticipants ?? 2 ** 31, t.bits),
      queue: [],
      flushing: false,
    };
    this.partials.set(round.id, fresh);
    return fresh;
  }

  /** Group commit: the queued uploads go into the sum, one script stores it, then they are answered. */
  private async flush(p: InstancePartial): Promise<void> {
    const id = p.round.id;
    while (p.queue.length) {
      // into the sum, tentatively (taken out again if refused), with the norm check in the same pass
      let batch = p.queue.splice(0).filter((u) => {
        try {
          u.values.checkNorm(p.sum.add(u.values.ints), p.sum.sum);
          return true;
        } catch (e) {
          p.sum.undo(u.values.ints);
          u.reject(e);
          return false;
        }
      });
      while (batch.length) {
        const within = batch.reduce((n, u) => n + (u.values.withinClip ? 1 : 0), 0);
        let r: number[];
        try {
          r = (await this.run(
            'siloAcceptBatch',
            this.k('current'),
            this.k('round', id, 'tokens'),
            this.k('round', id, 'partials'),
            this.k('round', id, 'partial-counts'),
            this.k('round', id, 'accepted'),
            this.k('round', id, 'partials-copy'),
            this.k('round', id, 'partial-counts-copy'),
            String(id),
            this.owner,
            bytes(p.sum.sum),
            String(p.sum.count + batch.length),
            // the within-clip count, the sum's checksum and the counts' own (checked at start and close)
            countsSuffix(p.sum.count + batch.length, p.sum.withinClip + within, crc32(bytes(p.sum.sum))),
            ...batch.map((u) => u.token),
          )) as number[];
        } catch (e) {
          // not acknowledged (the client may retry). Had the script run after all, the
          // stored partial holds these uploads until this instance's next commit replaces
          // it; either way the stored sum and its counts agree.
          for (const u of batch) {
            p.sum.undo(u.values.ints);
            u.reject(e);
          }
          break;
        }
        this.commits.scripts++;
        if (r[0] === 0) {
          const accepted = r[1];
          this.commits.uploads += batch.length;
          batch.forEach((u, i) => {
            p.sum.commit(u.values.withinClip);
            u.resolve({ ok: true, accepted: accepted - (batch.length - 1 - i) });
          });
          break;
        }
        if (r[0] === -1) {
          for (const u of batch) {
            p.sum.undo(u.values.ints);
            u.resolve({ ok: false, reason: 'not-open' });
          }
          break;
        }
        // some tokens refused, nothing stored: take them out, commit the rest
        const refused = new Map<number, number>();
        for (let i = 1; i < r.length; i += 2) refused.set(r[i], r[i + 1]);
        batch = batch.filter((u, i) => {
          const code = refused.get(i);
          if (code === undefined) return true;
          p.sum.undo(u.values.ints);
          u.resolve({ ok: false, reason: code === -2 ? 'unknown-token' : 'duplicate' });
          return false;
        });
      }
    }
    p.flushing = false;
  }
}
