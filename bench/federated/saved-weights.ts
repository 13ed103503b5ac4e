// Weights written by bench:federated --save-weights (flat float32), read back for --score-weights.
import { readFileSync } from 'node:fs';

/** One saved model, or the element-wise mean of several joined by `+` (a tail average of rounds) */
export function readSavedWeights(spec: string): Float32Array {
  const files = spec.split('+');
  let mean: Float32Array | null = null;
  for (const file of files) {
    const w = new Float32Array(new Uint8Array(readFileSync(file)).buffer);
    if (mean && mean.length !== w.length) throw new Error(`${file}: ${w.length} weights, expected ${mean.length}`);
    mean ??= new Float32Array(w.length);
    for (let i = 0; i < w.length; i++) mean[i] += w[i] / files.length;
  }
  return mean!;
}
