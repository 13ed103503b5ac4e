// `npm start`: serves the built demo storefront and the federated aggregator (the leader) on
// one origin (http://localhost:$PORT, default 5173), with the embedded default store in
// .silo-data/ (or $SILO_DATA), and runs a helper aggregator as a second process on
// $HELPER_PORT (default 5174) with its own data directory (.silo-data/helper) and key pair.
// The two share a random token (kept in .silo-data/helper-token): popularity rounds are secure (server/PROTOCOL.md,
// "Secure popularity rounds"). SILO_HELPER=off runs the leader alone, with plain popularity rounds.
// the initial global model's weights are made with tfjs-core, which needs a backend in Node
import '@tensorflow/tfjs-backend-cpu';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { flattenWeights } from '../federated/summary.ts';
import { SasRec } from '../models/sasrec.ts';
import { createAggregator } from '../server/aggregator.ts';
import { deploymentOptions } from '../server/deployment.ts';
import { SecureLeader } from '../server/secure/leader.ts';
import { spawnHelper } from '../server/secure/spawn-helper.ts';
import { BROWSER_MODEL } from '../models/browser-model.ts';
import { DEMO_CSP, serveStatic } from './serve.ts';

const port = Number(process.env.PORT ?? 5173);
const host = process.env.HOST ?? '127.0.0.1';
const helperPort = Number(process.env.HELPER_PORT ?? 5174);
const withHelper = process.env.SILO_HELPER !== 'off';

/** The leader↔helper token: random on the first start, then kept, so a round open across a restart still closes. */
function sharedToken(path: string): string {
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  mkdirSync(dirname(path), { recursive: true });
  const token = randomBytes(24).toString('hex');
  writeFileSync(path, token, { mode: 0o600 });
  return token;
}

const token = sharedToken('.silo-data/helper-token');
const helper = withHelper
  ? await spawnHelper({ token, echo: true, args: ['--port', String(helperPort), '--host', host, '--data', '.silo-data/helper', '--epsilon', '1'] })
  : null;

// the global model has the browser worker's architecture
const model = new SasRec(BROWSER_MODEL);
const initialWeights = flattenWeights(await model.getWeights());
model.dispose();
// one demo store per model architecture: after the browser model changes size, `npm start`
// begins a fresh global model instead of refusing the old store
const dataDir = process.env.SILO_DATA ?? `.silo-data/model-${initialWeights.length}`;
// the shipped settings (server/deployment.ts): ε ≤ 8 per shopper per month
const options = deploymentOptions();
if (helper && options.popularity) {
  const secure = await SecureLeader.create({ dataDir: `${dataDir}-secure`, helperUrl: helper.url, helperToken: token });
  // a Prio3 report carries 16 bytes per bucket: 4,096 buckets is a 66 KB upload
  options.popularity = { ...options.popularity, buckets: 4096, secure };
}
const aggregator = await createAggregator({ initialWeights, dataDir, ...options });

// the page's worker fetches the helper's public key from the helper's own origin
const csp = helper ? DEMO_CSP.replace("connect-src 'self'", `connect-src 'self' ${helper.url}`) : DEMO_CSP;
const served = await serveStatic({ dir: 'dist', port, host, csp, handlers: [(req, res) => aggregator.handle(req, res)] });
console.log(`Silo demo storefront: ${served.url.replace('127.0.0.1', 'localhost')}/`);
console.log(`Federated aggregator: ${served.url.replace('127.0.0.1', 'localhost')}/fl/v1/status`);
if (helper) console.log(`Helper aggregator: ${helper.url}/dap/v1/hpke-config`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    helper?.child.kill('SIGTERM');
    void served.close().then(() => aggregator.close()).then(() => process.exit(0));
  });
}
