// What bench:private prints and writes: each stage's test metrics, the gain of each stage
// over the one before with a 95% paired bootstrap interval over the test users.
import { bootstrapMean, type MeanInterval, pairedBootstrapRatio, type RatioInterval } from '../../models/metrics.ts';
import type { StageMetrics } from './stages.ts';

export interface StageReport {
  'NDCG@10': number;
  'HR@10': number;
  /** NDCG@10 gain over the previous stage: the mean per-user difference, and the ratio */
  gain?: { 'NDCG@10': MeanInterval; ratio: RatioInterval | null };
}

export function stageReports(stages: readonly [string, StageMetrics][]): Record<string, StageReport> {
  const out: Record<string, StageReport> = {};
  stages.forEach(([name, m], k) => {
    const report: StageReport = { 'NDCG@10': m['NDCG@10'], 'HR@10': m['HR@10'] };
    if (k > 0) {
      const prev = stages[k - 1][1].perUserNdcg10;
      const diff = Float64Array.from(m.perUserNdcg10, (x, i) => x - prev[i]);
      report.gain = { 'NDCG@10': bootstrapMean(diff), ratio: stages[k - 1][1]['NDCG@10'] > 0 ? pairedBootstrapRatio(m.perUserNdcg10, prev) : null };
    }
    out[name] = report;
  });
  return out;
}

export function describeStage(name: string, r: StageReport): string {
  const base = `${name.padEnd(20)} NDCG@10 ${r['NDCG@10'].toFixed(4)}  HR@10 ${r['HR@10'].toFixed(4)}`;
  if (!r.gain) return base;
  const g = r.gain['NDCG@10'];
  const ratio = r.gain.ratio ? `, ×${r.gain.ratio.ratio.toFixed(3)} (${r.gain.ratio.low.toFixed(3)}–${r.gain.ratio.high.toFixed(3)})` : '';
  return `${base}  gain ${sign(g.mean)} (95% paired bootstrap ${sign(g.low)} to ${sign(g.high)}${ratio})`;
}

const sign = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(4)}`;
