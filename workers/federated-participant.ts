// Federated participation on the shopper's device (issue 4; protocol in server/PROTOCOL.md).
//
// While the shopper has opted in, the worker:
// - starts its personal model from the server's latest global model (SHA-256 verified) when
//   the shopper has no model of their own yet; random init stays when the server is away;
// - checks in; for a round task it starts from that round's global weights, trains on the
//   shopper's cleaned item sequence with the round's settings, and clips / noises /
//   quantises the change (federated/client.ts, federated/summary.ts);
// - keeps the summary as pending in IndexedDB until the server has acknowledged it, then
//   deletes it. The personal model is restored after the round and keeps serving.
// Only the summary (no ids, no counts, no timestamps) and an empty check-in body leave the
// device. Opting out stops the loop and deletes pending summaries.
import * as tf from '@tensorflow/tfjs';
import { trainRoundUpdate } from '../federated/client.ts';
import { decodeHeader } from '../federated/summary.ts';
import { FederatedHttpClient } from '../federated/transport.ts';
import type { Recommender } from './recommender.ts';
import type { EventStore } from './store.ts';

export interface ParticipantHost {
  /** the worker's current recommender (a backend fallback replaces it) */
  recommender(): Recommender;
  /** the shopper's learnable item sequence (cleaned events, as table indices) */
  sequence(): number[];
  /** runs model work under the worker's model lock (training must not overlap it) */
  runModelWork<T>(work: () => Promise<T>): Promise<T>;
  /** collection paused by the shopper: take part in no round either */
  paused(): boolean;
}

export interface ParticipantState {
  /** global model version the personal model started from, if it did */
  startedFromVersion: number | null;
  /** summaries the server acknowledged since this worker started */
  uploaded: number;
  /** summaries waiting in IndexedDB */
  pending: number;
  lastRound: number | null;
  lastError: string | null;
  /** the global model's privacy account as the server last reported it: (ε, δ) spent in total */
  epsilon?: number;
  delta?: number;
}

export interface ParticipantOptions {
  /** pause between rounds after a summary was sent */
  intervalMs?: number;
  /** give up on the global model download at start-up after this long (init must not hang) */
  downloadTimeoutMs?: number;
}

/** Below this the sequence has no (input, next item) pair: nothing to learn, so no check-in. */
const MIN_SEQUENCE = 2;

export class FederatedParticipant {
  readonly state: ParticipantState = { startedFromVersion: null, uploaded: 0, pending: 0, lastRound: null, lastError: null };
  private readonly client: FederatedHttpClient;
  private readonly intervalMs: number;
  private readonly downloadTimeoutMs: number;
  private active = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private running: Promise<void> | null = null;
  /** true while waiting for data: the next model update may start a round at once */
  private waitingForData = false;

  constructor(
    private readonly store: EventStore,
    readonly serverUrl: string,
    private readonly host: ParticipantHost,
    options: ParticipantOptions = {},
  ) {
    this.client = new FederatedHttpClient(serverUrl);
    this.intervalMs = options.intervalMs ?? 10 * 60_000;
    this.downloadTimeoutMs = options.downloadTimeoutMs ?? 15_000;
  }

  /**
   * Installs the latest global model as the personal model's starting point, if the shopper
   * has no saved model of their own. Returns whether it did; failures leave random init.
   */
  async adoptGlobalModel(): Promise<boolean> {
    if (await this.store.loadModel()) return false;
    try {
      const download = this.client.downloadModel('latest');
      const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('global model download timed out')), this.downloadTimeoutMs));
      const { version, weights } = await Promise.race([download, timeout]);
      return await this.host.runModelWork(async () => {
        const recommender = this.host.recommender();
        if (recommender.trainedOnEvents > 0 || (await this.store.loadModel())) return false; // trained meanwhile: keep it
        const sizes = (await recommender.model.getWeights()).map((w) => w.length);
        const total = sizes.reduce((a, b) => a + b, 0);
        if (total !== weights.length) throw new Error(`global model has ${weights.length} values, this model ${total}`);
        let o = 0;
        tf.tidy(() => recommender.model.setWeights(sizes.map((n) => weights.subarray((o += n) - n, o))));
        // saved as the personal model (trained on 0 events); load() re-reads it, which also
        // drops the recommender's cached item embeddings of the random init
        await recommender.save(this.store, 0);
        await recommender.load(this.store);
        this.state.startedFromVersion = version;
        return true;
      });
    } catch (err) {
      this.state.lastError = `global model: ${(err as Error).message}`;
      return false;
    }
  }

  /** Opt-in: take part from now on (first attempt at once). */
  start(): void {
    if (this.active) return;
    this.active = true;
    void this.attempt();
  }

  /** Opt-out: no more rounds, and pending summaries are deleted, not sent. */
  async stop(): Promise<void> {
    this.active = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
    await this.store.clearSummaries();
    this.state.pending = 0;
  }

  /** The personal model learned from new events: a round waiting for data can go now. */
  dataChanged(): void {
    if (this.active && this.waitingForData && !this.running) void this.attempt();
  }

  /** Resolves when the current attempt (if any) has finished. */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  private schedule(ms: number): void {
    if (!this.active) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.attempt();
    }, ms);
  }

  private attempt(): Promise<void> {
    if (this.running) return this.running;
    this.running = this.round()
      .catch((err) => {
        this.state.lastError = (err as Error).message;
        this.schedule(this.intervalMs);
      })
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  private async round(): Promise<void> {
    if (!this.active) return;
    await this.flushPending();
    const sequence = this.host.sequence();
    if (this.host.paused() || sequence.length < MIN_SEQUENCE) {
      this.waitingForData = true;
      return;
    }
    this.waitingForData = false;
    const answer = await this.client.checkIn();
    if (answer.status !== 'task' || !answer.token) {
      this.schedule(answer.status === 'wait' ? answer.retryAfterSeconds * 1000 : this.intervalMs);
      return;
    }
    const { task, token } = answer;
    const global = await this.client.downloadModel(task.modelVersion);
    if (global.version !== task.modelVersion) throw new Error(`asked for model v${task.modelVersion}, got v${global.version}`);
    const summary = await this.host.runModelWork(async () => {
      const recommender = this.host.recommender();
      const sizes = (await recommender.model.getWeights()).map((w) => w.length);
      let o = 0;
      const globalWeights = sizes.map((n) => global.weights.subarray((o += n) - n, o));
      // trainRoundUpdate restores the personal weights afterwards
      return (await trainRoundUpdate({ model: recommender.model, globalWeights, task, sequences: [sequence], table: recommender.table })).summary;
    });
    const id = await this.store.addSummary({ round: String(task.roundId), token, deadline: task.deadline, bytes: summary.slice().buffer });
    this.state.pending++;
    await this.upload(id, task.roundId, token, summary);
    this.state.lastRound = task.roundId;
    try {
      // shown in the privacy panel: what the global model has spent so far
      const { privacy } = await this.client.status();
      if (privacy.epsilon !== null) Object.assign(this.state, { epsilon: privacy.epsilon, delta: privacy.delta });
    } catch {
      /* the account is informational; the round is done */
    }
    this.schedule(this.intervalMs);
  }

  /** Sends one stored summary; deletes it once acknowledged or refused for good. */
  private async upload(id: number, roundId: number, token: string, bytes: Uint8Array): Promise<void> {
    try {
      await this.client.uploadSummary(roundId, token, bytes);
      this.state.uploaded++;
      this.state.lastError = null;
    } catch (err) {
      const message = (err as Error).message;
      // a 4xx will not change on retry (round closed, already counted, refused): drop it;
      // a network error or 5xx keeps it pending for the next attempt
      if (!/^HTTP 4\d\d/.test(message)) throw err;
      this.state.lastError = `summary for round ${roundId} refused: ${message}`;
    }
    await this.store.deleteSummary(id);
    this.state.pending = Math.max(0, this.state.pending - 1);
  }

  /** Retries summaries a network failure left behind; expired ones are deleted unsent. */
  private async flushPending(): Promise<void> {
    const pending = await this.store.pendingSummaries();
    this.state.pending = pending.length;
    for (const p of pending) {
      if (Date.now() > p.value.deadline) {
        await this.store.deleteSummary(p.id);
        this.state.pending--;
        continue;
      }
      const bytes = new Uint8Array(p.value.bytes);
      try {
        decodeHeader(bytes);
      } catch {
        await this.store.deleteSummary(p.id); // a corrupt record is dropped, never sent
        this.state.pending--;
        continue;
      }
      await this.upload(p.id, Number(p.value.round), p.value.token, bytes);
    }
  }
}
