// `npm start`: serves the built demo storefront and the federated aggregator on one origin
// (http://localhost:$PORT, default 5173), with the embedded default store in .silo-data/ (or $SILO_DATA).
import { noiseForEpsilon } from '../federated/accountant.ts';
import { flattenWeights } from '../federated/summary.ts';
import { SasRec } from '../models/sasrec.ts';
import { createAggregator, PUBLIC_EDGE_LIMITS } from '../server/aggregator.ts';
import { ServerAdam } from '../server/server-optimizers.ts';
import { BROWSER_MODEL } from '../models/browser-model.ts';
import { serveStatic } from './serve.ts';

const port = Number(process.env.PORT ?? 5173);
const host = process.env.HOST ?? '127.0.0.1';

// the global model has the browser worker's architecture
const model = new SasRec(BROWSER_MODEL);
const initialWeights = flattenWeights(await model.getWeights());
model.dispose();
// 8-bit summaries: one byte per parameter keeps a browser's upload under 256 KB (issue 4)
// one demo store per model architecture: after the browser model changes size, `npm start`
// begins a fresh global model instead of refusing the old store
const dataDir = process.env.SILO_DATA ?? `.silo-data/model-${initialWeights.length}`;
// FedAdam on the server and popularity rounds at ε = 1 per release, as `npm run server`; the
// clients run plain SGD (the aggregator's default round settings)
const aggregator = await createAggregator({
  initialWeights,
  dataDir,
  bits: 8,
  serverOptimizer: new ServerAdam(),
  popularity: { noiseMultiplier: noiseForEpsilon(1, 1, 1, 1e-5) }, // δ: the aggregator's default
  edge: PUBLIC_EDGE_LIMITS,
});

const served = await serveStatic({ dir: 'dist', port, host, handlers: [(req, res) => aggregator.handle(req, res)] });
console.log(`Silo demo storefront: ${served.url.replace('127.0.0.1', 'localhost')}/`);
console.log(`Federated aggregator: ${served.url.replace('127.0.0.1', 'localhost')}/fl/v1/status`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    void served.close().then(() => aggregator.close()).then(() => process.exit(0));
  });
}
