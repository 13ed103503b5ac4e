// The leader↔helper messages of a secure popularity round (server/PROTOCOL.md, "Secure
// popularity rounds"): JSON with base64url byte fields, and the bits both sides must compute
// alike (task id, verify key, accepted-id checksum).
import { createHash, createHmac } from 'node:crypto';
import type { SecureTask } from '../../federated/secure/task.ts';

export const DAP_PREFIX = '/dap/v1';

/** The task parameters the leader sends with every batch; the helper pins them on first sight. */
export interface TaskConfigMessage {
  taskId: string;
  length: number;
  maxWeight: number;
  chunkLength: number;
}

export interface AggregateInitRequest {
  task: TaskConfigMessage;
  /** each: DAP's ReportShare (metadata, public share, helper ciphertext) and the leader's verifier share */
  reports: { reportShare: string; leaderVerifierShare: string }[];
}

export type InitResult = { reportId: string; verifierMessage: string } | { reportId: string; rejected: string };

export interface AggregateInitResponse {
  results: InitResult[];
}

export interface AggregateShareRequest {
  task: TaskConfigMessage;
  reportCount: number;
  /** SHA-256 (hex) over the sorted accepted report ids */
  reportIdsChecksum: string;
}

export interface AggregateShareResponse {
  /** the helper's encoded aggregate share with its noise already added */
  aggregateShare: string;
}

export const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');
export const unb64 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'base64url'));

export function taskConfigMessage(task: SecureTask): TaskConfigMessage {
  const p = task.params;
  if (p.kind !== 'popularity' || !p.chunkLength) throw new Error('secure rounds are popularity tasks with a fixed chunk length');
  return { taskId: b64(task.taskId), length: p.length, maxWeight: p.maxWeight, chunkLength: p.chunkLength };
}

export function secureTaskOf(m: TaskConfigMessage): SecureTask {
  return { taskId: unb64(m.taskId), params: { kind: 'popularity', length: m.length, maxWeight: m.maxWeight, chunkLength: m.chunkLength } };
}

/**
 * The VDAF verify key both aggregators use for a task, derived from the secret they share (the
 * bearer token) so neither sends it; a client never learns it, so it cannot aim a proof at it.
 */
export function verifyKeyOf(sharedSecret: string, taskId: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac('sha256', sharedSecret).update('silo vdaf verify key').update(taskId).digest());
}

/** DAP's checksum of a batch: SHA-256 over the accepted report ids in sorted order. */
export function reportIdsChecksum(idsHex: Iterable<string>): string {
  const h = createHash('sha256');
  for (const id of [...idsHex].sort()) h.update(Buffer.from(id, 'hex'));
  return h.digest('hex');
}

export const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
