// The worker's comlink API types, shared with the main thread (src/api.ts).
import type { CatalogItem } from '../src/catalog.ts';
import type { Ga4Item } from '../src/events.ts';
import type { BackendChoice, BackendName } from './backend.ts';
import type { ParticipantState } from './federated-participant.ts';
import type { ReasonKind } from './profile/explain.ts';
import type { RerankContext } from './profile/rerank.ts';
import type { RetentionPolicy } from './store.ts';

export interface WorkerOptions {
  catalogUrl: string;
  backends?: BackendName[];
  retention?: RetentionPolicy;
  /** optimiser steps after each batch of new events */
  trainSteps?: number;
  dbName?: string;
  /**
   * the federated aggregator's base URL (server/PROTOCOL.md); default: the catalog's origin.
   * null: none, so no federated request at all (no global model, no popularity prior, no rounds)
   */
  federatedServer?: string | null;
  /** the helper aggregator's origin pinned by the embed (`data-helper`); tasks naming another are refused */
  helperOrigin?: string;
}

export interface RecommendRequest {
  k: number;
  exclude?: string[];
  context?: { item_id?: string };
}

export interface Recommendation {
  item_id: string;
  score: number;
  reason: string;
  /** what the reason rests on (workers/profile/explain.ts) and the history item it names */
  reasonKind?: ReasonKind;
  sourceItemId?: string;
  item: CatalogItem;
}

export interface RerankRequest {
  /** the storefront's list, its order first; only item_id is required (catalog fields win) */
  items: Ga4Item[];
  /** item_id: the product on screen, read by the model as the latest step (as in recommend) */
  context?: { item_id?: string };
  weights?: RerankContext['weights'];
  demoteOutOfStock?: boolean;
}

export interface RerankResponse {
  /** order[k] = index in the request's list of the item placed k-th */
  order: number[];
  scores: number[];
  /** false when no model scores were used (no history yet, or the model was busy training) */
  modelScored: boolean;
  profiled: boolean;
  /** time spent in the worker, ms */
  tookMs: number;
}

/** What the device's storage allows right now (a fault degrades it; what is stored stays). */
export interface StorageState {
  /** 'ok'; 'quota': the last write hit the storage quota; 'blocked': another tab holds an old schema open */
  state: 'ok' | 'quota' | 'blocked';
  /** events accepted but not stored because of the fault (kept in memory, written when space returns) */
  unsaved: number;
  message: string | null;
  /**
   * 'in-memory' when the personal model does not fit in the storage left (a small private-
   * browsing quota): it is still trained and used on this page, and retrained from the stored
   * events on the next; absent while the last save succeeded (or none was due)
   */
  model?: 'in-memory';
}

/** Where model work was when the worker ran out of memory. */
export type MemoryStage = 'training' | 'scoring' | 'loading' | 'building';

/** What the worker's memory allows (workers/memory.ts): out of memory degrades model work, never storage. */
export interface MemoryState {
  state: 'ok' | 'out-of-memory';
  /** 'stopped': this worker trains no more (the next page load starts afresh) */
  training: 'on' | 'stopped';
  /** 'popularity': recommend() serves the popularity prior (or the catalog's order), rerank() orders without model scores */
  recommendations: 'model' | 'popularity';
  /** what ran out of memory first */
  stage: MemoryStage | null;
  message: string | null;
}

export interface WorkerStatus {
  backend: BackendName | null;
  skipped: BackendChoice['skipped'];
  /** why `backend` was chosen (the adapter it runs on, or that the choice was remembered) */
  backendReason?: string;
  events: number;
  rejected: number;
  catalogSize: number;
  modelParameters: number;
  trainedOnEvents: number;
  lastTrainMs: number | null;
  lastLoss: number | null;
  /** why the last model update failed, if it did */
  lastError: string | null;
  paused: boolean;
  storage?: StorageState;
  memory?: MemoryState;
  /** the participation setting and its state (popularityVersion: the prior in use, also when not participating) */
  federated: { participate: boolean; epsilon?: number; delta?: number } & Partial<ParticipantState>;
}

export type UpdateListener = (info: { events: number; trainedOnEvents: number }) => void;
