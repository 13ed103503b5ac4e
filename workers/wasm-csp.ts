// Whether this worker may compile WebAssembly. A Content-Security-Policy without
// 'wasm-unsafe-eval' (or 'unsafe-eval') in script-src forbids it, and tfjs then reports only
// "initialisation failed"; compiling the 8-byte empty module first names the cause.

const EMPTY_MODULE = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

/** Null when WebAssembly works here, else why not (with the CSP fix when a policy blocks it). */
export function wasmBlockedReason(): string | null {
  if (typeof WebAssembly === 'undefined') return 'WebAssembly is not available';
  try {
    new WebAssembly.Module(EMPTY_MODULE);
    return null;
  } catch (err) {
    return `WebAssembly is blocked here, likely by the Content-Security-Policy: add 'wasm-unsafe-eval' to its script-src (${(err as Error).message})`;
  }
}
