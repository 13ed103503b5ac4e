// Next-item training batches and inference inputs: left-padded item-index sequences (0 = padding).

/** A batch of left-padded next-item training examples (0 = padding). */
export interface TrainingBatch {
  inputs: Int32Array; // [batch, maxLen]
  targets: Int32Array; // [batch, maxLen]
  batch: number;
}

/** Builds a batch from full item sequences: input s[0..n-2], target s[1..n-1], last maxLen. */
export function makeBatch(sequences: readonly ArrayLike<number>[], maxLen: number): TrainingBatch {
  const batch = sequences.length;
  const inputs = new Int32Array(batch * maxLen);
  const targets = new Int32Array(batch * maxLen);
  sequences.forEach((seq, b) => {
    const n = Math.max(0, Math.min(seq.length - 1, maxLen));
    const start = seq.length - 1 - n;
    for (let t = 0; t < n; t++) {
      const pos = b * maxLen + (maxLen - n + t);
      inputs[pos] = seq[start + t];
      targets[pos] = seq[start + t + 1];
    }
  });
  return { inputs, targets, batch };
}

/**
 * Cuts a sequence into training windows of at most maxLen + 1 items that together cover every
 * next-item target once: the last window is the one makeBatch would take, and each earlier
 * one ends on the item where the next begins. makeBatch alone trains on the last maxLen targets
 * of a sequence; on long histories (ML-1M at maxLen 100) that leaves most of them unused.
 */
export function trainingWindows(seq: readonly number[], maxLen: number): number[][] {
  const windows: number[][] = [];
  for (let end = seq.length; end >= 2; end -= maxLen) windows.push(seq.slice(Math.max(0, end - maxLen - 1), end));
  return windows.reverse();
}

/** Left-pads the last maxLen items of each sequence for inference. */
export function makeInputs(sequences: readonly ArrayLike<number>[], maxLen: number): Int32Array {
  const out = new Int32Array(sequences.length * maxLen);
  sequences.forEach((seq, b) => {
    const n = Math.min(seq.length, maxLen);
    for (let t = 0; t < n; t++) out[b * maxLen + maxLen - n + t] = seq[seq.length - n + t];
  });
  return out;
}
