// The leader's side of the leader→helper API: bearer-authenticated JSON over HTTP(S).
import type { SecureTask } from '../../federated/secure/task.ts';
import { type AggregateInitRequest, type AggregateInitResponse, type AggregateShareResponse, DAP_PREFIX, b64, type InitResult, taskConfigMessage, unb64 } from './messages.ts';

const REQUEST_TIMEOUT_MS = 120_000;

export class HelperClient {
  constructor(private readonly baseUrl: string, private readonly token: string) {}

  private async post<T>(task: SecureTask, op: string, body: unknown): Promise<T> {
    const url = `${this.baseUrl.replace(/\/$/, '')}${DAP_PREFIX}/tasks/${b64(task.taskId)}/${op}`;
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.token}` },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await res.text();
    if (!res.ok) {
      let reason = text;
      try {
        reason = (JSON.parse(text) as { error?: string }).error ?? text;
      } catch {
        /* not JSON */
      }
      throw new Error(`helper ${op}: HTTP ${res.status}: ${reason}`);
    }
    return JSON.parse(text) as T;
  }

  async aggregateInit(task: SecureTask, reports: { reportShare: Uint8Array; leaderVerifierShare: Uint8Array }[]): Promise<InitResult[]> {
    const body: AggregateInitRequest = { task: taskConfigMessage(task), reports: reports.map((r) => ({ reportShare: b64(r.reportShare), leaderVerifierShare: b64(r.leaderVerifierShare) })) };
    const { results } = await this.post<AggregateInitResponse>(task, 'aggregate-init', body);
    if (!Array.isArray(results) || results.length !== reports.length) throw new Error('helper aggregate-init: answer does not match the batch');
    return results;
  }

  async aggregateShare(task: SecureTask, reportCount: number, reportIdsChecksum: string): Promise<Uint8Array> {
    const { aggregateShare } = await this.post<AggregateShareResponse>(task, 'aggregate-share', { task: taskConfigMessage(task), reportCount, reportIdsChecksum });
    return unb64(aggregateShare);
  }
}
