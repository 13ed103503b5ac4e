// What bench:quality reports per model: the printed table and the --json file.
import { writeFileSync } from 'node:fs';
import { bootstrapMean, CUTOFFS, ndcgAtRank, type EvaluationResult, type MeanInterval, type Metrics } from '../../models/metrics.ts';
import type { SasRecConfig } from '../../models/sasrec.ts';
import { type Dataset, interactionCount } from '../datasets.ts';

export interface ModelReport {
  test: Metrics;
  testSampled: Metrics;
  /** 95% bootstrap interval of test NDCG@10: how much another draw of as many test users could move it */
  ndcg10Interval?: MeanInterval;
  validation: Metrics;
  epochs?: number;
  bestEpoch?: number;
  /** the first and last epoch whose weights were averaged into the scored model (--average) */
  averagedEpochs?: [number, number];
  trainSecondsPerEpoch?: number;
  inferenceMsPerUser?: number;
  parameters?: number;
  bytes?: number;
  config?: Partial<SasRecConfig>;
}

/** Per-user NDCG@10 of a test pass, bootstrapped over its users. */
export function ndcg10Interval(result: EvaluationResult): MeanInterval {
  return bootstrapMean(Float64Array.from(result.fullRanks, (rank) => ndcgAtRank(rank)));
}

export function printTable(reports: Record<string, ModelReport>): void {
  const cols = [...CUTOFFS.flatMap((k) => [`HR@${k}`, `NDCG@${k}`]), 'MRR'];
  const header = ['model'.padEnd(28), ...cols.map((c) => c.padStart(8)), 'HR@10(s100)'.padStart(12), 'NDCG@10(s100)'.padStart(14), 'NDCG@10 95%'.padStart(14)].join(' ');
  console.log('\nTest split, full ranking (history items excluded); s100 = 100 sampled negatives; 95% = bootstrap over test users');
  console.log(header);
  for (const [name, r] of Object.entries(reports)) {
    const interval = r.ndcg10Interval ? `${r.ndcg10Interval.low.toFixed(4)}–${r.ndcg10Interval.high.toFixed(4)}` : '';
    console.log(
      [
        name.padEnd(28),
        ...cols.map((c) => r.test[c].toFixed(4).padStart(8)),
        r.testSampled['HR@10'].toFixed(4).padStart(12),
        r.testSampled['NDCG@10'].toFixed(4).padStart(14),
        interval.padStart(14),
      ].join(' '),
    );
  }
}

/** The --json file of a full (not --tune) run. */
export function writeResultsJson(path: string, data: Dataset, reports: Record<string, ModelReport>, run: { testUsers: number; backend: string; wallSeconds: number }): void {
  const numItems = data.itemKeys.length;
  const { testUsers, backend, wallSeconds } = run;
  const models: Record<string, Record<string, unknown>> = {};
  for (const [name, r] of Object.entries(reports)) {
    models[name] = {
      ...r.test,
      sampled: r.testSampled,
      ...(r.ndcg10Interval ? { 'NDCG@10 interval': r.ndcg10Interval } : {}),
      validation: r.validation,
      ...(r.epochs !== undefined ? { epochs: r.epochs, bestEpoch: r.bestEpoch, averagedEpochs: r.averagedEpochs, trainSecondsPerEpoch: r.trainSecondsPerEpoch, parameters: r.parameters } : {}),
      ...(r.inferenceMsPerUser !== undefined ? { inferenceMsPerUser: r.inferenceMsPerUser } : {}),
      ...(r.bytes !== undefined ? { bytes: r.bytes } : {}),
      ...(r.config ? { config: r.config } : {}),
    };
  }
  const out = {
    dataset: data.name,
    users: data.sequences.length,
    testUsers,
    items: numItems - 1,
    interactions: interactionCount(data),
    protocol: 'leave-one-out; full ranking over all items, history items excluded (primary); sampled = 100 uniform negatives',
    backend,
    wallSeconds,
    command: process.argv.slice(2).join(' '),
    models,
  };
  writeFileSync(path, JSON.stringify(out, null, 2));
}
