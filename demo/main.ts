// The demo storefront's own code: a catalog browser with search, quick view, cart and
// checkout. It knows nothing about Silo beyond the public API: it reports GA4 events the
// way a storefront does (window.silo.track and a dataLayer push) and shows the widget.
import type { CatalogItem } from '../src/catalog.ts';
import type { Silo } from '../src/api.ts';

const silo = (): Silo => window.silo;
const $ = <T extends HTMLElement>(sel: string) => document.querySelector<T>(sel)!;
const PAGE_SIZE = 48;

let catalog: CatalogItem[] = [];
let department: string | null = null;
let query = '';
const cart = new Map<string, { item: CatalogItem; quantity: number }>();

function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: (Node | string)[]) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

function gaItem(item: CatalogItem, quantity?: number) {
  const { item_id, item_name, item_brand, item_category, item_category2, price } = item;
  return { item_id, item_name, item_brand, item_category, item_category2, price, ...(quantity ? { quantity } : {}) };
}

function money(n: number) {
  return `$${n.toFixed(2)}`;
}

function renderDepartments() {
  const names = [...new Set(catalog.map((i) => i.item_category!))];
  const nav = $('#departments');
  nav.replaceChildren(
    ...[null, ...names].map((name) => {
      const b = el('button', { type: 'button', textContent: name ?? 'All' });
      b.setAttribute('aria-pressed', String(name === department));
      b.addEventListener('click', () => {
        department = name;
        query = '';
        $<HTMLInputElement>('#search input').value = '';
        renderDepartments();
        renderListing();
      });
      return b;
    }),
  );
}

function renderListing() {
  const q = query.toLowerCase();
  const shown = catalog
    .filter((i) => (!department || i.item_category === department) && (!q || `${i.item_name} ${i.item_brand} ${i.item_category} ${i.item_category2}`.toLowerCase().includes(q)))
    .slice(0, PAGE_SIZE);
  $('#listing').replaceChildren(
    ...shown.map((item) => {
      const card = el(
        'button',
        { className: 'product', type: 'button' },
        el('img', { src: item.image!, alt: '' }),
        el('div', { textContent: item.item_name }),
        el('div', { className: 'price', textContent: money(item.price) }),
        el('div', { className: 'meta', textContent: `${item.item_category} › ${item.item_category2}` }),
      );
      card.dataset.itemId = item.item_id;
      card.addEventListener('click', () => openProduct(item));
      return card;
    }),
  );
  if (shown.length === 0) $('#listing').append(el('p', { textContent: 'No products match.' }));
  // the storefront's GA4 tag reports the listing through the dataLayer; Silo picks it up
  (window.dataLayer ??= []).push({ event: 'view_item_list', ecommerce: { item_list_name: department ?? 'all', items: shown.slice(0, 20).map((i) => gaItem(i)) } });
}

function openProduct(item: CatalogItem) {
  const dialog = $<HTMLDialogElement>('#product');
  const add = el('button', { className: 'primary', type: 'button', textContent: 'Add to cart' });
  add.addEventListener('click', () => {
    const line = cart.get(item.item_id) ?? { item, quantity: 0 };
    line.quantity++;
    cart.set(item.item_id, line);
    silo().track('add_to_cart', { currency: 'USD', value: item.price, items: [gaItem(item, 1)] });
    updateCartCount();
    dialog.close();
  });
  const close = el('button', { type: 'button', textContent: 'Close' });
  close.addEventListener('click', () => dialog.close());
  const more = document.createElement('silo-recommendations');
  more.setAttribute('k', '4');
  more.setAttribute('heading', 'More like this');
  more.setAttribute('context', item.item_id);
  dialog.replaceChildren(
    el('img', { src: item.image!, alt: '' }),
    el('h2', { textContent: item.item_name }),
    el('p', { textContent: `${item.item_brand} · ${item.item_category} › ${item.item_category2}` }),
    el('p', { className: 'price', textContent: money(item.price) }),
    el('div', { className: 'actions' }, add, close),
    more,
  );
  dialog.dataset.itemId = item.item_id;
  dialog.showModal();
  silo().track('view_item', { currency: 'USD', value: item.price, items: [gaItem(item)] });
}

function updateCartCount() {
  $('#cart-count').textContent = String([...cart.values()].reduce((n, l) => n + l.quantity, 0));
}

function openCart() {
  const dialog = $<HTMLDialogElement>('#cart');
  const lines = [...cart.values()];
  const total = lines.reduce((s, l) => s + l.item.price * l.quantity, 0);
  const checkout = el('button', { className: 'primary', type: 'button', textContent: 'Buy now' });
  checkout.disabled = lines.length === 0;
  checkout.addEventListener('click', () => {
    const items = lines.map((l) => gaItem(l.item, l.quantity));
    silo().track('begin_checkout', { currency: 'USD', value: total, items });
    silo().track('purchase', { currency: 'USD', value: total, transaction_id: `T${Date.now()}`, items });
    cart.clear();
    updateCartCount();
    dialog.close();
  });
  const close = el('button', { type: 'button', textContent: 'Close' });
  close.addEventListener('click', () => dialog.close());
  dialog.replaceChildren(
    el('h2', { textContent: 'Your cart' }),
    ...lines.map((l) => el('p', { textContent: `${l.quantity} × ${l.item.item_name} — ${money(l.item.price * l.quantity)}` })),
    el('p', { textContent: `Total ${money(total)}` }),
    el('div', { className: 'actions' }, checkout, close),
  );
  dialog.showModal();
  if (lines.length) silo().track('view_cart', { currency: 'USD', value: total, items: lines.map((l) => gaItem(l.item, l.quantity)) });
}

async function refreshPanel() {
  try {
    const [status, profile] = await Promise.all([silo().status(), silo().profile()]);
    $('#panel-backend').textContent = status.failure ? `unavailable (${status.failure})` : `${status.backend}${status.skipped.length ? ` (skipped ${status.skipped.map((s) => s.backend).join(', ')})` : ''}`;
    $('#panel-events').textContent = String(status.events);
    const top = [...new Set(profile.interests.categories.map((c) => c.path[0]))];
    $('#panel-interests').textContent = top.length ? top.join(', ') : 'none yet';
  } catch (err) {
    $('#panel-backend').textContent = `unavailable (${(err as Error).message})`;
  }
}

async function main() {
  catalog = await (await fetch('/catalog.json')).json();
  renderDepartments();
  renderListing();
  $('#search').addEventListener('submit', (e) => {
    e.preventDefault();
    query = $<HTMLInputElement>('#search input').value.trim();
    department = null;
    renderDepartments();
    renderListing();
    if (query) silo().track('search', { search_term: query });
  });
  $('#cart-button').addEventListener('click', openCart);
  $('#erase').addEventListener('click', async () => {
    await silo().erase();
    void refreshPanel();
  });
  silo().addEventListener('update', () => void refreshPanel());
  await silo().ready.catch(() => undefined);
  void refreshPanel();
}

void main();

declare global {
  interface Window {
    dataLayer: unknown[];
  }
}
