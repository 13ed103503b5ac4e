// The WebGPU backend, loaded only when WebGPU is a candidate on this device.
//
// Our own backend factory instead of tfjs's: it asks for no timestamp-query feature (tfjs
// only uses it for profiling) and keeps the adapter and device referenced for the life of
// the worker. With tfjs's factory, reads back from the GPU failed in Chromium workers on
// SwiftShader ("A valid external Instance reference no longer exists"). It also uses the
// adapter the caller already inspected (see backend.ts): a second adapter request can leave
// the first adapter's device unusable in Chromium workers.
import * as tf from '@tensorflow/tfjs-core';
import { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { registerWebGpuPatches } from '../webgpu-patches.ts';

export interface GpuAdapterLike {
  limits: Record<string, number>;
  info?: { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean };
  isFallbackAdapter?: boolean;
  requestDevice(descriptor: object): Promise<unknown>;
}

const handles: { device?: unknown } = {};

/** Registers 'webgpu' over the given adapter (replacing the factory tfjs registered on import). */
export function registerWebGpu(adapter: GpuAdapterLike): void {
  tf.removeBackend('webgpu');
  tf.registerBackend(
    'webgpu',
    async () => {
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
      handles.device = device;
      return new WebGPUBackend(device as ConstructorParameters<typeof WebGPUBackend>[0], adapter.info as ConstructorParameters<typeof WebGPUBackend>[1]);
    },
    3,
  );
  registerWebGpuPatches();
}
