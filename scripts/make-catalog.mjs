// Generates the demo storefront's synthetic catalog (public/catalog.json): 1,200 products
// in 8 departments, 3 sub-categories each (with product nouns of their own), 5 brands per
// department, with log-normal prices.
// Deterministic (seeded), so the demo and the tests see the same products.
import { writeFileSync } from 'node:fs';

const DEPARTMENTS = {
  Shoes: { subs: ['Running', 'Hiking', 'Casual'], brands: ['Stride', 'Peakline', 'Urbano', 'Kiko', 'Fleetfoot'], nouns: { Running: ['Runner', 'Racing Flat', 'Trainer'], Hiking: ['Trail Shoe', 'Hiking Boot', 'Approach Shoe'], Casual: ['Sneaker', 'Loafer', 'Slip-on'] }, median: 90 },
  Kitchen: { subs: ['Cookware', 'Knives', 'Coffee'], brands: ['Ferro', 'Cucina', 'Brewlab', 'Sharpco', 'Oakhouse'], nouns: { Cookware: ['Skillet', 'Saucepan', 'Dutch Oven'], Knives: ['Chef Knife', 'Paring Knife', 'Santoku'], Coffee: ['Espresso Maker', 'Grinder', 'Pour-over Set'] }, median: 60 },
  Books: { subs: ['Fiction', 'Cooking', 'Science'], brands: ['Lantern Press', 'Northwind', 'Paperfox', 'Atlas House', 'Quill'], nouns: { Fiction: ['Novel', 'Anthology', 'Short Stories'], Cooking: ['Cookbook', 'Baking Book', 'Kitchen Guide'], Science: ['Field Guide', 'Primer', 'Atlas'] }, median: 18 },
  Electronics: { subs: ['Audio', 'Phones', 'Cameras'], brands: ['Voltra', 'Sonique', 'Pixelon', 'Nexa', 'Ampere'], nouns: { Audio: ['Headphones', 'Speaker', 'Earbuds'], Phones: ['Phone', 'Phone Case', 'Charger'], Cameras: ['Camera', 'Lens', 'Tripod'] }, median: 180 },
  Garden: { subs: ['Tools', 'Plants', 'Outdoor Furniture'], brands: ['Greenleaf', 'Terra', 'Bloomwell', 'Rootstock', 'Sunpatch'], nouns: { Tools: ['Trowel', 'Pruner', 'Hose'], Plants: ['Planter', 'Herb Kit', 'Seed Set'], 'Outdoor Furniture': ['Bench', 'Lounger', 'Bistro Table'] }, median: 40 },
  Toys: { subs: ['Puzzles', 'Building', 'Outdoor Play'], brands: ['Brightbox', 'Tinker', 'Jumbo', 'Playwise', 'Kitetail'], nouns: { Puzzles: ['Puzzle', 'Brain Teaser', 'Jigsaw'], Building: ['Block Set', 'Robot Kit', 'Marble Run'], 'Outdoor Play': ['Kite', 'Ball', 'Water Blaster'] }, median: 25 },
  Beauty: { subs: ['Skincare', 'Fragrance', 'Hair'], brands: ['Lumiere', 'Petal', 'Aqua Vera', 'Nord', 'Velvet'], nouns: { Skincare: ['Serum', 'Moisturiser', 'Cleanser'], Fragrance: ['Eau de Parfum', 'Eau de Toilette', 'Body Mist'], Hair: ['Shampoo', 'Conditioner', 'Hair Oil'] }, median: 30 },
  Sports: { subs: ['Yoga', 'Cycling', 'Fitness'], brands: ['Flexa', 'Cadence', 'Ironpeak', 'Zen Mat', 'Velo'], nouns: { Yoga: ['Mat', 'Block', 'Strap'], Cycling: ['Helmet', 'Jersey', 'Bottle'], Fitness: ['Dumbbell', 'Kettlebell', 'Resistance Band'] }, median: 45 },
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
    const nouns = spec.nouns[sub]; // a noun that belongs to the sub-category
    const noun = nouns[Math.floor(random() * nouns.length)];
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
