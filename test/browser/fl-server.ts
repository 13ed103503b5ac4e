// The built demo (dist/) served together with a real federated aggregator on one origin, as
// `npm start` does, for the browser tests that take part in rounds. The global model has the
// browser worker's architecture (BROWSER_MODEL); the data directory is a fresh temp dir.
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { afterAll, beforeAll } from 'vitest';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flattenWeights } from '../../federated/summary.ts';
import { decodeWeights } from '../../models/weights.ts';
import { SasRec } from '../../models/sasrec.ts';
import { type Aggregator, type AggregatorOptions, createAggregator } from '../../server/aggregator.ts';
import { DpFedAvg } from '../../server/strategies.ts';
import { BROWSER_MODEL } from '../../workers/recommender.ts';
import { serveStatic } from '../../scripts/serve.ts';

export interface FederatedDemo {
  url: string;
  aggregator: Aggregator;
  /** the global model's parameter count (the summary length the round expects) */
  length: number;
  close(): Promise<void>;
}

export async function serveDemoWithAggregator(options: Partial<AggregatorOptions> = {}): Promise<FederatedDemo> {
  await tf.setBackend('cpu');
  const model = new SasRec(BROWSER_MODEL);
  const initialWeights = flattenWeights(await model.getWeights());
  model.dispose();
  const dataDir = mkdtempSync(join(tmpdir(), 'silo-fl-browser-'));
  const aggregator = await createAggregator({
    initialWeights,
    dataDir,
    // one selected client closes the round: a test sees the new model version at once
    strategy: new DpFedAvg({ noiseMultiplier: 1, initialClipNorm: 1, noiseMode: 'distributed' }),
    minParticipants: 1,
    maxParticipants: 1,
    selectionProbability: 1,
    bits: 8,
    ...options,
  });
  const served = await serveStatic({ dir: 'dist', handlers: [(req, res) => aggregator.handle(req, res)] });
  return {
    url: served.url,
    aggregator,
    length: initialWeights.length,
    async close() {
      await served.close();
      await aggregator.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** One demo + aggregator per test file, started before its tests and closed after them. */
export function useFederatedDemo(options: Partial<AggregatorOptions> = {}): () => FederatedDemo {
  let demo: FederatedDemo | undefined;
  beforeAll(async () => {
    demo = await serveDemoWithAggregator(options);
  });
  afterAll(async () => {
    await demo?.close();
  });
  return () => {
    if (!demo) throw new Error('the federated demo is not running (used outside a test?)');
    return demo;
  };
}

/**
 * The SHA-256 a worker stores for a global model it adopted: it downloads the int8 encoding
 * (`?format=int8`) and keeps the decoded float32 weights.
 */
export async function adoptedModelSha256(baseUrl: string, version: number | 'latest'): Promise<string> {
  const published = await fetch(`${baseUrl}/fl/v1/model/${version}?format=int8`);
  const { weights } = decodeWeights(await published.arrayBuffer());
  const flat = new Float32Array(weights.reduce((n, w) => n + w.length, 0));
  weights.reduce((at, w) => (flat.set(w, at), at + w.length), 0);
  return createHash('sha256').update(new Uint8Array(flat.buffer)).digest('hex');
}
