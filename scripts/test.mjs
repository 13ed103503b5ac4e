// `npm test`: every test — unit (Node), server (loopback HTTP) and browser (real Chromium).
import { execFileSync } from 'node:child_process';

const run = (cmd, args) => execFileSync(cmd, args, { stdio: 'inherit' });
try {
  run('bash', ['scripts/system-deps.sh']);
  run('npx', ['tsc', '--noEmit', '-p', 'tsconfig.json']);
  run('npx', ['vitest', 'run', ...process.argv.slice(2)]);
} catch (err) {
  process.exit(typeof err.status === 'number' ? err.status : 1);
}
