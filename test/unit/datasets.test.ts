import { describe, expect, it } from 'vitest';
import { detectFormat, parseDataset, parseCsvEvents, applyAttributesJson, applyItemMetadataTsv } from '../../bench/datasets.ts';

// tiny inline fixtures in each format: no real dataset is ever read by the tests
const sequencesText = '1 10 11 12\n2 11 13\n';
const pairsText = '1 10\n1 11\n2 11\n1 12\n2 13\n';
const csvText = 'user,item,timestamp,event_type\nu1,b,20,purchase\nu1,a,10,view\nu2,a,5,purchase\n';

describe('dataset loaders', () => {
  it('detects each format', () => {
    expect(detectFormat(sequencesText)).toBe('sequences');
    expect(detectFormat(pairsText)).toBe('pairs');
    expect(detectFormat(csvText)).toBe('csv');
  });

  it('reads one user per line and renumbers items 1..N in first-seen order', () => {
    const d = parseDataset(sequencesText);
    expect(d.itemKeys).toEqual(['', '10', '11', '12', '13']);
    expect(d.userKeys).toEqual(['1', '2']);
    expect(d.sequences).toEqual([[1, 2, 3], [2, 4]]);
  });

  it('groups user-item pairs by user, keeping file order', () => {
    const d = parseDataset(pairsText);
    expect(d.userKeys).toEqual(['1', '2']);
    expect(d.sequences.map((s) => s.map((i) => d.itemKeys[i]))).toEqual([['10', '11', '12'], ['11', '13']]);
  });

  it('orders CSV events by timestamp and filters event types', () => {
    const d = parseDataset(csvText);
    expect(d.sequences.map((s) => s.map((i) => d.itemKeys[i]))).toEqual([['a', 'b'], ['a']]);
    const purchases = parseCsvEvents(csvText, 'x', ['purchase']);
    expect(purchases.sequences.map((s) => s.map((i) => purchases.itemKeys[i]))).toEqual([['b'], ['a']]);
  });

  it('joins attributes JSON and metadata TSV onto items', () => {
    const d = parseDataset(sequencesText);
    applyAttributesJson(d, '{"11": [3, 4], "99": [1]}');
    expect(d.itemAttrs[2]).toEqual(['attr:3', 'attr:4']);
    expect(d.itemAttrs[1]).toEqual([]);
    applyItemMetadataTsv(d, 'sas_item_id\tml1m_movie_id\ttitle\tgenres\n12\t7\tSome Film (1999)\tAction|Comedy\n');
    expect(d.itemAttrs[3]).toEqual(['genres:Action', 'genres:Comedy']);
  });
});
