// Item representation that does not grow with the catalog.
//
// Every item becomes a fixed-width row of feature ids into one embedding table of
// `vocabSize(spec)` rows: `idHashes` hashed copies of its id (several hash functions, so
// two items rarely collide on all of them) plus up to `maxAttrs` hashed content features
// (category path, brand, price bucket, or a dataset's attribute ids). Row 0 is padding.
// The model's item embedding is the mean of the embeddings of an item's feature ids.

export interface FeatureSpec {
  /** 'hash': ids hashed into `idBuckets`; 'exact': one row per item index (baseline only). */
  idMode: 'hash' | 'exact';
  idBuckets: number;
  idHashes: number;
  attrBuckets: number;
  maxAttrs: number;
  /**
   * How an item's feature embeddings are combined. 'mean' (default): the mean over all its
   * slots, so an item with 6 attributes is 3/4 attributes and 1/4 id. 'split': mean of the
   * id slots plus mean of the attribute slots, so the id keeps half the weight and items
   * of one category stay distinguishable.
   */
  pooling?: 'mean' | 'split';
}

export const DEFAULT_FEATURES: FeatureSpec = {
  idMode: 'hash',
  idBuckets: 16384,
  idHashes: 2,
  attrBuckets: 4096,
  maxAttrs: 6,
};

/** What the model needs to know about one item: a stable key and its content features. */
export interface ItemDescriptor {
  key: string;
  attrs: readonly string[];
}

/** FNV-1a, 32 bit, with a seed mixed in: fast, stable across browsers and Node. */
export function hash32(text: string, seed = 0): number {
  let h = (0x811c9dc5 ^ Math.imul(seed + 1, 0x9e3779b1)) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // final avalanche so nearby keys spread over the buckets
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  return h >>> 0;
}

export function featureWidth(spec: FeatureSpec): number {
  return spec.idHashes + spec.maxAttrs;
}

export function vocabSize(spec: FeatureSpec): number {
  return 1 + spec.idBuckets + spec.attrBuckets;
}

/**
 * Pooling weight of every slot of `rows` (row-major, `featureWidth(spec)` wide): what the
 * item embedding multiplies each feature embedding by (0 for empty slots).
 */
export function slotWeights(spec: FeatureSpec, rows: ArrayLike<number>, width = featureWidth(spec)): Float32Array {
  const weights = new Float32Array(rows.length);
  const n = rows.length / width;
  const groups: [number, number][] = spec.pooling === 'split' ? [[0, spec.idHashes], [spec.idHashes, width]] : [[0, width]];
  for (let r = 0; r < n; r++) {
    for (const [from, to] of groups) {
      let count = 0;
      for (let f = from; f < to; f++) if (rows[r * width + f] > 0) count++;
      for (let f = from; f < to; f++) if (rows[r * width + f] > 0) weights[r * width + f] = 1 / count;
    }
  }
  return weights;
}

/** Writes one item's feature ids into `out` at `offset` (width `featureWidth(spec)`). */
export function writeFeatureRow(
  spec: FeatureSpec,
  item: ItemDescriptor,
  index: number,
  out: Int32Array,
  offset: number,
): void {
  for (let h = 0; h < spec.idHashes; h++) {
    if (spec.idMode === 'exact') {
      if (index > spec.idBuckets) throw new Error(`exact ids need idBuckets >= ${index}`);
      out[offset + h] = h === 0 ? index : 0;
    } else {
      out[offset + h] = 1 + (hash32(item.key, h) % spec.idBuckets);
    }
  }
  const attrBase = 1 + spec.idBuckets;
  const n = Math.min(item.attrs.length, spec.maxAttrs);
  for (let a = 0; a < spec.maxAttrs; a++) {
    out[offset + spec.idHashes + a] =
      a < n && spec.attrBuckets > 0 ? attrBase + (hash32(item.attrs[a], 97) % spec.attrBuckets) : 0;
  }
}

/**
 * The feature rows of a whole catalog. Index 0 is the padding item; item i of `items`
 * has index i + 1, which is what sequences hold.
 */
export class ItemTable {
  readonly rows: Int32Array;
  readonly width: number;
  /** number of rows including the padding row */
  readonly size: number;
  readonly keys: string[];
  private readonly indexByKey = new Map<string, number>();

  constructor(
    readonly spec: FeatureSpec,
    items: readonly ItemDescriptor[],
  ) {
    this.width = featureWidth(spec);
    this.size = items.length + 1;
    this.rows = new Int32Array(this.size * this.width);
    this.keys = [''];
    items.forEach((item, i) => {
      writeFeatureRow(spec, item, i + 1, this.rows, (i + 1) * this.width);
      this.keys.push(item.key);
      this.indexByKey.set(item.key, i + 1);
    });
  }

  indexOf(key: string): number | undefined {
    return this.indexByKey.get(key);
  }
}

/** Half-octave price buckets: 0-1, 1-1.4, 1.4-2, 2-2.8 ... so "similar price" is one bucket. */
export function priceBucket(price: number): number {
  return price > 0 ? Math.max(0, Math.floor(Math.log2(price + 1) * 2)) : 0;
}

/**
 * Content features of a storefront item: each level of its category path (as a prefix, so
 * "Shoes>Running" differs from "Kids>Running"), its brand and its price bucket.
 */
export function describeCatalogItem(item: {
  item_id: string;
  item_brand?: string;
  item_category?: string;
  item_category2?: string;
  item_category3?: string;
  price?: number;
}): ItemDescriptor {
  const attrs: string[] = [];
  let path = '';
  for (const c of [item.item_category, item.item_category2, item.item_category3]) {
    if (!c) break;
    path += '>' + c;
    attrs.push('cat' + path);
  }
  if (item.item_brand) attrs.push('brand:' + item.item_brand);
  if (typeof item.price === 'number') attrs.push('price:' + priceBucket(item.price));
  return { key: item.item_id, attrs };
}
