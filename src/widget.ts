// <silo-recommendations k="8" heading="Picked for you" heading-level="2">: renders the
// shopper's recommendations from the public catalog in Shadow DOM. Text goes in with
// textContent only (catalog strings are never parsed as HTML); styles are an adopted
// stylesheet, which a strict CSP allows. Themable through CSS custom properties
// (--silo-accent, --silo-focus, --silo-radius, --silo-gap, --silo-font, --silo-card-bg) and
// ::part (list, card, image, title, price, reason, empty, loading, heading).
import type { Recommendation, Silo } from './api.ts';
import { adoptStyles } from './shadow-style.ts';

const STYLE = `
:host{display:block;font-family:var(--silo-font,inherit);color:inherit}
[part~=heading]{font-size:1.1em;margin:0 0 .5em}
ol{list-style:none;margin:0;padding:0;display:grid;gap:var(--silo-gap,12px);grid-template-columns:repeat(auto-fill,minmax(var(--silo-card-width,150px),1fr))}
li{background:var(--silo-card-bg,#fff);border-radius:var(--silo-radius,8px);box-shadow:0 1px 3px #0002}
a{display:block;color:inherit;text-decoration:none;padding:8px;border-radius:inherit}
a:focus-visible{outline:3px solid var(--silo-focus,var(--silo-accent,#b12704));outline-offset:-3px}
img{width:100%;aspect-ratio:1;object-fit:cover;border-radius:calc(var(--silo-radius,8px) - 2px);background:#eee}
.t{font-weight:600;margin:.3em 0 .1em;font-size:.9em}
.p{color:var(--silo-accent,#b12704);font-weight:700}
.r{font-size:.75em;opacity:.75;margin-top:.2em}
.s{opacity:.7;font-size:.9em}`;

export function defineRecommendationsElement(getSilo: () => Silo): void {
  if (customElements.get('silo-recommendations')) return;

  class SiloRecommendations extends HTMLElement {
    static observedAttributes = ['k', 'context', 'heading', 'heading-level'];
    private readonly root: ShadowRoot;
    private readonly onUpdate = () => this.refresh();
    private generation = 0;
    private shown: Recommendation[] = [];

    constructor() {
      super();
      this.root = this.attachShadow({ mode: 'open' });
      adoptStyles(this.root, STYLE);
      this.root.append(statusLine('loading', 'Loading recommendations…'));
    }

    connectedCallback(): void {
      getSilo().addEventListener('update', this.onUpdate);
      void this.refresh();
    }

    disconnectedCallback(): void {
      getSilo().removeEventListener('update', this.onUpdate);
    }

    attributeChangedCallback(): void {
      if (this.isConnected) void this.refresh();
    }

    /** Asks the worker again; a newer refresh wins over a slower older one. */
    async refresh(): Promise<void> {
      const generation = ++this.generation;
      const k = Math.max(1, Math.min(50, Number(this.getAttribute('k')) || 8));
      const context = this.getAttribute('context') ?? undefined;
      let recs: Recommendation[] = [];
      try {
        recs = await getSilo().recommend({ k, context: context ? { item_id: context } : undefined });
      } catch {
        recs = [];
      }
      if (generation !== this.generation) return;
      this.render(recs);
    }

    private render(recs: Recommendation[]): void {
      this.root.replaceChildren(...this.root.querySelectorAll('style'));
      const heading = this.getAttribute('heading');
      if (heading) this.root.append(headingElement(heading, this.getAttribute('heading-level')));
      if (recs.length === 0) {
        this.root.append(statusLine('empty', 'No recommendations yet: browse a few products.'));
        this.shown = [];
        return;
      }
      const list = document.createElement('ol');
      list.part.add('list');
      recs.forEach((rec, position) =>
        list.append(
          recommendationCard(rec, () => {
            getSilo().track('select_item', { item_list_name: 'silo-recommendations', items: [gaItem(rec, position)] }, 'widget');
            this.dispatchEvent(new CustomEvent('silo-select', { detail: { item: rec.item }, bubbles: true, composed: true }));
          }),
        ),
      );
      this.root.append(list);
      const changed = recs.map((r) => r.item_id).join() !== this.shown.map((r) => r.item_id).join();
      this.shown = recs;
      if (changed) {
        getSilo().track('view_item_list', { item_list_name: 'silo-recommendations', items: recs.map((r, i) => gaItem(r, i)) }, 'widget');
      }
    }
  }

  customElements.define('silo-recommendations', SiloRecommendations);
}

/** A status line in place of the list (loading, empty). */
function statusLine(part: string, text: string): HTMLElement {
  const p = document.createElement('p');
  p.className = 's';
  p.part.add(part);
  p.textContent = text;
  return p;
}

/** heading-level fits the widget into the page's outline (default 2). */
function headingElement(text: string, levelAttribute: string | null): HTMLElement {
  const level = Math.min(6, Math.max(1, Math.floor(Number(levelAttribute)) || 2));
  const h = document.createElement(`h${level}`);
  h.part.add('heading');
  h.textContent = text;
  return h;
}

/** One recommendation's card: a link with its image, title, price and reason; `onSelect` on click. */
function recommendationCard(rec: Recommendation, onSelect: () => void): HTMLLIElement {
  const li = document.createElement('li');
  li.part.add('card');
  li.dataset.itemId = rec.item_id;
  const a = document.createElement('a');
  const href = safeUrl(rec.item.url);
  if (href) a.href = href;
  a.addEventListener('click', onSelect);
  const img = document.createElement('img');
  img.part.add('image');
  img.alt = ''; // decorative: the title beside it names the link once
  img.loading = 'lazy';
  const src = safeUrl(rec.item.image);
  if (src) img.src = src;
  const title = document.createElement('div');
  title.className = 't';
  title.part.add('title');
  title.textContent = rec.item.item_name;
  const price = document.createElement('div');
  price.className = 'p';
  price.part.add('price');
  price.textContent = formatPrice(rec.item.price, rec.item.currency);
  const reason = document.createElement('div');
  reason.className = 'r';
  reason.part.add('reason');
  reason.textContent = rec.reason;
  a.append(img, title, price, reason);
  li.append(a);
  return li;
}

function gaItem(rec: Recommendation, index: number) {
  const { item_id, item_name, item_brand, item_category, price } = rec.item;
  return { item_id, item_name, item_brand, item_category, price, index };
}

/** Only http(s) and same-origin relative links: a catalog entry cannot inject javascript: URLs. */
function safeUrl(url: string | undefined): string | null {
  if (!url) return null;
  try {
    const u = new URL(url, location.href);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch {
    return null;
  }
}

function formatPrice(price: number, currency = 'USD'): string {
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(price);
  } catch {
    return price.toFixed(2);
  }
}
