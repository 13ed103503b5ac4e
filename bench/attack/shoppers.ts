// Who is attacked: shoppers over a catalog of item keys. The demo's public catalog with
// simulated shoppers who each viewed a few random items (what a storefront operator would
// try first), or Beauty users with their real most recent items.
import { readFileSync } from 'node:fs';

export interface ShopperSet {
  /** what the shoppers are, for reports */
  name: string;
  /** every item key the attacker can enumerate (the public catalog) */
  catalog: string[];
  /** each shopper's items in time order (most recent last) */
  shoppers: string[][];
}

/** Item ids of the storefront's public catalog (public/catalog.json). */
export function loadCatalogKeys(path = 'public/catalog.json'): string[] {
  const items = JSON.parse(readFileSync(path, 'utf8')) as { item_id: string }[];
  return items.map((item) => item.item_id);
}

/** `count` shoppers, each having viewed `itemsEach` distinct random catalog items. */
export function simulatedShoppers(catalog: readonly string[], count: number, itemsEach: number, random: () => number): string[][] {
  if (itemsEach > catalog.length) throw new Error(`cannot draw ${itemsEach} distinct items from ${catalog.length}`);
  return Array.from({ length: count }, () => {
    const picked = new Set<string>();
    while (picked.size < itemsEach) picked.add(catalog[Math.floor(random() * catalog.length)]);
    return [...picked];
  });
}

export function demoShoppers(count: number, itemsEach: number, random: () => number, catalogPath?: string): ShopperSet {
  const catalog = loadCatalogKeys(catalogPath);
  return { name: `demo catalog (${catalog.length} items), ${itemsEach} random views each`, catalog, shoppers: simulatedShoppers(catalog, count, itemsEach, random) };
}

/**
 * Beauty (`user item item ...` per line, items in time order): the catalog is every item id,
 * each of `count` random users keeps their `lastItems` most recent interactions.
 */
export function beautyShoppers(path: string, count: number, lastItems: number, random: () => number): ShopperSet {
  const catalogSet = new Set<string>();
  const users: string[][] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const parts = line.trim().split(/\s+/);
    if (parts.length < 2) continue;
    const items = parts.slice(1);
    for (const item of items) catalogSet.add(item);
    users.push(items);
  }
  for (let i = users.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [users[i], users[j]] = [users[j], users[i]];
  }
  const shoppers = users.slice(0, count).map((items) => items.slice(-lastItems));
  return { name: `Beauty (${catalogSet.size} items), real last ${lastItems} items`, catalog: [...catalogSet], shoppers };
}

/** The distinct items of a shopper that a round can carry: its `maxItems` most recent. */
export function distinctRecent(items: readonly string[], maxItems: number): Set<string> {
  const out = new Set<string>();
  for (let i = items.length - 1; i >= 0 && out.size < maxItems; i--) out.add(items[i]);
  return out;
}
