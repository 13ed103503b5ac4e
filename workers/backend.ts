// Picks the fastest tfjs backend this browser can run, in the order WebGPU → WebGL → WASM
// → CPU, and remembers why each faster one was skipped so the API can say so.
import * as tf from '@tensorflow/tfjs';
import { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { registerWasmPatches } from '../models/backend-patches.ts';
import { wasmBlockedReason } from './wasm-csp.ts';
import { registerWebGpuPatches } from './webgpu-patches.ts';

export type BackendName = 'webgpu' | 'webgl' | 'wasm' | 'cpu';
export const BACKEND_ORDER: BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];

export interface BackendChoice {
  backend: BackendName;
  skipped: { backend: BackendName; reason: string }[];
}

setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
});
registerWasmPatches();
registerWebGpuPatches();

// Our own WebGPU factory instead of tfjs's: it asks for no timestamp-query feature (tfjs
// only uses it for profiling) and keeps the adapter and device referenced for the life of
// the worker. With tfjs's factory, reads back from the GPU failed in Chromium workers on
// SwiftShader ("A valid external Instance reference no longer exists").
const gpuHandles: { adapter?: unknown; device?: unknown } = {};
interface GpuAdapterLike {
  limits: Record<string, number>;
  info?: unknown;
  requestDevice(descriptor: object): Promise<unknown>;
}
if ((globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu) {
  tf.removeBackend('webgpu');
  tf.registerBackend(
    'webgpu',
    async () => {
      const gpu = (navigator as unknown as { gpu: { requestAdapter(o: object): Promise<GpuAdapterLike | null> } }).gpu;
      const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
      if (!adapter) throw new Error('no WebGPU adapter');
      const l = adapter.limits;
      const device = await adapter.requestDevice({
        requiredLimits: {
          maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
          maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
          maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
          maxBufferSize: l.maxBufferSize,
          maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
          maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
        },
      });
      gpuHandles.adapter = adapter;
      gpuHandles.device = device;
      return new WebGPUBackend(device as ConstructorParameters<typeof WebGPUBackend>[0], adapter.info as ConstructorParameters<typeof WebGPUBackend>[1]);
    },
    3,
  );
}

/** Why a backend cannot run here, or null if it might. Cheap checks before tfjs tries. */
async function precheck(name: BackendName): Promise<string | null> {
  const g = globalThis as { navigator?: { gpu?: unknown }; OffscreenCanvas?: unknown };
  // (no adapter probe of our own: tfjs asks for one, and a second request can leave the
  // first adapter's device unusable in Chromium workers)
  if (name === 'webgpu' && !g.navigator?.gpu) return 'navigator.gpu is not available';
  if (name === 'webgl' && typeof g.OffscreenCanvas === 'undefined') return 'no OffscreenCanvas in this worker';
  if (name === 'wasm') return wasmBlockedReason();
  return null;
}

/** A one-op smoke test: some drivers "initialise" and then fail on the first kernel. */
async function smokeTest(): Promise<void> {
  const x = tf.tensor2d([1, 2, 3, 4], [2, 2]);
  const y = tf.matMul(x, x);
  const v = await y.data();
  x.dispose();
  y.dispose();
  if (v[0] !== 7) throw new Error(`wrong result ${v[0]}`);
}

export async function chooseBackend(order: readonly BackendName[] = BACKEND_ORDER): Promise<BackendChoice> {
  const skipped: BackendChoice['skipped'] = [];
  for (const name of order) {
    const why = await precheck(name);
    if (why) {
      skipped.push({ backend: name, reason: why });
      continue;
    }
    try {
      const ok = await tf.setBackend(name);
      if (!ok) throw new Error('initialisation failed');
      await tf.ready();
      await smokeTest();
      return { backend: name, skipped };
    } catch (err) {
      skipped.push({ backend: name, reason: (err as Error).message || String(err) });
    }
  }
  throw new Error(`no TensorFlow.js backend works here: ${skipped.map((s) => `${s.backend}: ${s.reason}`).join('; ')}`);
}
