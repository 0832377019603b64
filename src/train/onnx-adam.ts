const f32 = Math.fround;

/**
 * tf.train.adam's update on plain Float32Arrays, operation for operation in float32 (as the wasm
 * backend computes it), so a step on onnxruntime's gradients moves the weights exactly as tfjs would.
 */
export class Adam {
  private readonly first: Float32Array[];
  private readonly second: Float32Array[];
  private accBeta1: number;
  private accBeta2: number;

  constructor(
    sizes: number[],
    private readonly learningRate: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly epsilon = 1e-7,
  ) {
    this.first = sizes.map((n) => new Float32Array(n));
    this.second = sizes.map((n) => new Float32Array(n));
    this.accBeta1 = f32(beta1);
    this.accBeta2 = f32(beta2);
  }

  /** Updates `weights` in place from `gradients` (same order and sizes as the constructor's). */
  apply(weights: Float32Array[], gradients: Float32Array[]): void {
    const [b1, b2] = [f32(this.beta1), f32(this.beta2)];
    const [oneMinusB1, oneMinusB2] = [f32(1 - this.beta1), f32(1 - this.beta2)];
    const correction1 = f32(1 - this.accBeta1);
    const correction2 = f32(1 - this.accBeta2);
    const [step, epsilon] = [f32(-this.learningRate), f32(this.epsilon)];
    weights.forEach((w, k) => {
      const [g, m, v] = [gradients[k]!, this.first[k]!, this.second[k]!];
      for (let i = 0; i < w.length; i++) {
        const gi = g[i]!;
        const mi = f32(f32(m[i]! * b1) + f32(gi * oneMinusB1));
        const vi = f32(f32(v[i]! * b2) + f32(f32(gi * gi) * oneMinusB2));
        m[i] = mi;
        v[i] = vi;
        const mHat = f32(mi / correction1);
        const vHat = f32(vi / correction2);
        w[i] = f32(f32(f32(mHat / f32(f32(Math.sqrt(vHat)) + epsilon)) * step) + w[i]!);
      }
    });
    this.accBeta1 = f32(this.accBeta1 * b1);
    this.accBeta2 = f32(this.accBeta2 * b2);
  }
}
