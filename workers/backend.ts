// Picks the tfjs backend this device runs the model fastest on. The candidates are tried in
// order (WebGPU → WebGL → WASM → CPU by default), but a GPU backend whose adapter is a
// software rasteriser (SwiftShader, llvmpipe: what Chrome falls back to without a usable
// GPU) is skipped while WASM is still to come: on such an adapter the model trains many
// times slower than on WASM. Each skip keeps its reason, so status() can say why.
// Each backend's code is a chunk of its own, imported only when that backend is tried, so a
// device downloads the backend it runs on (and any tried before it), not all four.
import * as tf from '@tensorflow/tfjs-core';
import type { GpuAdapterLike } from './backends/webgpu.ts';
import { wasmBlockedReason } from './wasm-csp.ts';

export type BackendName = 'webgpu' | 'webgl' | 'wasm' | 'cpu';
export const BACKEND_ORDER: BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];

export interface BackendChoice {
  backend: BackendName;
  /** why this backend: the adapter it runs on, or why it was remembered */
  reason: string;
  skipped: { backend: BackendName; reason: string }[];
  /** set when this choice was the one remembered on this device, not probed again */
  rememberedAt?: number;
}

/** A choice as kept on the device (IndexedDB meta), reused while the browser and order are the same. */
export interface RememberedChoice extends BackendChoice {
  order: string;
  userAgent: string;
  at: number;
}

/** A remembered choice is probed again after this long (drivers and blocklists change). */
export const REMEMBER_MS = 30 * 24 * 3600 * 1000;

const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|softpipe|software|basic render/i;

/** What a probe found: an error (the backend cannot run), or the adapter and whether it is software. */
interface Probe {
  error?: string;
  adapter?: string;
  software?: boolean;
}

let webgpuAdapter: GpuAdapterLike | null = null;

async function probeWebGpu(): Promise<Probe> {
  const gpu = (globalThis as { navigator?: { gpu?: { requestAdapter(o: object): Promise<GpuAdapterLike | null> } } }).navigator?.gpu;
  if (!gpu) return { error: 'navigator.gpu is not available' };
  // one adapter request for the life of the worker: the backend factory reuses it
  webgpuAdapter ??= await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!webgpuAdapter) return { error: 'no WebGPU adapter' };
  const info = webgpuAdapter.info ?? {};
  const adapter = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') || 'unnamed adapter';
  const fallback = info.isFallbackAdapter ?? webgpuAdapter.isFallbackAdapter ?? false;
  return { adapter: fallback ? `${adapter} (fallback adapter)` : adapter, software: fallback || SOFTWARE_ADAPTER.test(adapter) };
}

interface GlLike {
  RENDERER: number;
  getExtension(name: string): { UNMASKED_RENDERER_WEBGL?: number; loseContext?(): void } | null;
  getParameter(p: number): unknown;
}

function probeWebGl(): Probe {
  const Canvas = (globalThis as { OffscreenCanvas?: new (w: number, h: number) => { getContext(kind: string): unknown } }).OffscreenCanvas;
  if (!Canvas) return { error: 'no OffscreenCanvas in this worker' };
  const canvas = new Canvas(1, 1);
  const gl = (canvas.getContext('webgl2') ?? canvas.getContext('webgl')) as GlLike | null;
  if (!gl) return { error: 'no WebGL context' };
  const debug = gl.getExtension('WEBGL_debug_renderer_info');
  // current Chrome reports the real renderer in RENDERER too; the extension is for older ones
  const adapter = String(gl.getParameter(debug?.UNMASKED_RENDERER_WEBGL ?? gl.RENDERER) ?? '');
  gl.getExtension('WEBGL_lose_context')?.loseContext?.();
  return { adapter: adapter || 'unnamed renderer', software: SOFTWARE_ADAPTER.test(adapter) };
}

async function probe(name: BackendName): Promise<Probe> {
  if (name === 'webgpu') return probeWebGpu();
  if (name === 'webgl') return probeWebGl();
  if (name === 'wasm') {
    const blocked = wasmBlockedReason();
    if (blocked) return { error: blocked };
  }
  return { adapter: name === 'wasm' ? 'WebAssembly on the CPU' : 'JavaScript on the CPU' };
}

/** Imports a backend's code (registering it), the first time that backend is tried. */
async function load(name: BackendName): Promise<void> {
  if (name === 'webgpu') {
    if (!webgpuAdapter) throw new Error('no WebGPU adapter');
    const { registerWebGpu } = await import('./backends/webgpu.ts');
    if (!webgpuRegistered) registerWebGpu(webgpuAdapter);
    webgpuRegistered = true;
  } else if (name === 'wasm') {
    await import('./backends/wasm.ts');
  } else if (name === 'webgl') {
    await import('./backends/webgl.ts');
  } else {
    await import('./backends/cpu.ts');
  }
}
let webgpuRegistered = false;

/** A one-op smoke test: some drivers "initialise" and then fail on the first kernel. */
async function smokeTest(): Promise<void> {
  const x = tf.tensor2d([1, 2, 3, 4], [2, 2]);
  const y = tf.matMul(x, x);
  const v = await y.data();
  x.dispose();
  y.dispose();
  if (v[0] !== 7) throw new Error(`wrong result ${v[0]}`);
}

async function start(name: BackendName): Promise<void> {
  await load(name);
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error('initialisation failed');
  await tf.ready();
  await smokeTest();
}

/** The remembered choice, if it still applies to this order and browser. */
export function stillValid(remembered: RememberedChoice | undefined, order: readonly BackendName[], now = Date.now()): RememberedChoice | undefined {
  if (!remembered || remembered.order !== order.join(',') || now - remembered.at > REMEMBER_MS) return undefined;
  if (remembered.userAgent !== (globalThis.navigator?.userAgent ?? '')) return undefined;
  return order.includes(remembered.backend) ? remembered : undefined;
}

/**
 * The first backend in `order` that starts and passes the smoke test, skipping software GPU
 * adapters while WASM comes later in the order. With `remembered` (see stillValid), the
 * backends before the remembered one are skipped, unprobed, for the reasons found then.
 */
export async function chooseBackend(order: readonly BackendName[] = BACKEND_ORDER, remembered?: RememberedChoice): Promise<BackendChoice> {
  const skipped: BackendChoice['skipped'] = [];
  let from = 0;
  if (remembered) {
    from = order.indexOf(remembered.backend);
    for (const name of order.slice(0, from)) {
      skipped.push({ backend: name, reason: remembered.skipped.find((s) => s.backend === name)?.reason ?? 'skipped' });
    }
  }
  for (const [i, name] of order.entries()) {
    if (i < from) continue;
    try {
      const found = await probe(name);
      if (found.error) throw new Error(found.error);
      if (found.software && order.slice(i + 1).includes('wasm')) {
        skipped.push({ backend: name, reason: `software adapter (${found.adapter}): WASM is faster on this device` });
        continue;
      }
      await start(name);
      if (remembered && i === from) return { backend: name, reason: remembered.reason, skipped, rememberedAt: remembered.at };
      return { backend: name, reason: `first in order that works here (${found.adapter})`, skipped };
    } catch (err) {
      skipped.push({ backend: name, reason: (err as Error).message || String(err) });
    }
  }
  throw new Error(`no TensorFlow.js backend works here: ${skipped.map((s) => `${s.backend}: ${s.reason}`).join('; ')}`);
}
