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
  // the house rules: file and function sizes, and package.json declaring exactly what is imported
  run('npx', ['tsx', 'scripts/check-sizes.ts']);
  run('npx', ['tsx', 'scripts/check-deps.ts']);
  run('npx', ['vitest', 'run', ...process.argv.slice(2)]);
} catch (err) {
  process.exit(typeof err.status === 'number' ? err.status : 1);
}
