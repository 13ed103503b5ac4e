// The one-script-tag embed:
//   <script type="module" src="/silo.js" data-catalog="/catalog.json"></script>
// Reads its settings from data-* attributes, starts tracking and the worker, defines
// <silo-recommendations>, reads a product page's JSON-LD, and exposes the API on
// window.silo and as ESM exports.
import { Silo, type SiloOptions } from './api.ts';
import { jsonLdBlocks, viewItemFromJsonLd } from './jsonld.ts';
import { defineRecommendationsElement } from './widget.ts';
import type { BackendName } from '../workers/backend.ts';

export { Silo } from './api.ts';
export type { SiloOptions, SiloStatus, MemoryState, Recommendation, RecommendRequest, RerankOptions, StorageState, WorkerStatus, TrackResult } from './api.ts';
export type { SiloEvent, EventName, EventSource, Ga4Item, EventParams } from './events.ts';
export type { CatalogItem } from './catalog.ts';
export { TRUSTED_TYPES_POLICY } from './worker-start.ts';

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
    // no attribute (or "off"): no aggregator, and no request to one
    federatedServer: d.federated && d.federated !== 'off' ? d.federated : undefined,
    helperOrigin: d.helper || undefined,
    onError: d.onError ? (reason, event) => (window as unknown as Record<string, (r: string, e: unknown) => void>)[d.onError!]?.(reason, event) : undefined,
  };
}

/** Time after the load event for the page's own tags to push their view_item first. */
const JSONLD_GRACE_MS = 500;

/**
 * A product page that describes its product in schema.org JSON-LD and reports no view_item
 * of its own (dataLayer or track()) by shortly after load gets one from the JSON-LD.
 */
function captureJsonLd(silo: Silo, script: HTMLScriptElement | null): void {
  const d = script?.dataset ?? {};
  if (d.jsonld === 'off') return;
  const check = () =>
    setTimeout(() => {
      if (silo.trackedOnThisPage('view_item')) return;
      const event = viewItemFromJsonLd(jsonLdBlocks(document), d.jsonldId || undefined);
      if (event) silo.track('view_item', { ...event }, 'jsonld');
    }, JSONLD_GRACE_MS);
  if (document.readyState === 'complete') check();
  else window.addEventListener('load', check, { once: true });
}

declare global {
  interface Window {
    silo: Silo;
  }
}

const script = ownScript();
export const silo: Silo = window.silo ?? new Silo(optionsFrom(script));
window.silo = silo;
defineRecommendationsElement(() => silo);
captureJsonLd(silo, script);

// The privacy panel is its own chunk: pages that place <silo-privacy-panel> load it.
function loadPanelIfUsed(): void {
  if (document.querySelector('silo-privacy-panel')) void import('./privacy-panel.ts');
}
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', loadPanelIfUsed);
else loadPanelIfUsed();
export default silo;
