// An aggregator as its own process, for fault tests that kill it (kill -9) or expect it to
// refuse to start: a real store, real HTTP over loopback, a small model so it starts fast.
//   node --import tsx test/faults/aggregator-process.ts <file:DIR | redis://…> [prefix] [min] [max]
// Prints "listening <port>" once it serves; a failed start prints the error and exits 3.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAggregator } from '../../server/aggregator.ts';
import { FileStore } from '../../server/file-store.ts';
import { RedisStore } from '../../server/redis-store.ts';
import { FedAvg } from '../../server/strategies.ts';

export const PROCESS_MODEL_LENGTH = 2000;

const [where, prefix = 'silo:', min = '2', max = '100'] = process.argv.slice(2);
try {
  const store = where.startsWith('redis://') ? new RedisStore(where, { prefix }) : new FileStore(where.slice('file:'.length));
  const agg = await createAggregator({
    store,
    initialWeights: new Float32Array(PROCESS_MODEL_LENGTH).fill(0.5),
    strategy: new FedAvg(1),
    minParticipants: Number(min),
    maxParticipants: Number(max),
    bits: 16,
  });
  const server = createServer(async (req, res) => {
    if (!(await agg.handle(req, res))) res.writeHead(404).end();
  });
  server.listen(0, '127.0.0.1', () => console.log(`listening ${(server.address() as AddressInfo).port}`));
  process.on('SIGTERM', () => {
    server.close();
    void agg.close().then(() => process.exit(0));
  });
} catch (e) {
  console.error((e as Error).message);
  process.exit(3);
}
