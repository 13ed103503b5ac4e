// The browser model's configuration, shared by the worker (which trains it) and the
// aggregation server (whose global model has its architecture). Types only from sasrec.ts,
// so importing this pulls no TensorFlow.js into the server's graph.
import type { SasRecConfig } from './sasrec.ts';

export const BROWSER_MODEL: Partial<SasRecConfig> = {
  // a smaller hashed vocabulary than the benchmark model: fewer weights to update per step.
  // Sized so a federated update summary (one int8 per parameter) stays ≤ 256 KB: 226,600 parameters
  features: { idMode: 'hash', idBuckets: 4096, idHashes: 2, attrBuckets: 1024, maxAttrs: 6 },
  dim: 40,
  layers: 2,
  heads: 2,
  maxLen: 50,
  dropout: 0.1,
  loss: 'sampled-softmax',
  negatives: 256,
};
