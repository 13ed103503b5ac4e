// The tfjs WASM backend (4.22) has no UnsortedSegmentSum kernel, which is the gradient of
// `gather`: without it no embedding can be trained on WASM. This registers a plain
// JavaScript implementation on that backend (a scatter-add over rows), exact in float32.
import * as tf from '@tensorflow/tfjs-core';

interface WasmBackendLike {
  readSync(dataId: object): tf.TypedArray;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): tf.TypedArray;
}

let registered = false;

export function registerWasmPatches(): void {
  if (registered || tf.getKernel('UnsortedSegmentSum', 'wasm')) return;
  registered = true;
  tf.registerKernel({
    kernelName: 'UnsortedSegmentSum',
    backendName: 'wasm',
    kernelFunc: ({ inputs, attrs, backend }) => {
      const wasm = backend as unknown as WasmBackendLike;
      const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const numSegments = (attrs as { numSegments: number }).numSegments;
      const values = wasm.readSync(x.dataId);
      const ids = wasm.readSync(segmentIds.dataId);
      const rows = ids.length;
      const inner = rows === 0 ? 0 : values.length / rows;
      const out = wasm.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype);
      const sums = wasm.typedArrayFromHeap(out);
      sums.fill(0);
      for (let r = 0; r < rows; r++) {
        const s = ids[r];
        if (s < 0 || s >= numSegments) continue;
        const src = r * inner;
        const dst = s * inner;
        for (let j = 0; j < inner; j++) sums[dst + j] += values[src + j];
      }
      return out;
    },
  });
}
