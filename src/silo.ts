// The one-script-tag embed:
//   <script type="module" src="/silo.js" data-catalog="/catalog.json"></script>
// Reads its settings from data-* attributes, starts tracking and the worker, defines
// <silo-recommendations>, and exposes the API on window.silo and as ESM exports.
import { Silo, type SiloOptions } from './api.ts';
import { defineRecommendationsElement } from './widget.ts';
import type { BackendName } from '../workers/backend.ts';

export { Silo } from './api.ts';
export type { SiloOptions, Recommendation, RecommendRequest, RerankOptions, WorkerStatus, TrackResult } from './api.ts';
export type { SiloEvent, EventName, Ga4Item, EventParams } from './events.ts';
export type { CatalogItem } from './catalog.ts';

/** The <script> that loaded this module (module scripts have no document.currentScript). */
function ownScript(): HTMLScriptElement | null {
  const scripts = [...document.querySelectorAll<HTMLScriptElement>('script[src]')];
  return scripts.find((s) => s.src === import.meta.url) ?? document.querySelector<HTMLScriptElement>('script[data-catalog]');
}

function optionsFrom(script: HTMLScriptElement | null): SiloOptions {
  const d = script?.dataset ?? {};
  const num = (v: string | undefined) => (v !== undefined && v !== '' && Number.isFinite(Number(v)) ? Number(v) : undefined);
  return {
    catalog: d.catalog ?? '/catalog.json',
    consent: d.consent === 'required' ? 'required' : 'implied',
    backends: d.backends ? (d.backends.split(',').map((b) => b.trim()) as BackendName[]) : undefined,
    maxEvents: num(d.maxEvents),
    maxAgeDays: num(d.maxAgeDays),
    trainSteps: num(d.trainSteps),
    dataLayer: d.dataLayer !== 'false',
    dbName: d.dbName,
    federatedServer: d.federated,
    onError: d.onError ? (reason, event) => (window as unknown as Record<string, (r: string, e: unknown) => void>)[d.onError!]?.(reason, event) : undefined,
  };
}

declare global {
  interface Window {
    silo: Silo;
  }
}

export const silo: Silo = window.silo ?? new Silo(optionsFrom(ownScript()));
window.silo = silo;
defineRecommendationsElement(() => silo);

// The privacy panel is its own chunk: pages that place <silo-privacy-panel> load it.
function loadPanelIfUsed(): void {
  if (document.querySelector('silo-privacy-panel')) void import('./privacy-panel.ts');
}
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', loadPanelIfUsed);
else loadPanelIfUsed();
export default silo;
