// Markdown tables of the attack results, as BENCHMARKS.md shows them.
import type { BodyEntropy } from './entropy-meter.ts';
import type { MembershipResult } from './membership.ts';
import type { AttackScore } from './stats.ts';

const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(x < 0.1 ? 2 : 1)}%` : '—');

export interface ScoredRow {
  view: string;
  attack: string;
  score: AttackScore;
}

export function attackTable(rows: readonly ScoredRow[]): string {
  const out = ['| view | attack | shoppers | items named | precision | chance precision | recall | chance recall | hits (99.9% chance band) | at chance |', '|---|---|---:|---:|---:|---:|---:|---:|---:|:---:|'];
  for (const { view, attack, score: s } of rows) {
    const [lo, hi] = s.chanceBand();
    out.push(`| ${view} | ${attack} | ${s.shoppers} | ${(s.predicted / s.shoppers).toFixed(1)} | ${pct(s.precision)} | ${pct(s.chancePrecision)} | ${pct(s.recall)} | ${pct(s.chanceRecall)} | ${s.hits} (${lo}–${hi}) | ${s.atChance() ? 'yes' : 'no'} |`);
  }
  return out.join('\n');
}

export function entropyTable(rows: readonly BodyEntropy[]): string {
  const out = ['| body | readable by | bodies | bytes each | bits/byte, pooled | uniform bytes, pooled size | bits/byte, lowest body | uniform bytes, body size | framing bytes (excluded) |', '|---|---|---:|---:|---:|---:|---:|---:|---:|'];
  for (const r of rows) {
    out.push(`| ${r.body} | ${r.reader} | ${r.bodies} | ${Math.round(r.bytesPerBody).toLocaleString('en')} | ${r.pooledBitsPerByte.toFixed(4)} | ${r.uniformPooledBitsPerByte.toFixed(4)} | ${r.minBodyBitsPerByte.toFixed(4)} | ${r.uniformBodyBitsPerByte.toFixed(4)} | ${r.framingBytes} |`);
  }
  return out.join('\n');
}

export function membershipTable(results: readonly { label: string; result: MembershipResult }[]): string {
  const out = ['| release | ε | δ | σ | target buckets | trials (each) | FPR | TPR | Gaussian optimum | e^ε·FPR + δ | within bound | ε shown (99.9% lower bound) |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|---:|'];
  for (const { label, result: r } of results) {
    for (const p of r.points) {
      out.push(`| ${label} | ${r.options.epsilon} | ${r.options.delta.toExponential(0)} | ${r.sigma.toFixed(2)} | ${r.options.targetBuckets} | ${r.options.trials} | ${pct(p.fpr)} | ${pct(p.tpr)} | ${pct(p.gaussianOptimum)} | ${pct(Math.min(1, p.bound))} | ${p.withinBound ? 'yes' : 'NO'} | ${p.epsilonLowerBound.toFixed(2)} |`);
    }
  }
  return out.join('\n');
}
