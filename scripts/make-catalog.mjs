// Generates the demo storefront's synthetic catalog (public/catalog.json): 1,200 products
// in 8 departments, 3 sub-categories each, 5 brands per department, with log-normal prices.
// Deterministic (seeded), so the demo and the tests see the same products.
import { writeFileSync } from 'node:fs';

const DEPARTMENTS = {
  Shoes: { subs: ['Running', 'Hiking', 'Casual'], brands: ['Stride', 'Peakline', 'Urbano', 'Kiko', 'Fleetfoot'], nouns: ['Sneaker', 'Trail Shoe', 'Loafer', 'Boot', 'Runner'], median: 90 },
  Kitchen: { subs: ['Cookware', 'Knives', 'Coffee'], brands: ['Ferro', 'Cucina', 'Brewlab', 'Sharpco', 'Oakhouse'], nouns: ['Skillet', 'Chef Knife', 'Espresso Maker', 'Saucepan', 'Grinder'], median: 60 },
  Books: { subs: ['Fiction', 'Cooking', 'Science'], brands: ['Lantern Press', 'Northwind', 'Paperfox', 'Atlas House', 'Quill'], nouns: ['Novel', 'Cookbook', 'Field Guide', 'Anthology', 'Primer'], median: 18 },
  Electronics: { subs: ['Audio', 'Phones', 'Cameras'], brands: ['Voltra', 'Sonique', 'Pixelon', 'Nexa', 'Ampere'], nouns: ['Headphones', 'Speaker', 'Phone', 'Camera', 'Earbuds'], median: 180 },
  Garden: { subs: ['Tools', 'Plants', 'Outdoor Furniture'], brands: ['Greenleaf', 'Terra', 'Bloomwell', 'Rootstock', 'Sunpatch'], nouns: ['Trowel', 'Planter', 'Bench', 'Pruner', 'Hose'], median: 40 },
  Toys: { subs: ['Puzzles', 'Building', 'Outdoor Play'], brands: ['Brightbox', 'Tinker', 'Jumbo', 'Playwise', 'Kitetail'], nouns: ['Puzzle', 'Block Set', 'Kite', 'Robot Kit', 'Ball'], median: 25 },
  Beauty: { subs: ['Skincare', 'Fragrance', 'Hair'], brands: ['Lumiere', 'Petal', 'Aqua Vera', 'Nord', 'Velvet'], nouns: ['Serum', 'Eau de Parfum', 'Shampoo', 'Moisturiser', 'Cleanser'], median: 30 },
  Sports: { subs: ['Yoga', 'Cycling', 'Fitness'], brands: ['Flexa', 'Cadence', 'Ironpeak', 'Zen Mat', 'Velo'], nouns: ['Mat', 'Helmet', 'Dumbbell', 'Jersey', 'Bottle'], median: 45 },
};
const ADJECTIVES = ['Classic', 'Pro', 'Lite', 'Ultra', 'Everyday', 'Compact', 'Deluxe', 'Eco', 'Nova', 'Prime', 'Aero', 'Studio'];

let seed = 20261123;
const random = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
const gaussian = () => Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());

const items = [];
const perDepartment = 150;
for (const [dept, spec] of Object.entries(DEPARTMENTS)) {
  for (let i = 0; i < perDepartment; i++) {
    const sub = spec.subs[i % spec.subs.length];
    const brand = spec.brands[Math.floor(random() * spec.brands.length)];
    const noun = spec.nouns[Math.floor(random() * spec.nouns.length)];
    const adjective = ADJECTIVES[Math.floor(random() * ADJECTIVES.length)];
    const price = Math.max(2, Math.round(spec.median * Math.exp(0.6 * gaussian()) * 100) / 100);
    const id = `${dept.slice(0, 3).toUpperCase()}-${String(i + 1).padStart(4, '0')}`;
    items.push({
      item_id: id,
      item_name: `${brand} ${adjective} ${noun}`,
      item_brand: brand,
      item_category: dept,
      item_category2: sub,
      price,
      currency: 'USD',
      url: `/#/product/${id}`,
      image: `/img/${dept.toLowerCase()}.svg`,
      in_stock: random() > 0.05,
    });
  }
}
// interleave departments so the storefront's default order is mixed
items.sort((a, b) => (a.item_id.slice(4) + a.item_id).localeCompare(b.item_id.slice(4) + b.item_id));
writeFileSync(new URL('../public/catalog.json', import.meta.url), JSON.stringify(items));

const COLORS = { Shoes: '#e07a5f', Kitchen: '#3d405b', Books: '#81b29a', Electronics: '#457b9d', Garden: '#6a994e', Toys: '#f2cc8f', Beauty: '#c9a0dc', Sports: '#e63946' };
for (const [dept, color] of Object.entries(COLORS)) {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 120 120"><rect width="120" height="120" fill="${color}"/><text x="60" y="66" font-family="sans-serif" font-size="16" fill="#fff" text-anchor="middle">${dept}</text></svg>`;
  writeFileSync(new URL(`../public/img/${dept.toLowerCase()}.svg`, import.meta.url), svg);
}
console.log(`wrote ${items.length} products`);
