// `npm run bench:federated` end to end on a small synthetic log (the real datasets are not in
// the repository): virtual shoppers with the browser's client code against the real server
// over loopback, and the --json shape issue 4 specifies.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { mulberry32 } from '../../models/metrics.ts';

const dir = mkdtempSync(join(tmpdir(), 'silo-bench-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('runs DP rounds over loopback and writes {rounds, final, epsilon, delta, centralised} to --json', async () => {
  // 300 users, one per line (`user item item …`, the Beauty format), 3–12 items each
  const rand = mulberry32(1);
  const lines = Array.from({ length: 300 }, (_, u) => {
    const start = Math.floor(rand() * 150);
    return [u + 1, ...Array.from({ length: 3 + Math.floor(rand() * 10) }, (_, k) => ((start + 7 * k) % 200) + 1)].join(' ');
  });
  const data = join(dir, 'log.txt');
  const out = join(dir, 'result.json');
  writeFileSync(data, lines.join('\n') + '\n');
  const saved = join(dir, 'run');
  const args = ['--data', data, '--clients-per-round', '30', '--rounds', '2', '--eval-users', '100', '--eval-every', '1', '--dp', 'central', '--epsilon', '8', '--central-steps', '4', '--save-weights', saved, '--json', out];
  const bench = (argv: string[]) => promisify(execFile)(process.execPath, ['--import', 'tsx', 'bench/federated.ts', ...argv], { maxBuffer: 16 << 20 });
  await bench(args);

  const result = JSON.parse(readFileSync(out, 'utf8'));
  expect(result.delta).toBeCloseTo(1 / 300, 12); // δ = 1 / number of users
  expect(result.rounds).toHaveLength(2);
  const [first, second] = result.rounds;
  // ε is spent round by round, and the planned total stays within the target
  expect(first.epsilon).toBeGreaterThan(0);
  expect(second.epsilon).toBeGreaterThan(first.epsilon);
  expect(result.epsilon).toBe(second.epsilon);
  expect(result.epsilon).toBeLessThanOrEqual(8);
  for (const r of result.rounds) {
    expect(r.participants).toBeGreaterThan(0);
    expect(r.bytesPerClient).toBeLessThanOrEqual(256 * 1024);
    expect(r.ndcg10).toBeGreaterThanOrEqual(0);
    expect(r.ndcg10).toBeLessThanOrEqual(1);
  }
  expect(result.final['NDCG@10']).toBe(second.ndcg10);
  expect(result.final['HR@10']).toBeGreaterThanOrEqual(result.final['NDCG@10']);
  expect(result.centralised['NDCG@10']).toBeGreaterThan(0);
  expect(result.final.ndcgVsCentral).toBeCloseTo(result.final['NDCG@10'] / result.centralised['NDCG@10'], 12);

  // the saved models scored again, the federated one against the centralised one on the same users
  const rescored = join(dir, 'rescored.json');
  await bench(['--data', data, '--eval-users', '100', '--rounds', '0', '--central-epochs', '0', '--score-weights', `${saved}-central.f32,${saved}-federated.f32`, '--json', rescored]);
  const [central, federated] = JSON.parse(readFileSync(rescored, 'utf8')).scored;
  expect(central['NDCG@10']).toBeCloseTo(result.centralised['NDCG@10'], 6);
  expect(federated['NDCG@10']).toBeCloseTo(result.final['NDCG@10'], 6);
  const { ratio, low, high, level } = federated.vsFirst.ndcg10;
  expect(ratio).toBeCloseTo(federated['NDCG@10'] / central['NDCG@10'], 9);
  expect(level).toBe(0.95);
  expect(low).toBeLessThanOrEqual(ratio);
  expect(high).toBeGreaterThanOrEqual(ratio);
  expect(federated.perUserNdcg10).toBeUndefined(); // per-user scores stay out of the file
}, 300_000);
