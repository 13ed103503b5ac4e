// Pages that embed Silo the way a storefront does (the one script tag), for tests that serve
// them on the demo's origin: the Chromium tests through a route, the Firefox tests from a
// server of their own.

/** The IndexedDB database the embed pages name (data-db-name), apart from the demo's. */
export const EMBED_DB = 'silo-test';

/**
 * A page with the tag pinned to WASM. `before` runs in an inline script ahead of the tag
 * (a dataLayer the storefront filled early); `attrs` are more data-* settings.
 */
export function embed(attrs = '', before = '', body = '<silo-recommendations k="6"></silo-recommendations>'): string {
  return `<!doctype html><html><head><script>window.dataLayer=[];${before}</script>
<script type="module" src="/silo.js" data-catalog="/catalog.json" data-db-name="${EMBED_DB}" data-backends="wasm" ${attrs}></script></head>
<body>${body}</body></html>`;
}

export interface StoredEvent {
  name: string;
  source: string;
  items: string[];
}

/** The fields of an events-store row the tests read. */
export interface EventRow {
  name: string;
  source: string;
  params: { items?: { item_id: string }[] };
}

/** An events-store row reduced to what the tests compare: its name, source and item ids. */
export function eventSummary(row: EventRow): StoredEvent {
  return { name: row.name, source: row.source, items: (row.params.items ?? []).map((i) => i.item_id) };
}

/** A storefront's strict policy: no inline code or style, no eval, Trusted Types enforced. */
export function strictCsp(scriptOrigins = '', trustedTypes = 'silo'): string {
  return [
    "default-src 'self'",
    `script-src 'self' ${scriptOrigins} 'wasm-unsafe-eval'`,
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self' ${scriptOrigins}`,
    // a module worker's imports are fetched as "worker": the CDN must be in worker-src too
    `worker-src 'self' blob: ${scriptOrigins}`,
    "object-src 'none'",
    "base-uri 'none'",
    "require-trusted-types-for 'script'",
    `trusted-types ${trustedTypes}`,
  ].join('; ');
}
