// Federated participation on the shopper's device (protocol in server/PROTOCOL.md).
//
// While the shopper has opted in, the worker:
// - starts its personal model from the server's latest global model (SHA-256 verified) when
//   the shopper has no model of their own yet; random init stays when the server is away;
// - checks in at most once per round, in all its tabs together (the server's accounting
//   assumes one draw per shopper per round; check-in-wait.ts); for a model round it starts
//   from that round's global weights, trains on the shopper's cleaned item sequence with the
//   round's settings, and clips / noises / quantises the change (federated/client.ts,
//   federated/summary.ts);
//   for a popularity round it marks the hash buckets of the shopper's most recent distinct
//   items (federated/popularity.ts), with no model download or training;
// - keeps the summary as pending in IndexedDB until the server has acknowledged it, then
//   deletes it. The personal model is restored after the round and keeps serving.
// Only the summary (no ids, no counts, no timestamps) and an empty check-in body leave the
// device. Opting out stops the loop and deletes pending summaries.
// Every shopper, opted in or not, also downloads the server's DP popularity prior (public,
// sends nothing) at start-up; a participant again after each round it took part in.
import * as tf from '@tensorflow/tfjs';
import { trainRoundUpdate } from '../federated/client.ts';
import { type PopularityPrior, popularitySummary } from '../federated/popularity.ts';
import type { RoundTask } from '../federated/protocol.ts';
import { decodeHeader } from '../federated/summary.ts';
import { checkSecureTask, sealedPopularityReport } from '../federated/secure-popularity.ts';
import { decodeReport } from '../federated/secure/report.ts';
import { FederatedHttpClient } from '../federated/transport.ts';
import type { Recommender } from './recommender.ts';
import type { EventStore } from './store.ts';
import { checkInOncePerRound } from './check-in-wait.ts';
import { refusalReason } from './privacy-floors.ts';

export interface ParticipantHost {
  /** the worker's current recommender (a backend fallback replaces it) */
  recommender(): Recommender;
  /** the catalog's item keys by table index (there even when the model could not be built) */
  itemKeys(): readonly string[];
  /** the shopper's learnable item sequence (cleaned events, as table indices) */
  sequence(): number[];
  /** runs model work under the worker's model lock (training must not overlap it) */
  runModelWork<T>(work: () => Promise<T>): Promise<T>;
  /** collection paused by the shopper: take part in no round either */
  paused(): boolean;
  /** a newly downloaded popularity prior for the recommender */
  usePopularity(prior: PopularityPrior): void;
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
  /** release number of the popularity prior in use, if one was downloaded */
  popularityVersion?: number;
  /** earliest next check-in (ms since epoch), shared by every tab of this shopper */
  nextCheckIn?: number;
  /** tasks refused because they were weaker than the client's privacy floors (privacy-floors.ts) */
  refused?: number;
}

export interface ParticipantOptions {
  /** pause between rounds after a summary was sent */
  intervalMs?: number;
  /** give up on the global model / popularity download after this long (init must not hang) */
  downloadTimeoutMs?: number;
  /**
   * The helper aggregator's origin as the storefront's embed pins it: a secure popularity task
   * naming another helper is refused (the leader could otherwise name a helper it runs itself)
   */
  helperOrigin?: string;
}

/**
 * A shopper with one item checks in too: it counts in popularity rounds, and in a model round
 * (no (input, next item) pair to learn from) it sends a zero update, clipped, noised and
 * quantised like any other, so the upload does not tell the server it had less than two.
 */
const MIN_SEQUENCE = 1;

/** A secure round's sealed report (federated/secure), not a summary: it goes to the report route. */
function isSealedReport(bytes: Uint8Array): boolean {
  try {
    decodeHeader(bytes);
    return false;
  } catch {
    try {
      decodeReport(bytes);
      return true;
    } catch {
      return false;
    }
  }
}

export class FederatedParticipant {
  readonly state: ParticipantState = { startedFromVersion: null, uploaded: 0, pending: 0, lastRound: null, lastError: null };
  private readonly client: FederatedHttpClient;
  private readonly intervalMs: number;
  private readonly downloadTimeoutMs: number;
  private readonly helperOrigin: string | undefined;
  private active = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private running: Promise<void> | null = null;
  /** true while waiting for data: the next model update may start a round at once */
  private waitingForData = false;
  /** bumped by forget(): a round begun before an erase stores and sends nothing */
  private epoch = 0;

  constructor(
    private readonly store: EventStore,
    readonly serverUrl: string,
    private readonly host: ParticipantHost,
    options: ParticipantOptions = {},
  ) {
    this.client = new FederatedHttpClient(serverUrl);
    this.intervalMs = options.intervalMs ?? 10 * 60_000;
    this.downloadTimeoutMs = options.downloadTimeoutMs ?? 15_000;
    this.helperOrigin = options.helperOrigin;
  }

  /**
   * Installs the latest global model as the personal model's starting point, if the shopper
   * has no saved model of their own. Returns whether it did; failures leave random init.
   */
  async adoptGlobalModel(): Promise<boolean> {
    if (await this.store.loadModel()) return false;
    try {
      const { version, weights } = await this.withTimeout(this.client.downloadModel('latest', 'int8'), 'global model download');
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

  /**
   * Downloads the latest popularity prior and hands it to the recommender. A server that has
   * released none (404) or a failed download leaves the prior in use (or none). Never throws.
   */
  async refreshPopularity(): Promise<void> {
    try {
      const prior = await this.withTimeout(this.client.downloadPopularity('latest'), 'popularity download');
      if (prior.version === this.state.popularityVersion) return; // nothing new
      this.host.usePopularity(prior);
      this.state.popularityVersion = prior.version;
    } catch (err) {
      const message = (err as Error).message;
      // none released yet is the normal state of a server without popularity rounds
      if (!message.startsWith('HTTP 404')) this.state.lastError = `popularity prior: ${message}`;
    }
  }

  /** Rejects after downloadTimeoutMs, so a server that stalls cannot hold up init or a round. */
  private async withTimeout<T>(work: Promise<T>, what: string): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out`)), this.downloadTimeoutMs);
    });
    try {
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
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

  /**
   * The shopper erased their data: a round under way drops the summary it is computing from
   * it, and summaries not yet sent are not sent (the caller deletes them from the store).
   */
  forget(): void {
    this.epoch++;
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
    const epoch = this.epoch;
    await this.flushPending(epoch);
    const sequence = this.host.sequence();
    if (this.host.paused() || sequence.length < MIN_SEQUENCE) {
      this.waitingForData = true;
      return;
    }
    this.waitingForData = false;
    const answer = await checkInOncePerRound(this.store, this.client, this.intervalMs, this.state);
    if (answer?.status !== 'task' || !answer.token) {
      this.schedule((this.state.nextCheckIn ?? 0) - Date.now());
      return;
    }
    const { task, token } = answer;
    // weaker privacy than the floors compiled into this client: take no part (the token lapses)
    const refusal = refusalReason(task, this.state.epsilon);
    if (refusal) {
      this.state.refused = (this.state.refused ?? 0) + 1;
      this.state.lastError = `round ${task.roundId} refused: ${refusal}`;
      this.schedule((this.state.nextCheckIn ?? 0) - Date.now());
      return;
    }
    const summary = await this.summarise(task, sequence);
    if (epoch !== this.epoch) {
      // erased meanwhile: computed from data that is gone. The token lapses; ask again later
      this.schedule((this.state.nextCheckIn ?? 0) - Date.now());
      return;
    }
    // from here on both kinds of round are one path: pending in IndexedDB, upload, retry
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
    // a round this shopper took part in may have produced a release (or one came out since)
    await this.refreshPopularity();
    this.schedule((this.state.nextCheckIn ?? 0) - Date.now());
  }

  /** The summary a round task asks for, built from the shopper's item sequence (table indices). */
  private async summarise(task: RoundTask, sequence: number[]): Promise<Uint8Array> {
    const kind = task.kind ?? 'model';
    if (kind === 'popularity') {
      // item keys are the catalog's item_ids; the summary holds only their bucket indicator
      const keys = this.host.itemKeys();
      const itemKeys = sequence.map((index) => keys[index]);
      if (task.secure) {
        // a secure round: a sealed Prio3 report, the helper's key fetched from the helper itself
        checkSecureTask(task, this.helperOrigin);
        const helperConfig = await this.withTimeout(FederatedHttpClient.fetchHelperConfig(task.secure.helperUrl), 'helper key download');
        return sealedPopularityReport(task, itemKeys, helperConfig, this.helperOrigin);
      }
      return popularitySummary(task, itemKeys);
    }
    // a kind this client does not know is refused rather than answered as a model round
    if (kind !== 'model') throw new Error(`unknown round kind ${String(kind)}`);
    const global = await this.client.downloadModel(task.modelVersion);
    if (global.version !== task.modelVersion) throw new Error(`asked for model v${task.modelVersion}, got v${global.version}`);
    return this.host.runModelWork(async () => {
      const recommender = this.host.recommender();
      const sizes = (await recommender.model.getWeights()).map((w) => w.length);
      let o = 0;
      const globalWeights = sizes.map((n) => global.weights.subarray((o += n) - n, o));
      // trainRoundUpdate restores the personal weights afterwards
      return (await trainRoundUpdate({ model: recommender.model, globalWeights, task, sequences: [sequence], table: recommender.table })).summary;
    });
  }

  /** Sends one stored summary; deletes it once acknowledged or refused for good. */
  private async upload(id: number, roundId: number, token: string, bytes: Uint8Array): Promise<void> {
    try {
      if (isSealedReport(bytes)) await this.client.uploadReport(roundId, token, bytes);
      else await this.client.uploadSummary(roundId, token, bytes);
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
  private async flushPending(epoch: number): Promise<void> {
    const pending = await this.store.pendingSummaries();
    this.state.pending = pending.length;
    for (const p of pending) {
      if (epoch !== this.epoch) return;
      if (Date.now() > p.value.deadline) {
        await this.store.deleteSummary(p.id);
        this.state.pending--;
        continue;
      }
      const bytes = new Uint8Array(p.value.bytes);
      try {
        if (!isSealedReport(bytes)) decodeHeader(bytes);
      } catch {
        await this.store.deleteSummary(p.id); // a corrupt record is dropped, never sent
        this.state.pending--;
        continue;
      }
      await this.upload(p.id, Number(p.value.round), p.value.token, bytes);
    }
  }
}
