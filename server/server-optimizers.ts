// Server optimisers (Reddi et al. 2021, "Adaptive Federated Optimization"): the round's
// aggregated delta is a pseudo-gradient; the server takes one step with it. Their state
// (momentum, Adam moments) is saved with every model version, so a restarted server, or
// another instance on the same Redis, continues exactly where the last step left off.
export interface ServerOptimizer {
  readonly name: string;
  /**
   * applies the update to `weights` in place; `noiseStd`: the update's per-coordinate DP noise
   * std (0: none); `step`: how many steps the server has taken before this one (for schedules)
   */
  apply(weights: Float32Array, update: Float32Array, noiseStd?: number, step?: number): void;
  /** the state the next apply() depends on, as bytes (null: stateless) */
  saveState(): Uint8Array | null;
  /** restores saveState()'s bytes; null resets to the initial state */
  loadState(state: Uint8Array | null, length: number): void;
}

/** Concatenated little-endian float32 vectors (typed arrays are little-endian on every platform Node runs on here). */
function packVectors(vectors: Float32Array[]): Uint8Array {
  const out = new Float32Array(vectors.reduce((n, v) => n + v.length, 0));
  let off = 0;
  for (const v of vectors) {
    out.set(v, off);
    off += v.length;
  }
  return new Uint8Array(out.buffer);
}

function unpackVectors(state: Uint8Array, count: number, length: number, name: string): Float32Array[] {
  if (state.byteLength !== count * length * 4) throw new Error(`saved ${name} optimiser state has ${state.byteLength} bytes, expected ${count * length * 4} (another optimiser or model?)`);
  const all = new Float32Array(count * length);
  new Uint8Array(all.buffer).set(state);
  return Array.from({ length: count }, (_, i) => all.subarray(i * length, (i + 1) * length));
}

/** A server learning rate per step: a constant, or a function of the steps taken before. */
export type LearningRate = number | ((step: number) => number);

function rateAt(lr: LearningRate, step: number): number {
  return typeof lr === 'number' ? lr : lr(step);
}

/** Plain FedAvg: w ← w + lr · Δ (lr = 1 is McMahan et al.'s FedAvg). */
export class ServerSgd implements ServerOptimizer {
  readonly name = 'sgd';
  constructor(private readonly learningRate = 1) {}
  apply(weights: Float32Array, update: Float32Array): void {
    for (let i = 0; i < weights.length; i++) weights[i] += this.learningRate * update[i];
  }
  saveState(): null {
    return null;
  }
  loadState(): void {}
}

/** FedAvgM: server momentum, v ← βv + Δ, w ← w + lr·v (Hsu et al. 2019). */
export class ServerMomentum implements ServerOptimizer {
  readonly name = 'momentum';
  private velocity: Float32Array | null = null;
  constructor(private readonly learningRate = 1, private readonly beta = 0.9) {}
  apply(weights: Float32Array, update: Float32Array): void {
    const v = (this.velocity ??= new Float32Array(weights.length));
    for (let i = 0; i < weights.length; i++) {
      v[i] = this.beta * v[i] + update[i];
      weights[i] += this.learningRate * v[i];
    }
  }
  saveState(): Uint8Array | null {
    return this.velocity && packVectors([this.velocity]);
  }
  loadState(state: Uint8Array | null, length: number): void {
    this.velocity = state ? unpackVectors(state, 1, length, this.name)[0] : null;
  }
}

/**
 * FedAdam (Reddi et al. 2021): Adam on the pseudo-gradient, τ is the adaptivity floor. The
 * default lr 0.02 is the best measured at ε ≈ 8 on Beauty (the DP runs in BENCHMARKS.md,
 * "Federated learning with differential privacy", use it); the federated runs before it used
 * 0.01, with τ 1e-6 throughout.
 */
export class ServerAdam implements ServerOptimizer {
  readonly name = 'adam';
  private m: Float32Array | null = null;
  private v: Float32Array | null = null;
  /**
   * `noiseFloor`: raise τ to the round's DP noise std, so a coordinate holding only noise is
   * not scaled up to a full ±lr step every round. Off by default: on Beauty at ε = 8 it also
   * silenced the many small coordinates FedAdam learns from (bench:federated --denoise).
   */
  constructor(private readonly learningRate: LearningRate = 0.02, private readonly beta1 = 0.9, private readonly beta2 = 0.99, private readonly tau = 1e-6, private readonly noiseFloor = false) {}
  apply(weights: Float32Array, update: Float32Array, noiseStd = 0, step = 0): void {
    const m = (this.m ??= new Float32Array(weights.length));
    const v = (this.v ??= new Float32Array(weights.length));
    const tau = this.noiseFloor ? Math.max(this.tau, noiseStd) : this.tau;
    const lr = rateAt(this.learningRate, step);
    for (let i = 0; i < weights.length; i++) {
      m[i] = this.beta1 * m[i] + (1 - this.beta1) * update[i];
      v[i] = this.beta2 * v[i] + (1 - this.beta2) * update[i] * update[i];
      weights[i] += (lr * m[i]) / (Math.sqrt(v[i]) + tau);
    }
  }
  saveState(): Uint8Array | null {
    return this.m && this.v && packVectors([this.m, this.v]);
  }
  loadState(state: Uint8Array | null, length: number): void {
    if (!state) {
      this.m = this.v = null;
      return;
    }
    const [m, v] = unpackVectors(state, 2, length, this.name);
    this.m = m.slice();
    this.v = v.slice();
  }
}
