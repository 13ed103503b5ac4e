// A product page's schema.org Product JSON-LD, read as a GA4 view_item: many storefronts
// describe their product pages this way for search engines and push no dataLayer event.
// Pure parsing here (unit-tested in Node); silo.ts decides when to use it.
import type { Ga4Item } from './events.ts';

/** Where a Product's id may be; the first one present is the item_id (data-jsonld-id picks one). */
export const PRODUCT_ID_FIELDS = ['sku', 'productID', 'mpn', 'gtin13', 'gtin14', 'gtin12', 'gtin8', 'gtin'] as const;

export interface JsonLdViewItem {
  currency?: string;
  value?: number;
  items: [Ga4Item];
}

type Node = Record<string, unknown>;

const isNode = (v: unknown): v is Node => typeof v === 'object' && v !== null && !Array.isArray(v);

function hasType(node: Node, type: string): boolean {
  const t = node['@type'];
  const named = (x: unknown) => typeof x === 'string' && (x === type || x.endsWith(`/${type}`) || x.endsWith(`:${type}`));
  return Array.isArray(t) ? t.some(named) : named(t);
}

/** Products at the top level, in arrays, in @graph, or as a page's mainEntity. */
function collectProducts(value: unknown, out: Node[], depth = 0): void {
  if (depth > 4) return;
  if (Array.isArray(value)) {
    for (const v of value) collectProducts(v, out, depth + 1);
    return;
  }
  if (!isNode(value)) return;
  if (hasType(value, 'Product')) {
    out.push(value);
    return;
  }
  collectProducts(value['@graph'], out, depth + 1);
  collectProducts(value.mainEntity, out, depth + 1);
}

function text(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v !== 'string') return undefined;
  const s = v.trim();
  return s || undefined;
}

/** The first offer's price and currency (an AggregateOffer's lowPrice when it has no price). */
function offerOf(product: Node): { price?: number; currency?: string } {
  const offers = Array.isArray(product.offers) ? product.offers[0] : product.offers;
  if (!isNode(offers)) return {};
  const raw = text(offers.price) ?? text(offers.lowPrice);
  const price = raw !== undefined && /^\d+(?:\.\d+)?$/.test(raw) ? Number(raw) : undefined;
  return { price, currency: text(offers.priceCurrency) };
}

/** "Shoes > Running > Trail" (or "/"-separated) as GA4's item_category … item_category5. */
function categories(value: unknown): Partial<Ga4Item> {
  const path = text(Array.isArray(value) ? value[0] : value)?.split(/\s*[>/]\s*/).filter(Boolean) ?? [];
  const keys = ['item_category', 'item_category2', 'item_category3', 'item_category4', 'item_category5'] as const;
  const out: Partial<Ga4Item> = {};
  path.slice(0, 5).forEach((c, i) => (out[keys[i]] = c));
  return out;
}

/**
 * The view_item a page's JSON-LD describes, or null: null unless the page holds exactly one
 * Product (a listing with many is not a product page) and that product has an id. Unparsable
 * blocks are skipped, as a search engine would.
 */
export function viewItemFromJsonLd(blocks: readonly string[], idField?: string): JsonLdViewItem | null {
  const products: Node[] = [];
  for (const block of blocks) {
    try {
      collectProducts(JSON.parse(block), products);
    } catch {
      // not JSON: the page's problem, not a reason to record nothing else
    }
  }
  if (products.length !== 1) return null;
  const product = products[0];
  const fields = idField ? [idField] : PRODUCT_ID_FIELDS;
  const id = fields.map((f) => text(product[f])).find((v) => v !== undefined);
  if (!id) return null;
  const brand = isNode(product.brand) ? text(product.brand.name) : text(product.brand);
  const { price, currency } = offerOf(product);
  const item: Ga4Item = { item_id: id, ...categories(product.category) };
  const name = text(product.name);
  if (name) item.item_name = name;
  if (brand) item.item_brand = brand;
  if (price !== undefined) item.price = price;
  return { ...(currency ? { currency } : {}), ...(price !== undefined ? { value: price } : {}), items: [item] };
}

/** The text of every JSON-LD block in the document. */
export function jsonLdBlocks(doc: Document): string[] {
  return [...doc.querySelectorAll('script[type="application/ld+json"]')].map((s) => s.textContent ?? '');
}
