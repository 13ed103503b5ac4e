// tfjs 4.22's WebGPU Transpose shader writes `A[i]` straight into the float output. When
// A's buffer holds integers it does not compile in current Chromium (Tint): "expected
// 'f32', got 'i32'" (tensorflow/tfjs#8638, fix proposed in #8616). A bool→float32 cast is
// such a case: tfjs keeps the bool buffer and only relabels it, so any `sum` over a middle
// axis of a mask (a transpose inside) produced zeros, and our training produced NaN.
// This registers the same kernel with the value converted by f32(), which is exact for
// every int32 and bool value the model uses.
import * as tf from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { TransposeProgram } from '@tensorflow/tfjs-backend-webgpu/dist/transpose_webgpu.js';

class CastingTransposeProgram extends TransposeProgram {
  constructor(shape: number[], perm: number[]) {
    super(shape, perm);
    this.shaderKey = `silo_transpose_${perm}`; // not the cached shader of the original
  }

  override getUserCode(): string {
    const code = super.getUserCode();
    const patched = code.replace('A[getIndexFromCoords', 'f32(A[getIndexFromCoords').replace('uniforms.aShape)]', 'uniforms.aShape)])');
    if (patched === code) throw new Error('tfjs WebGPU transpose shader changed: review workers/webgpu-patches.ts');
    return patched;
  }
}

let registered = false;

/** Replaces the WebGPU Transpose kernel; call after the webgpu backend is registered. */
export function registerWebGpuPatches(): void {
  const original = tf.getKernel('Transpose', 'webgpu');
  if (registered || !original) return;
  registered = true;
  tf.unregisterKernel('Transpose', 'webgpu');
  tf.registerKernel({
    ...original,
    kernelFunc: (args) => {
      const { inputs, attrs, backend } = args;
      const x = inputs.x as tf.TensorInfo;
      const perm = (attrs as { perm: number[] }).perm;
      const gpu = backend as unknown as WebGPUBackend;
      // the original handles what does not reach the faulty shader: small CPU-resident
      // tensors and 2-D transposes (a different, correct shader)
      const is2d = x.shape.length === 2 && perm[0] === 1 && perm[1] === 0;
      if (is2d || gpu.shouldExecuteOnCPU([x])) return original.kernelFunc(args);
      const program = new CastingTransposeProgram(x.shape, perm);
      return gpu.runWebGPUProgram(program, [x], x.dtype);
    },
  });
}
