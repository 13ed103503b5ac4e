// `npm run bench:private` end to end on a small synthetic log with item attributes (the real
// datasets are not in the repository): the federated global model from the real server over
// loopback, the worker's on-device update per test user, the prior and the public-feature
// neighbours, beside the centralised reference, and the --json shape the issue specifies.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { mulberry32 } from '../../models/metrics.ts';

const dir = mkdtempSync(join(tmpdir(), 'silo-bench-private-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('reports global, on-device, prior and neighbour stages, the centralised reference and item-to-item in --json', async () => {
  // 300 users, one per line (the Beauty format), each walking the catalog in its own stride,
  // so a shopper's own history says more about their next item than the population does
  const rand = mulberry32(3);
  const lines = Array.from({ length: 300 }, (_, u) => {
    const start = Math.floor(rand() * 200);
    const stride = 1 + (u % 5);
    return [u + 1, ...Array.from({ length: 4 + Math.floor(rand() * 9) }, (_, k) => ((start + stride * k) % 200) + 1)].join(' ');
  });
  const data = join(dir, 'log.txt');
  const attributes = join(dir, 'attributes.json');
  writeFileSync(data, lines.join('\n') + '\n');
  // neighbouring items share a "brand" and a "category": public features with signal
  writeFileSync(attributes, JSON.stringify(Object.fromEntries(Array.from({ length: 200 }, (_, i) => [String(i + 1), [`b${Math.floor(i / 4)}`, `c${Math.floor(i / 20)}`]]))));
  const out = join(dir, 'result.json');
  const argv = ['--preset', 'quick', '--data', data, '--attributes', attributes, '--rounds', '2', '--clients-per-round', '60', '--central-epochs', '2', '--validation-users', '60', '--test-users', '100', '--epsilon', '8', '--json', out];
  await promisify(execFile)(process.execPath, ['--import', 'tsx', 'bench/private.ts', ...argv], { maxBuffer: 16 << 20 });

  const result = JSON.parse(readFileSync(out, 'utf8'));
  expect(result.partial).toBe(false);
  expect(result.delta).toBeLessThanOrEqual(1e-6);
  expect(result.epsilon).toBeGreaterThan(0);
  expect(result.epsilon).toBeLessThanOrEqual(8); // the prior's release and both rounds together
  expect(Object.keys(result.stages)).toEqual(['global', 'on-device', 'popularity-prior', 'feature-neighbours']);
  for (const stage of Object.values(result.stages) as { 'NDCG@10': number; 'HR@10': number }[]) {
    expect(stage['NDCG@10']).toBeGreaterThanOrEqual(0);
    expect(stage['HR@10']).toBeGreaterThanOrEqual(stage['NDCG@10']);
    expect(stage['HR@10']).toBeLessThanOrEqual(1);
  }
  const { global, 'on-device': onDevice } = result.stages;
  // the worker's update ran per test user: it changed the ranking, and its gain has an interval
  expect(onDevice['NDCG@10']).not.toBe(global['NDCG@10']);
  const gain = onDevice.gain['NDCG@10'];
  expect(gain.mean).toBeCloseTo(onDevice['NDCG@10'] - global['NDCG@10'], 9);
  expect(gain.low).toBeLessThanOrEqual(gain.mean);
  expect(gain.high).toBeGreaterThanOrEqual(gain.mean);
  expect(result.final).toEqual({ 'NDCG@10': result.stages['feature-neighbours']['NDCG@10'], 'HR@10': result.stages['feature-neighbours']['HR@10'] });
  expect(result.centralised['NDCG@10']).toBeGreaterThan(0);
  expect(result.itemToItem['NDCG@10']).toBeGreaterThan(0);
  expect(result.federation.meanUploadBytes).toBeLessThanOrEqual(256 * 1024);
}, 1_200_000); // minutes alone; the 2-core machine is often shared
