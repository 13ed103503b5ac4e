// A server learning-rate schedule for experiments (bench:federated --server-lr-final,
// bench:private); the shipped servers use a constant rate.
/**
 * Cosine decay from `from` to `to` over `steps` server steps, then `to`. Worth trying because
 * under DP every coordinate, noise-only ones included, moves by about ±lr a step, and a
 * smaller late step moves the noise less; but on Beauty at ε ≈ 8 both decays measured scored
 * below a constant 0.02, so no default uses it (bench:federated --server-lr-final).
 */
export function cosineDecay(from: number, to: number, steps: number): (step: number) => number {
  return (step) => (step >= steps - 1 ? to : to + ((from - to) * (1 + Math.cos((Math.PI * step) / (steps - 1)))) / 2);
}
