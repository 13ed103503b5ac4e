// Server optimisers (Reddi et al. 2021, "Adaptive Federated Optimization"): the round's
// aggregated delta is a pseudo-gradient; the server takes one step with it.
export interface ServerOptimizer {
  readonly name: string;
  /** applies the update to `weights` in place */
  apply(weights: Float32Array, update: Float32Array): void;
}

/** Plain FedAvg: w ← w + lr · Δ (lr = 1 is McMahan et al.'s FedAvg). */
export class ServerSgd implements ServerOptimizer {
  readonly name = 'sgd';
  constructor(private readonly learningRate = 1) {}
  apply(weights: Float32Array, update: Float32Array): void {
    for (let i = 0; i < weights.length; i++) weights[i] += this.learningRate * update[i];
  }
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
}

/** FedAdam (Reddi et al. 2021): Adam on the pseudo-gradient, τ is the adaptivity floor. */
export class ServerAdam implements ServerOptimizer {
  readonly name = 'adam';
  private m: Float32Array | null = null;
  private v: Float32Array | null = null;
  constructor(private readonly learningRate = 0.01, private readonly beta1 = 0.9, private readonly beta2 = 0.99, private readonly tau = 1e-3) {}
  apply(weights: Float32Array, update: Float32Array): void {
    const m = (this.m ??= new Float32Array(weights.length));
    const v = (this.v ??= new Float32Array(weights.length));
    for (let i = 0; i < weights.length; i++) {
      m[i] = this.beta1 * m[i] + (1 - this.beta1) * update[i];
      v[i] = this.beta2 * v[i] + (1 - this.beta2) * update[i] * update[i];
      weights[i] += (this.learningRate * m[i]) / (Math.sqrt(v[i]) + this.tau);
    }
  }
}
