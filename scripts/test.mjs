// `npm test`: every test — unit (Node), server (loopback HTTP) and browser (real Chromium).
import { execFileSync } from 'node:child_process';

const run = (cmd, args) => execFileSync(cmd, args, { stdio: 'inherit' });
try {
  run('bash', ['scripts/system-deps.sh']);
  // one config per target (page, worker, server: each with only its own globals, so a
  // boundary violation is a compile error), then the tools' config (tests, benchmarks, scripts)
  for (const config of ['tsconfig.browser.json', 'tsconfig.worker.json', 'tsconfig.server.json', 'tsconfig.json']) {
    run('npx', ['tsc', '--noEmit', '-p', config]);
  }
  run('npx', ['vitest', 'run', ...process.argv.slice(2)]);
} catch (err) {
  process.exit(typeof err.status === 'number' ? err.status : 1);
}
