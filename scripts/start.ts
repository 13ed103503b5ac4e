// `npm start`: serves the built demo storefront and the federated aggregator on one origin
// (http://localhost:$PORT, default 5173), with the embedded default store in .silo-data/ (or $SILO_DATA).
import { flattenWeights } from '../federated/summary.ts';
import { SasRec } from '../models/sasrec.ts';
import { createAggregator } from '../server/aggregator.ts';
import { deploymentOptions } from '../server/deployment.ts';
import { BROWSER_MODEL } from '../models/browser-model.ts';
import { serveStatic } from './serve.ts';

const port = Number(process.env.PORT ?? 5173);
const host = process.env.HOST ?? '127.0.0.1';

// the global model has the browser worker's architecture
const model = new SasRec(BROWSER_MODEL);
const initialWeights = flattenWeights(await model.getWeights());
model.dispose();
// one demo store per model architecture: after the browser model changes size, `npm start`
// begins a fresh global model instead of refusing the old store
const dataDir = process.env.SILO_DATA ?? `.silo-data/model-${initialWeights.length}`;
// the shipped settings (server/deployment.ts): ε ≤ 8 per shopper per month
const aggregator = await createAggregator({ initialWeights, dataDir, ...deploymentOptions() });

const served = await serveStatic({ dir: 'dist', port, host, handlers: [(req, res) => aggregator.handle(req, res)] });
console.log(`Silo demo storefront: ${served.url.replace('127.0.0.1', 'localhost')}/`);
console.log(`Federated aggregator: ${served.url.replace('127.0.0.1', 'localhost')}/fl/v1/status`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    void served.close().then(() => aggregator.close()).then(() => process.exit(0));
  });
}
