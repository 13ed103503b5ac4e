// Nearest neighbours over public item features: items that share the attributes (brand,
// categories) of the shopper's latest items. The catalog is public and the history never
// leaves the device, so this signal costs no privacy.

/** TF-IDF cosine similarity between items' attribute sets, summed over recent history items. */
export class AttributeNeighbours {
  private readonly itemsByAttr: Int32Array[];
  private readonly attrsByItem: Int32Array[];
  private readonly idf2: Float64Array;
  private readonly norm: Float64Array;

  constructor(
    itemAttrs: readonly (readonly string[])[],
    /** how many of the latest items vote, and how much less each older one weighs */
    readonly window = 5,
    readonly decay = 0.5,
  ) {
    const ids = new Map<string, number>();
    const lists: number[][] = [];
    this.attrsByItem = itemAttrs.map((attrs, item) => {
      const own = [...new Set(attrs)].map((a) => {
        let id = ids.get(a);
        if (id === undefined) ids.set(a, (id = lists.push([]) - 1));
        if (item > 0) lists[id].push(item);
        return id;
      });
      return Int32Array.from(item > 0 ? own : []);
    });
    this.itemsByAttr = lists.map((l) => Int32Array.from(l));
    const n = Math.max(1, itemAttrs.length - 1);
    this.idf2 = Float64Array.from(lists, (l) => Math.log(n / Math.max(1, l.length)) ** 2);
    this.norm = Float64Array.from(this.attrsByItem, (attrs) => Math.sqrt(attrs.reduce((s, a) => s + this.idf2[a], 0)));
  }

  /** True when at least one item has an attribute shared with another (else every score is 0). */
  get informative(): boolean {
    return this.itemsByAttr.some((l) => l.length > 1);
  }

  /** Writes each item's similarity to the recent `history` into `out` (length = number of items). */
  scores(history: readonly number[], out: Float32Array): void {
    out.fill(0);
    let weight = 1;
    for (let k = history.length - 1; k >= Math.max(0, history.length - this.window); k--, weight *= this.decay) {
      const h = history[k];
      if (!(this.norm[h] > 0)) continue;
      for (const a of this.attrsByItem[h]) {
        const c = (weight * this.idf2[a]) / this.norm[h];
        if (c === 0) continue;
        for (const j of this.itemsByAttr[a]) out[j] += c;
      }
    }
    for (let j = 1; j < out.length; j++) if (out[j] !== 0) out[j] /= this.norm[j];
  }
}
