// Client side of the HTTP protocol (server/PROTOCOL.md), using fetch and Web Crypto only,
// so the browser worker and the Node benchmark share it.
import { decodeWeights } from '../models/weights.ts';
import { PopularityPrior } from './popularity.ts';
import { API_PREFIX, type CheckInResponse } from './protocol.ts';

export type CheckInResult = (CheckInResponse & { token?: string });

/**
 * Every federated request: no cookies or HTTP auth of the storefront's origin ride along
 * (the aggregator needs none, and they would tie uploads to a shopper's session).
 */
const NO_CREDENTIALS = { credentials: 'omit' } as const;

/** The header check-in requires: a cross-site page cannot send it without a CORS preflight, which the aggregator refuses. */
export const CLIENT_HEADER = 'x-silo-client';

export interface PrivacyAccount {
  delta: number;
  epsilon: number | null;
  rounds: number;
  epsilonPerMonth?: number | null;
}

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
    const res = await fetch(this.url('/checkin'), { ...NO_CREDENTIALS, method: 'POST', headers: { 'content-type': 'application/json', [CLIENT_HEADER]: '1' }, body: '{}' });
    if (!res.ok) return FederatedHttpClient.fail(res);
    return (await res.json()) as CheckInResult;
  }

  /** GET of bytes whose SHA-256 header must match the body before they are trusted. */
  private async downloadVerifiedBytes(path: string, what: string): Promise<{ headers: Headers; bytes: Uint8Array }> {
    const res = await fetch(this.url(path), NO_CREDENTIALS);
    if (!res.ok) return FederatedHttpClient.fail(res);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const expected = res.headers.get('x-silo-sha256');
    const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', bytes));
    const actual = Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
    if (!expected || expected !== actual) throw new Error(`${what} download failed its SHA-256 check`);
    return { headers: res.headers, bytes };
  }

  /** GET of a float32 vector whose SHA-256 header must match the body before it is trusted. */
  private async downloadVerified(path: string, what: string): Promise<{ headers: Headers; values: Float32Array }> {
    const { headers: resHeaders, bytes } = await this.downloadVerifiedBytes(path, what);
    if (bytes.length % 4 !== 0) throw new Error(`${what} size is not a whole number of float32 values`);
    // copy into an aligned buffer; the wire format is little-endian float32
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const values = new Float32Array(bytes.length / 4);
    for (let i = 0; i < values.length; i++) values[i] = view.getFloat32(4 * i, true);
    return { headers: resHeaders, values };
  }

  /**
   * Downloads a model version and verifies its SHA-256 header (over the bytes received)
   * before decoding it. float32 (the default) is exact, as a round's delta needs; `int8` is a
   * quarter of its bytes, rounding each weight to 1/254 of its block's range, and serves as a
   * new shopper's starting weights.
   */
  async downloadModel(version: number | 'latest', format: 'int8' | 'float16' | 'float32' = 'float32'): Promise<{ version: number; weights: Float32Array }> {
    if (format === 'float32') {
      const { headers, values } = await this.downloadVerified(`/model/${version}`, 'model');
      return { version: Number(headers.get('x-silo-model-version')), weights: values };
    }
    const { headers, bytes } = await this.downloadVerifiedBytes(`/model/${version}?format=${format}`, 'model');
    const decoded = decodeWeights<{ length: number }>(bytes.slice().buffer);
    if (decoded.dtype !== format) throw new Error(`asked for a ${format} model, got ${decoded.dtype}`);
    const weights = new Float32Array(decoded.config.length);
    let at = 0;
    for (const block of decoded.weights) {
      if (at + block.length > weights.length) throw new Error('model blocks exceed its declared length');
      weights.set(block, at);
      at += block.length;
    }
    if (at !== weights.length) throw new Error(`model has ${at} values, declared ${weights.length}`);
    return { version: Number(headers.get('x-silo-model-version')), weights };
  }

  /**
   * Downloads the latest (or a given) popularity release: noised counts per hash bucket and
   * the weight recommenders give them (federated/popularity.ts). Rejects with HTTP 404 when
   * the server has released none.
   */
  async downloadPopularity(version: number | 'latest' = 'latest'): Promise<PopularityPrior> {
    const { headers, values } = await this.downloadVerified(`/popularity/${version}`, 'popularity');
    const weight = Number(headers.get('x-silo-popularity-weight'));
    if (!Number.isFinite(weight)) throw new Error('popularity download has no valid x-silo-popularity-weight');
    return new PopularityPrior(values, weight, Number(headers.get('x-silo-popularity-version')));
  }

  /**
   * The server's public status; the client reads only the privacy account from it.
   * `epsilonPerMonth`: the most ε one shopper can spend in 30 days under the server's
   * schedule (null: the server does not bound its rounds; absent: an older server).
   */
  async status(): Promise<{ modelVersion: number; privacy: PrivacyAccount }> {
    const res = await fetch(this.url('/status'), NO_CREDENTIALS);
    if (!res.ok) return FederatedHttpClient.fail(res);
    return (await res.json()) as { modelVersion: number; privacy: PrivacyAccount };
  }

  /** Resolves once the leader has stored the sealed report of a secure round durably (202). */
  async uploadReport(roundId: number, token: string, report: Uint8Array): Promise<{ accepted: boolean }> {
    const res = await fetch(this.url(`/rounds/${roundId}/report`), {
      ...NO_CREDENTIALS,
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'x-silo-token': token },
      body: report as BodyInit,
    });
    if (!res.ok) return FederatedHttpClient.fail(res);
    return (await res.json()) as { accepted: boolean };
  }

  /**
   * The helper aggregator's encoded HPKE config, fetched from the helper itself (never through
   * the leader, which could substitute a key of its own), without credentials.
   */
  static async fetchHelperConfig(helperUrl: string): Promise<Uint8Array> {
    const res = await fetch(helperUrl.replace(/\/$/, '') + '/dap/v1/hpke-config', NO_CREDENTIALS);
    if (!res.ok) return FederatedHttpClient.fail(res);
    return new Uint8Array(await res.arrayBuffer());
  }

  /** Resolves once the server has stored the summary durably (202). */
  async uploadSummary(roundId: number, token: string, summary: Uint8Array): Promise<{ accepted: boolean }> {
    const res = await fetch(this.url(`/rounds/${roundId}/summary`), {
      ...NO_CREDENTIALS,
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'x-silo-token': token },
      body: summary as BodyInit,
    });
    if (!res.ok) return FederatedHttpClient.fail(res);
    return (await res.json()) as { accepted: boolean };
  }
}
