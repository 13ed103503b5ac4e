// Standalone aggregation server: `npm run server -- [--port 8787] [--host 127.0.0.1]
//   [--data .silo-data] [--strategy dp-fedavg|fedavg|trimmed-mean|median]
//   [--noise-multiplier 4] [--noise central|distributed] [--clip 0.3 (initial clip norm)] [--min 10] [--max 100]
//   [--round-seconds 600] [--round-interval-hours 6] [--selection-probability 0.2]
//   [--server-optimizer adam|momentum|sgd] [--server-lr 0.02]
//   [--local-epochs 1] [--local-lr 0.2]
//   [--store file:DIR | redis://host:port[/db]] [--redis-prefix silo:] [--bits 8|16|32]
//   [--popularity-epsilon 1 (0: no popularity rounds)] [--popularity-every 100]
//   [--popularity-weight 0.5] [--popularity-buckets 65536] [--population N] [--delta min(1e-6, 1/(10·N))]
//   [--accountant rdp|pld (pld: report the tighter PLD ε, computed in seconds at each round close)]
//   [--helper URL --helper-token T (secure popularity rounds with a helper aggregator; default
//    4,096 buckets; the token may come from SILO_HELPER_TOKEN) [--secure-data DIR (the leader's
//    HPKE key and round verdicts; default <data>-secure)]]`
// `--role helper` runs the helper aggregator instead (server/secure/helper-main.ts).
// Defaults (server/deployment.ts, ε ≤ 8 per shopper per month): DP-FedAvg with central noise
// and adaptive clipping, FedAdam on the server, 8-bit summaries (one byte per parameter: a
// browser's upload stays under 256 KB), a round at most every 6 hours, and a popularity
// round (server/PROTOCOL.md) first and after every 100 model rounds, its noise set so that
// one release alone is (ε = 1, δ)-DP; every release is in the same ledger.
// With --noise distributed there are no popularity rounds (they need central noise).
// With --store redis://… any number of these processes (behind one load balancer or not)
// share one Redis and serve the same rounds.
// The initial global model is a freshly initialised SasRec with the browser worker's
// architecture (BROWSER_MODEL, seed 42): its parameter count is every summary's length.
// the initial global model's weights are made with tfjs-core, which needs a backend in Node
import '@tensorflow/tfjs-backend-cpu';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { noiseForEpsilon } from '../federated/accountant.ts';
import { flattenWeights } from '../federated/summary.ts';
import { SasRec } from '../models/sasrec.ts';
import { BROWSER_MODEL } from '../models/browser-model.ts';
import { createAggregator, PUBLIC_EDGE_LIMITS } from './aggregator.ts';
import { DEPLOYMENT } from './deployment.ts';
import { defaultDelta } from './privacy/ledger.ts';
import { FileStore } from './file-store.ts';
import { RedisStore } from './redis-store.ts';
import type { AggregatorStore } from './store.ts';
import { ServerAdam, ServerMomentum, ServerSgd } from './server-optimizers.ts';
import { SecureLeader } from './secure/leader.ts';
import { runHelper } from './secure/helper-main.ts';
import { type AggregationStrategy, DpFedAvg, FedAvg, TrimmedMean } from './strategies.ts';

// the helper serves until the process exits, so this module's leader part below never runs
const role = process.argv.find((a, i, all) => a.startsWith('--role=') || all[i - 1] === '--role')?.replace('--role=', '');
if (role === 'helper') await runHelper(process.argv.slice(2)).then(() => new Promise<never>(() => {}));
else if (role && role !== 'leader') throw new Error(`--role ${role}: use leader or helper`);

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '8787' },
    host: { type: 'string', default: '127.0.0.1' },
    data: { type: 'string', default: '.silo-data' },
    store: { type: 'string' },
    'redis-prefix': { type: 'string', default: 'silo:' },
    strategy: { type: 'string', default: 'dp-fedavg' },
    'noise-multiplier': { type: 'string', default: String(DEPLOYMENT.noiseMultiplier) },
    noise: { type: 'string', default: 'central' },
    clip: { type: 'string', default: '0.3' },
    'local-epochs': { type: 'string', default: '1' },
    'local-lr': { type: 'string', default: '0.2' },
    'server-lr': { type: 'string', default: '0.02' },
    min: { type: 'string', default: '10' },
    max: { type: 'string', default: '100' },
    'round-seconds': { type: 'string', default: '600' },
    'round-interval-hours': { type: 'string', default: String(DEPLOYMENT.roundIntervalHours) },
    'selection-probability': { type: 'string', default: String(DEPLOYMENT.selectionProbability) },
    'server-optimizer': { type: 'string', default: 'adam' },
    delta: { type: 'string' },
    population: { type: 'string' },
    accountant: { type: 'string', default: 'rdp' },
    bits: { type: 'string', default: '8' },
    'popularity-epsilon': { type: 'string', default: '1' },
    'popularity-every': { type: 'string', default: '100' },
    'popularity-weight': { type: 'string', default: '0.5' },
    'popularity-buckets': { type: 'string' },
    role: { type: 'string', default: 'leader' },
    helper: { type: 'string' },
    'helper-token': { type: 'string' },
    'secure-data': { type: 'string' },
  },
});

let store: AggregatorStore;
const where = args.store ?? `file:${args.data}`;
if (where.startsWith('redis://') || where.startsWith('rediss://')) store = new RedisStore(where, { prefix: args['redis-prefix'] });
else if (where.startsWith('file:')) store = new FileStore(where.slice('file:'.length) || args.data);
else {
  console.error(`--store ${where}: use file:DIR or redis://host:port`);
  process.exit(2);
}

if (!['rdp', 'pld'].includes(args.accountant)) {
  console.error(`--accountant ${args.accountant}: use rdp or pld`);
  process.exit(2);
}
if (!['8', '16', '32'].includes(args.bits)) {
  console.error(`--bits ${args.bits}: use 8, 16 or 32`);
  process.exit(2);
}
const clip = Number(args.clip);
const strategies: Record<string, () => AggregationStrategy> = {
  'dp-fedavg': () => new DpFedAvg({ noiseMultiplier: Number(args['noise-multiplier']), initialClipNorm: clip, noiseMode: args.noise === 'distributed' ? 'distributed' : 'central' }),
  fedavg: () => new FedAvg(clip),
  'trimmed-mean': () => new TrimmedMean(clip, 0.1),
  median: () => new TrimmedMean(clip, 0.5),
};
const makeStrategy = strategies[args.strategy];
if (!makeStrategy) throw new Error(`unknown strategy ${args.strategy}`);
// --server-lr is FedAdam's step; FedAvg's and FedAvgM's plain step stays 1
const optimizers = { sgd: () => new ServerSgd(1), momentum: () => new ServerMomentum(1, 0.9), adam: () => new ServerAdam(Number(args['server-lr'])) };
const makeOptimizer = optimizers[args['server-optimizer'] as keyof typeof optimizers];
if (!makeOptimizer) throw new Error(`unknown server optimizer ${args['server-optimizer']}`);

const population = args.population === undefined ? undefined : Number(args.population);
const delta = args.delta === undefined ? defaultDelta(population) : Number(args.delta);
const popularityEpsilon = Number(args['popularity-epsilon']);
const popularity =
  popularityEpsilon > 0 && args.noise !== 'distributed'
    ? {
        noiseMultiplier: noiseForEpsilon(1, 1, popularityEpsilon, delta),
        everyRounds: Number(args['popularity-every']),
        weight: Number(args['popularity-weight']),
        // a Prio3 report carries 16 bytes per bucket: 65,536 would be a 1 MB upload
        buckets: Number(args['popularity-buckets'] ?? (args.helper ? 4096 : 65_536)),
        secure: args.helper ? await secureLeader(args.helper) : undefined,
      }
    : undefined;

async function secureLeader(helperUrl: string): Promise<SecureLeader> {
  const helperToken = args['helper-token'] ?? process.env.SILO_HELPER_TOKEN;
  if (!helperToken) throw new Error('--helper needs --helper-token (or SILO_HELPER_TOKEN), the token the helper was started with');
  if (where.startsWith('redis')) console.warn('aggregator: secure rounds keep the leader\'s HPKE key in --secure-data; instances sharing Redis must share that directory');
  // beside the store, not in it: a store directory holds only the store's own files
  return SecureLeader.create({ dataDir: args['secure-data'] ?? `${args.data.replace(/\/$/, '')}-secure`, helperUrl, helperToken });
}

const model = new SasRec(BROWSER_MODEL);
const initialWeights = flattenWeights(await model.getWeights());
model.dispose();

const aggregator = await createAggregator({
  initialWeights,
  store,
  strategy: makeStrategy(),
  serverOptimizer: makeOptimizer(),
  minParticipants: Number(args.min),
  maxParticipants: Number(args.max),
  roundDurationMs: Number(args['round-seconds']) * 1000,
  roundIntervalMs: Number(args['round-interval-hours']) * 3600_000,
  selectionProbability: Number(args['selection-probability']),
  delta,
  population,
  accountant: args.accountant as 'rdp' | 'pld',
  bits: Number(args.bits) as 8 | 16 | 32,
  // the shopper's round: plain SGD on its own sequence (one step per epoch)
  training: { epochs: Number(args['local-epochs']), learningRate: Number(args['local-lr']) },
  popularity,
  // per-source check-in rate and one task per source per round (server/PROTOCOL.md, "Abuse limits")
  edge: PUBLIC_EDGE_LIMITS,
});

const server = createServer(async (req, res) => {
  if (!(await aggregator.handle(req, res))) {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'not found: the aggregator serves /fl/v1/ only' }));
  }
});
// request headers and whole requests must arrive in bounded time (bodies: the aggregator's own 30 s limit)
server.headersTimeout = 20_000;
server.requestTimeout = 60_000;
server.listen(Number(args.port), args.host, () => {
  console.log(`Silo aggregator on http://${args.host}:${args.port}/fl/v1/ (store: ${where}, strategy: ${args.strategy}${popularity ? `, popularity rounds: z ${popularity.noiseMultiplier.toFixed(2)} every ${popularity.everyRounds} rounds${args.helper ? `, secure with helper ${args.helper}` : ''}` : ''})`);
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    server.close();
    void aggregator.close().then(() => process.exit(0));
  });
}
