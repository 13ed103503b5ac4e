// Kept only while bench/server.ts still imports this path; the helper lives in
// scripts/redis-server.ts (bench/ must not import from test/).
export { startRedis } from '../../scripts/redis-server.ts';
