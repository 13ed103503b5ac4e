// Loaders for the interaction-log formats in ../shared/datasets (see its README).
// Every loader returns the same shape: users' item sequences in time order, with items
// renumbered 1..N in first-seen order (0 stays the padding index the model uses), plus the
// original item keys so attributes and metadata can be joined back on.
//
// Datasets are research-only: they are read from a path given on the command line and are
// never copied into this repository.
import { readFileSync } from 'node:fs';

export type DatasetFormat = 'sequences' | 'pairs' | 'csv';

export interface Dataset {
  name: string;
  /** itemKeys[i] is the original id of item index i; itemKeys[0] = '' is padding */
  itemKeys: string[];
  userKeys: string[];
  /** one sequence of item indices (1..N) per user, oldest first */
  sequences: number[][];
  /** content features per item index (empty when none were given) */
  itemAttrs: string[][];
}

/** Assigns item indices 1..N in first-seen order. */
class ItemIndexer {
  readonly keys: string[] = [''];
  private readonly byKey = new Map<string, number>();
  indexOf(key: string): number {
    let i = this.byKey.get(key);
    if (i === undefined) {
      i = this.keys.length;
      this.byKey.set(key, i);
      this.keys.push(key);
    }
    return i;
  }
  lookup(key: string): number | undefined {
    return this.byKey.get(key);
  }
}

function lines(text: string): string[] {
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0 && !l.startsWith('#'));
}

/**
 * Guesses the format from the first lines: a comma means a CSV event log; lines of exactly
 * two whitespace-separated fields with users repeating on consecutive lines mean
 * `user item` pairs (ML-1M); otherwise one user per line (Beauty).
 */
export function detectFormat(text: string): DatasetFormat {
  const head = lines(text.slice(0, 64 * 1024)).slice(0, 200);
  if (head.length === 0) throw new Error('empty dataset');
  if (head[0].includes(',')) return 'csv';
  const fields = head.map((l) => l.split(/\s+/));
  const allPairs = fields.every((f) => f.length === 2);
  const repeatsUser = fields.some((f, i) => i > 0 && f[0] === fields[i - 1][0]);
  return allPairs && repeatsUser ? 'pairs' : 'sequences';
}

/** `user i1 i2 ...` per line (Beauty). */
export function parseSequences(text: string, name = 'sequences'): Dataset {
  const items = new ItemIndexer();
  const userKeys: string[] = [];
  const sequences: number[][] = [];
  for (const line of lines(text)) {
    const [user, ...rest] = line.split(/\s+/);
    userKeys.push(user);
    sequences.push(rest.map((k) => items.indexOf(k)));
  }
  return { name, itemKeys: items.keys, userKeys, sequences, itemAttrs: items.keys.map(() => []) };
}

/** `user item` per line, each user's lines in time order (ML-1M). Users need not be contiguous. */
export function parsePairs(text: string, name = 'pairs'): Dataset {
  const items = new ItemIndexer();
  const byUser = new Map<string, number[]>();
  for (const line of lines(text)) {
    const [user, item] = line.split(/\s+/);
    if (item === undefined) throw new Error(`expected "user item", got "${line}"`);
    let seq = byUser.get(user);
    if (!seq) byUser.set(user, (seq = []));
    seq.push(items.indexOf(item));
  }
  return { name, itemKeys: items.keys, userKeys: [...byUser.keys()], sequences: [...byUser.values()], itemAttrs: items.keys.map(() => []) };
}

/**
 * Generic event log `user,item,timestamp[,event_type]` with an optional header row.
 * Events are ordered by timestamp per user (stable, so ties keep file order). When
 * `eventTypes` is given, only those events count (e.g. purchases and add-to-carts).
 */
export function parseCsvEvents(text: string, name = 'events', eventTypes?: readonly string[]): Dataset {
  const rows = lines(text).map((l) => l.split(',').map((f) => f.trim()));
  if (rows.length > 0 && Number.isNaN(Number(rows[0][2]))) rows.shift(); // header: non-numeric timestamp
  const keep = eventTypes ? new Set(eventTypes) : undefined;
  const byUser = new Map<string, { item: string; time: number; order: number }[]>();
  rows.forEach(([user, item, time, type], order) => {
    if (keep && !keep.has(type ?? '')) return;
    const t = Number(time);
    if (!user || !item || Number.isNaN(t)) throw new Error(`bad event row ${order + 1}: user,item,timestamp expected`);
    let events = byUser.get(user);
    if (!events) byUser.set(user, (events = []));
    events.push({ item, time: t, order });
  });
  const items = new ItemIndexer();
  const userKeys: string[] = [];
  const sequences: number[][] = [];
  for (const [user, events] of byUser) {
    events.sort((a, b) => a.time - b.time || a.order - b.order);
    userKeys.push(user);
    sequences.push(events.map((e) => items.indexOf(e.item)));
  }
  return { name, itemKeys: items.keys, userKeys, sequences, itemAttrs: items.keys.map(() => []) };
}

export function parseDataset(text: string, format: DatasetFormat | 'auto' = 'auto', name?: string): Dataset {
  const f = format === 'auto' ? detectFormat(text) : format;
  if (f === 'sequences') return parseSequences(text, name);
  if (f === 'pairs') return parsePairs(text, name);
  return parseCsvEvents(text, name);
}

/** Joins `{ "item": [attribute ids] }` onto the dataset's items as `attr:<id>` features. */
export function applyAttributesJson(data: Dataset, json: string): void {
  const parsed = JSON.parse(json) as Record<string, unknown[]>;
  const index = new Map(data.itemKeys.map((k, i) => [k, i]));
  for (const [key, attrs] of Object.entries(parsed)) {
    const i = index.get(key);
    if (i === undefined || i === 0 || !Array.isArray(attrs)) continue;
    data.itemAttrs[i] = attrs.map((a) => `attr:${String(a)}`);
  }
}

/**
 * Joins an item metadata TSV (header row; first column = item id as in the log). Columns
 * named `genres`/`category`/`categories` (split on `|`) and `brand` become features;
 * titles are not used.
 */
export function applyItemMetadataTsv(data: Dataset, tsv: string): void {
  const [header, ...rows] = lines(tsv).map((l) => l.split('\t'));
  if (!header) return;
  const index = new Map(data.itemKeys.map((k, i) => [k, i]));
  const featureColumns = header
    .map((h, c) => ({ name: h.trim().toLowerCase(), c }))
    .filter(({ name }) => ['genres', 'genre', 'category', 'categories', 'brand'].includes(name));
  for (const row of rows) {
    const i = index.get(row[0].trim());
    if (i === undefined || i === 0) continue;
    const attrs: string[] = [];
    for (const { name, c } of featureColumns) {
      for (const v of (row[c] ?? '').split('|')) if (v.trim()) attrs.push(`${name}:${v.trim()}`);
    }
    data.itemAttrs[i] = attrs;
  }
}

export interface LoadOptions {
  format?: DatasetFormat | 'auto';
  attributesPath?: string;
  metadataPath?: string;
}

export function loadDataset(path: string, options: LoadOptions = {}): Dataset {
  const name = path.split('/').pop() ?? path;
  const data = parseDataset(readFileSync(path, 'utf8'), options.format ?? 'auto', name);
  if (options.attributesPath) applyAttributesJson(data, readFileSync(options.attributesPath, 'utf8'));
  if (options.metadataPath) applyItemMetadataTsv(data, readFileSync(options.metadataPath, 'utf8'));
  return data;
}

export function interactionCount(data: Dataset): number {
  return data.sequences.reduce((n, s) => n + s.length, 0);
}
