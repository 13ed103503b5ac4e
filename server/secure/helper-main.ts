// The helper aggregator as a process: `npm run helper -- --leader-token T [--port 8788]
//   [--host 127.0.0.1] [--data .silo-data/helper] [--epsilon 1] [--delta 1e-6]
//   [--min-reports 10] [--max-length 65536] [--max-weight 50]`
// (also `tsx server/main.ts --role helper …`). The token may come from SILO_LEADER_TOKEN
// instead, so it need not show in the process list. The HPKE key pair is generated in the
// data directory on first start and reused after.
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { HelperAggregator } from './helper.ts';
import { HelperStore } from './helper-state.ts';
import { loadOrCreateKeyPair } from './keys.ts';

export async function runHelper(argv: string[]): Promise<void> {
  const { values: args } = parseArgs({
    args: argv,
    options: {
      role: { type: 'string' },
      port: { type: 'string', default: '8788' },
      host: { type: 'string', default: '127.0.0.1' },
      data: { type: 'string', default: '.silo-data/helper' },
      'leader-token': { type: 'string' },
      epsilon: { type: 'string', default: '1' },
      delta: { type: 'string', default: '1e-6' },
      'min-reports': { type: 'string', default: '10' },
      'max-length': { type: 'string', default: '65536' },
      'max-weight': { type: 'string', default: '50' },
    },
  });
  const leaderToken = args['leader-token'] ?? process.env.SILO_LEADER_TOKEN;
  if (!leaderToken || leaderToken.length < 16) {
    console.error('helper: pass --leader-token (or SILO_LEADER_TOKEN), at least 16 characters, shared with the leader');
    process.exit(2);
  }
  const delta = Number(args.delta);
  if (!(delta > 0 && delta < 1)) throw new Error('--delta must be in (0, 1)');
  const helper = new HelperAggregator({
    keys: await loadOrCreateKeyPair(args.data),
    store: new HelperStore(args.data),
    leaderToken,
    epsilon: Number(args.epsilon),
    delta,
    minReports: Number(args['min-reports']),
    maxLength: Number(args['max-length']),
    maxWeight: Number(args['max-weight']),
  });
  const server = createServer(async (req, res) => {
    if (!(await helper.handle(req, res))) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'not found: the helper serves /dap/v1/ only' }));
    }
  });
  await new Promise<void>((resolve) => server.listen(Number(args.port), args.host, resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : args.port;
  console.log(`Silo helper aggregator on http://${args.host}:${port}/dap/v1/ (data: ${args.data}, ε ${args.epsilon} per release)`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => server.close(() => process.exit(0)));
}

