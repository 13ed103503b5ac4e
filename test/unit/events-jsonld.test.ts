import { describe, expect, it } from 'vitest';
import { validateEvent } from '../../src/events.ts';
import { viewItemFromJsonLd } from '../../src/jsonld.ts';

const product = {
  '@context': 'https://schema.org',
  '@type': 'Product',
  name: 'Trail Runner 2',
  sku: 'SHO-0042',
  gtin13: '4006381333931',
  brand: { '@type': 'Brand', name: 'Stride' },
  category: 'Shoes > Running > Trail',
  offers: { '@type': 'Offer', price: '89.90', priceCurrency: 'EUR', availability: 'https://schema.org/InStock' },
};

describe('schema.org Product JSON-LD as a view_item', () => {
  it('maps a product page to a GA4 view_item that validates', () => {
    const event = viewItemFromJsonLd([JSON.stringify(product)]);
    expect(event).toEqual({
      currency: 'EUR',
      value: 89.9,
      items: [{ item_id: 'SHO-0042', item_name: 'Trail Runner 2', item_brand: 'Stride', item_category: 'Shoes', item_category2: 'Running', item_category3: 'Trail', price: 89.9 }],
    });
    expect(validateEvent('view_item', event).ok).toBe(true);
  });

  it('finds the product in @graph or as mainEntity, beside other blocks and broken JSON', () => {
    const graph = { '@context': 'https://schema.org', '@graph': [{ '@type': 'BreadcrumbList' }, { ...product, '@type': ['Product', 'Thing'] }] };
    expect(viewItemFromJsonLd(['{not json', JSON.stringify({ '@type': 'Organization', name: 'Shop' }), JSON.stringify(graph)])?.items[0].item_id).toBe('SHO-0042');
    const page = { '@type': 'ItemPage', mainEntity: product };
    expect(viewItemFromJsonLd([JSON.stringify(page)])?.items[0].item_id).toBe('SHO-0042');
  });

  it('takes the id from the named field, or the first present one', () => {
    expect(viewItemFromJsonLd([JSON.stringify(product)], 'gtin13')?.items[0].item_id).toBe('4006381333931');
    const { sku: _sku, ...noSku } = product;
    expect(viewItemFromJsonLd([JSON.stringify({ ...noSku, productID: 77 })])?.items[0].item_id).toBe('77');
    expect(viewItemFromJsonLd([JSON.stringify({ ...noSku, gtin13: undefined })])).toBeNull();
  });

  it('reads an AggregateOffer\'s lowPrice, a string brand, and no offer at all', () => {
    const aggregate = { ...product, brand: 'Stride', offers: [{ '@type': 'AggregateOffer', lowPrice: 70, highPrice: 90, priceCurrency: 'USD' }] };
    expect(viewItemFromJsonLd([JSON.stringify(aggregate)])).toMatchObject({ currency: 'USD', value: 70, items: [{ item_brand: 'Stride', price: 70 }] });
    const { offers: _offers, ...noOffer } = product;
    expect(viewItemFromJsonLd([JSON.stringify(noOffer)])).toEqual({ items: [expect.not.objectContaining({ price: expect.anything() })] });
  });

  it('records nothing for a listing with several products, or a page with none', () => {
    expect(viewItemFromJsonLd([JSON.stringify([product, { ...product, sku: 'SHO-0043' }])])).toBeNull();
    expect(viewItemFromJsonLd([JSON.stringify({ '@type': 'WebPage' })])).toBeNull();
    expect(viewItemFromJsonLd([])).toBeNull();
  });
});
