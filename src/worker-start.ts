// Starts the profile worker from wherever silo.js is hosted: the worker chunk lies next to it
// (a relative URL, so a sub-path or a CDN works). A worker script on another origin cannot be
// started directly, so then a same-origin blob module imports it (CORS applies to that
// import). Under Trusted Types the URL goes through the `silo` policy, which accepts only the
// two URLs built here.
import workerChunkUrl from '../workers/profile.worker.ts?worker&url';

/** The Trusted Types policy name a storefront lists in its `trusted-types` directive. */
export const TRUSTED_TYPES_POLICY = 'silo';

interface ScriptUrlPolicy {
  createScriptURL(url: string): unknown;
}
interface TrustedTypesFactory {
  createPolicy(name: string, rules: { createScriptURL(url: string): string }): ScriptUrlPolicy;
}

const allowedScriptUrls = new Set<string>();
let policy: ScriptUrlPolicy | null | undefined;

/** The URL as a TrustedScriptURL where Trusted Types exist (else the string itself). */
function trustedScriptUrl(url: string): string {
  const factory = (globalThis as { trustedTypes?: TrustedTypesFactory }).trustedTypes;
  if (!factory) return url;
  if (policy === undefined) {
    try {
      policy = factory.createPolicy(TRUSTED_TYPES_POLICY, {
        createScriptURL: (u) => {
          if (!allowedScriptUrls.has(u)) throw new TypeError(`silo: ${u} is not Silo's worker`);
          return u;
        },
      });
    } catch {
      policy = null; // the page's trusted-types directive does not allow the name; see startWorker
    }
  }
  return policy ? (policy.createScriptURL(url) as string) : url;
}

/** The worker chunk's absolute URL. */
export function workerScriptUrl(): string {
  return new URL(workerChunkUrl, import.meta.url).href;
}

/**
 * The running worker, and a function that frees the blob shim (if one was made) once the
 * worker has loaded. Throws with a reason that names the fix when the page's policy refuses it.
 */
export function startWorker(): { worker: Worker; loaded(): void } {
  const url = workerScriptUrl();
  const crossOrigin = new URL(url).origin !== location.origin;
  const script = crossOrigin ? URL.createObjectURL(new Blob([`import ${JSON.stringify(url)};\n`], { type: 'text/javascript' })) : url;
  allowedScriptUrls.add(script);
  try {
    const worker = new Worker(trustedScriptUrl(script), { type: 'module', name: 'silo' });
    return { worker, loaded: () => (crossOrigin ? URL.revokeObjectURL(script) : undefined) };
  } catch (err) {
    if (crossOrigin) URL.revokeObjectURL(script);
    const message = (err as Error).message;
    // Chromium names Trusted Types in its message; Firefox says "Sink type mismatch violation"
    const hint = /Trusted|sink type/i.test(message)
      ? ` (the page requires Trusted Types: add "${TRUSTED_TYPES_POLICY}" to its trusted-types directive)`
      : crossOrigin
        ? " (silo.js is on another origin: the page's CSP must allow blob: and silo.js's origin in worker-src, and that origin in script-src)"
        : '';
    throw new Error(`cannot start the worker: ${message}${hint}`);
  }
}
