// A real redis-server for the enclosing suite, and a client to it: started before the suite's
// tests, stopped after them.
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { startRedis } from '../../scripts/redis-server.ts';

export interface SuiteRedis {
  /** set once the suite has started */
  url: string;
  client: Redis;
}

export function useRedis(): SuiteRedis {
  const db = {} as SuiteRedis;
  let server: Awaited<ReturnType<typeof startRedis>> | undefined;
  beforeAll(async () => {
    server = await startRedis();
    db.url = server.url;
    db.client = new Redis(server.url);
  });
  afterAll(async () => {
    db.client?.disconnect();
    await server?.stop();
  });
  return db;
}
