// WebGPU in Node through Dawn's binding (the `webgpu` npm package's dawn.node), installed as
// `navigator.gpu` so tfjs's WebGPU backend runs unchanged, and registered with the same
// factory the browser worker uses (workers/backend.ts): high-performance adapter, no
// timestamp-query feature, the adapter's own limits for storage and workgroups.
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { registerWebGpuPatches } from '../../workers/webgpu-patches.ts';

interface GpuAdapterLike {
  limits: Record<string, number>;
  info: Record<string, unknown>;
  isFallbackAdapter?: boolean;
  requestDevice(descriptor: object): Promise<unknown>;
}
interface GpuLike {
  requestAdapter(options: object): Promise<GpuAdapterLike | null>;
}
interface DawnModule {
  create(flags: string[]): GpuLike;
  globals: Record<string, unknown>;
}

/** What the chosen adapter says about itself: which GPU a figure belongs to. */
export interface AdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean | null;
  limits: Record<string, number>;
}

/**
 * Loads Dawn from `dawnNodePath` (a dawn.node file), or from the `webgpu` package when none
 * is given, and installs navigator.gpu and the GPU* constants tfjs reads.
 */
export async function installDawn(dawnNodePath: string | undefined, flags: string[] = []): Promise<void> {
  let dawn: DawnModule;
  if (dawnNodePath) {
    dawn = createRequire(import.meta.url)(resolve(dawnNodePath)) as DawnModule;
  } else {
    const name = 'webgpu'; // not a project dependency: resolved at run time only
    dawn = (await import(name)) as DawnModule;
  }
  Object.assign(globalThis, dawn.globals);
  // Node 20 has no global navigator; Node ≥ 21 has one without `gpu`
  const nav = ((globalThis as { navigator?: object }).navigator ??= {}) as { gpu?: GpuLike };
  Object.defineProperty(nav, 'gpu', { value: dawn.create(flags), configurable: true });
}

const handles: { adapter?: GpuAdapterLike; device?: unknown } = {};

/** Registers 'webgpu' with the worker's factory; call after installDawn(). */
export function registerDawnBackend(): void {
  // tfjs registers its own factory at import only when navigator.gpu already existed
  if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
  tf.registerBackend(
    'webgpu',
    async () => {
      const gpu = (globalThis as unknown as { navigator: { gpu: GpuLike } }).navigator.gpu;
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
      handles.adapter = adapter;
      handles.device = device;
      return new WebGPUBackend(device as ConstructorParameters<typeof WebGPUBackend>[0], adapter.info as unknown as ConstructorParameters<typeof WebGPUBackend>[1]);
    },
    3,
  );
  registerWebGpuPatches();
}

/** The adapter tfjs's WebGPU backend runs on; null before the backend is initialised. */
export function adapterReport(): AdapterReport | null {
  const a = handles.adapter;
  if (!a) return null;
  const info = a.info;
  const text = (key: string) => (typeof info[key] === 'string' ? (info[key] as string) : '');
  const fallback = typeof info.isFallbackAdapter === 'boolean' ? info.isFallbackAdapter : a.isFallbackAdapter;
  const limits: Record<string, number> = {};
  for (const key of ['maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup']) {
    limits[key] = Number(a.limits[key]);
  }
  return {
    vendor: text('vendor'),
    architecture: text('architecture'),
    device: text('device'),
    description: text('description'),
    isFallbackAdapter: typeof fallback === 'boolean' ? fallback : null,
    limits,
  };
}
