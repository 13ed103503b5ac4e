// Client side of the HTTP protocol (server/PROTOCOL.md), using fetch and Web Crypto only,
// so the browser worker and the Node benchmark share it.
import { API_PREFIX, type CheckInResponse } from './protocol.ts';

export type CheckInResult = (CheckInResponse & { token?: string });

export class FederatedHttpClient {
  constructor(private readonly baseUrl: string) {}

  private url(path: string): string {
    return this.baseUrl.replace(/\/$/, '') + API_PREFIX + path;
  }

  private static async fail(res: Response): Promise<never> {
    let reason = res.statusText;
    try {
      reason = ((await res.json()) as { error?: string }).error ?? reason;
    } catch {
      /* not JSON */
    }
    throw new Error(`HTTP ${res.status}: ${reason}`);
  }

  async checkIn(): Promise<CheckInResult> {
    const res = await fetch(this.url('/checkin'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    if (!res.ok) return FederatedHttpClient.fail(res);
    return (await res.json()) as CheckInResult;
  }

  /** Downloads a model version and verifies its SHA-256 header before trusting it. */
  async downloadModel(version: number | 'latest'): Promise<{ version: number; weights: Float32Array }> {
    const res = await fetch(this.url(`/model/${version}`));
    if (!res.ok) return FederatedHttpClient.fail(res);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const expected = res.headers.get('x-silo-sha256');
    const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', bytes));
    const actual = Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
    if (!expected || expected !== actual) throw new Error('model download failed its SHA-256 check');
    if (bytes.length % 4 !== 0) throw new Error('model size is not a whole number of float32 values');
    // copy into an aligned buffer; the wire format is little-endian float32
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const weights = new Float32Array(bytes.length / 4);
    for (let i = 0; i < weights.length; i++) weights[i] = view.getFloat32(4 * i, true);
    return { version: Number(res.headers.get('x-silo-model-version')), weights };
  }

  /** The server's public status; the client reads only the privacy account from it. */
  async status(): Promise<{ modelVersion: number; privacy: { delta: number; epsilon: number | null; rounds: number } }> {
    const res = await fetch(this.url('/status'));
    if (!res.ok) return FederatedHttpClient.fail(res);
    return (await res.json()) as { modelVersion: number; privacy: { delta: number; epsilon: number | null; rounds: number } };
  }

  async uploadSummary(roundId: number, token: string, summary: Uint8Array): Promise<{ accepted: boolean; roundParticipants: number }> {
    const res = await fetch(this.url(`/rounds/${roundId}/summary`), {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'x-silo-token': token },
      body: summary as BodyInit,
    });
    if (!res.ok) return FederatedHttpClient.fail(res);
    return (await res.json()) as { accepted: boolean; roundParticipants: number };
  }
}
