// Attacks on one aggregator's additive share of a shopper's bucket vector. Each takes the
// share's bucket entries (field elements) and names catalog items; if the share is uniform
// and independent of the vector, every one of them does exactly as well as a random guess.
import { distinctRecent } from './shoppers.ts';
import { AttackScore } from './stats.ts';

export interface ShareAttack {
  name: string;
  /** what it tries, for the report */
  idea: string;
  /** the items it names, from the share's first `buckets` entries */
  nameItems(share: readonly bigint[], ctx: ShareAttackContext): string[];
}

export interface ShareAttackContext {
  modulus: bigint;
  buckets: number;
  /** catalog items by bucket (public) */
  index: Map<number, string[]>;
  /** how many items a ranking attack names (the shopper's item count, like a top-k guess) */
  topK: number;
  /** per-bucket rate at which the threshold attack flags, to compare with chance */
  flagRate: number;
}

function centered(v: bigint, p: bigint): bigint {
  return v > p / 2n ? v - p : v;
}

function abs(v: bigint): bigint {
  return v < 0n ? -v : v;
}

function itemsOfBuckets(flagged: (b: number) => boolean, ctx: ShareAttackContext): string[] {
  const out: string[] = [];
  for (const [b, items] of ctx.index) if (flagged(b)) out.push(...items);
  return out;
}

export const SHARE_ATTACKS: ShareAttack[] = [
  {
    name: 'share ∈ {0, 1, −1}',
    idea: 'a bucket whose share is already a valid count, as if the other share were 0',
    nameItems: (s, ctx) => itemsOfBuckets((b) => s[b] === 0n || s[b] === 1n || s[b] === ctx.modulus - 1n, ctx),
  },
  {
    name: 'small centred share',
    idea: 'buckets whose centred share is in the smallest fraction flagRate of the field',
    nameItems: (s, ctx) => {
      const bound = BigInt(Math.floor(ctx.flagRate * 2 ** 52)) * (ctx.modulus / 2n ** 53n);
      return itemsOfBuckets((b) => abs(centered(s[b], ctx.modulus)) < bound, ctx);
    },
  },
  {
    name: 'rank by centred share size',
    idea: 'the topK catalog items whose bucket shares are closest to 0',
    nameItems: (s, ctx) => {
      const ranked: { item: string; v: bigint }[] = [];
      for (const [b, items] of ctx.index) for (const item of items) ranked.push({ item, v: abs(centered(s[b], ctx.modulus)) });
      ranked.sort((a, c) => (a.v < c.v ? -1 : a.v > c.v ? 1 : 0));
      return ranked.slice(0, ctx.topK).map((r) => r.item);
    },
  },
  {
    name: 'odd share',
    idea: 'buckets whose share is odd (parity of x = share + other mod an odd p)',
    nameItems: (s, ctx) => itemsOfBuckets((b) => (s[b] & 1n) === 1n, ctx),
  },
];

/** Scores of each share attack over many shoppers' shares. */
export class ShareAttackScores {
  readonly scores = new Map<string, AttackScore>();

  constructor(readonly attacks: readonly ShareAttack[] = SHARE_ATTACKS) {
    for (const a of attacks) this.scores.set(a.name, new AttackScore());
  }

  add(share: readonly bigint[], items: readonly string[], maxItems: number, ctx: Omit<ShareAttackContext, 'topK'>, catalogSize: number): void {
    const actual = distinctRecent(items, maxItems);
    for (const attack of this.attacks) {
      this.scores.get(attack.name)!.add(attack.nameItems(share, { ...ctx, topK: actual.size }), actual, catalogSize);
    }
  }

  /** an extra attack scored outside the share list (e.g. one that needs the public share) */
  extra(name: string): AttackScore {
    let s = this.scores.get(name);
    if (!s) this.scores.set(name, (s = new AttackScore()));
    return s;
  }
}
