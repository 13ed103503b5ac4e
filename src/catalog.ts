// The storefront's public product list, as served at `data-catalog`: GA4 item fields plus
// what a widget needs to render a product. Nothing here is about the shopper.
import type { Ga4Item } from './events.ts';

export interface CatalogItem extends Ga4Item {
  item_name: string;
  price: number;
  url?: string;
  image?: string;
  in_stock?: boolean;
  currency?: string;
}

/** Checks and normalises a fetched catalog; throws with a reason the embed reports. */
export function parseCatalog(data: unknown): CatalogItem[] {
  if (!Array.isArray(data)) throw new Error('catalog must be a JSON array of items');
  const out: CatalogItem[] = [];
  const seen = new Set<string>();
  data.forEach((raw, i) => {
    if (typeof raw !== 'object' || raw === null) throw new Error(`catalog[${i}] is not an object`);
    const r = raw as Record<string, unknown>;
    const id = typeof r.item_id === 'number' ? String(r.item_id) : r.item_id;
    if (typeof id !== 'string' || !id) throw new Error(`catalog[${i}] has no item_id`);
    if (seen.has(id)) return; // first listing wins
    seen.add(id);
    const price = Number(r.price);
    out.push({ ...(r as object), item_id: id, item_name: String(r.item_name ?? id), price: Number.isFinite(price) ? price : 0 } as CatalogItem);
  });
  return out;
}

/** The category path of an item, top level first. */
export function categoryPath(item: Ga4Item): string[] {
  return [item.item_category, item.item_category2, item.item_category3, item.item_category4, item.item_category5].filter(
    (c): c is string => typeof c === 'string' && c.length > 0,
  );
}
