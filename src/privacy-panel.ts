// <silo-privacy-panel>: the shopper's view of what Silo keeps on this device, and the
// controls over it (pause, export, erase, federated participation).
//
//   <silo-privacy-panel></silo-privacy-panel>
//   panel.silo = api;           // optional; falls back to window.silo
//
// Main-thread code, so it stays small: Shadow DOM built with DOM APIs only (every data
// string goes in through textContent, never innerHTML), styled by an adopted stylesheet (a
// strict CSP allows it), and redrawn when Silo reports new events. Theming: CSS custom properties
// (--silo-panel-bg, --silo-panel-fg, --silo-panel-accent, --silo-panel-danger,
// --silo-panel-radius, --silo-panel-font, --silo-chart-1 … --silo-chart-6) and ::part()
// on: panel, heading, counts, words, propensity, chart, legend, button, pause, export, erase,
// confirm, federated, epsilon, message.
import type { ShopperProfile } from '../workers/profile/profile.ts';
import { adoptStyles } from './shadow-style.ts';

/** The part of the Silo API this panel uses (the SDK implements it). */
export interface SiloPanelApi extends Partial<Pick<EventTarget, 'addEventListener' | 'removeEventListener'>> {
  ready: Promise<unknown>;
  profile(): Promise<ShopperProfile & { words: string[] }>;
  export(): Promise<object>;
  erase(): Promise<void>;
  pause(paused: boolean): Promise<void>;
  status(): Promise<{
    events: number;
    rejected: number;
    paused: boolean;
    /** why nothing is being recorded (null or absent: recording) */
    notRecording?: 'paused' | 'declined' | 'global-privacy-control' | 'consent-required' | null;
    backend: string;
    federated?: { participate: boolean; epsilon?: number; delta?: number };
    privacy?: { epsilon?: number; delta?: number };
    /** the federated aggregator in use; null: none configured, so the setting is hidden */
    aggregator?: string | null;
  }>;
  federated(opts: { participate: boolean }): Promise<void>;
}

const STYLE = `
:host { display: block; font: var(--silo-panel-font, 14px/1.4 system-ui, sans-serif); color: var(--silo-panel-fg, #1d1d1f); }
.panel { background: var(--silo-panel-bg, #fff); border: 1px solid rgba(0,0,0,.12); border-radius: var(--silo-panel-radius, 8px); padding: 16px; display: grid; gap: 12px; }
h2 { font-size: 1.1em; margin: 0; }
h3 { font-size: 1em; margin: 0 0 4px; }
ul { margin: 0; padding-left: 1.2em; }
.row { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
button { font: inherit; padding: 6px 12px; border-radius: var(--silo-panel-radius, 8px); border: 1px solid var(--silo-panel-accent, #0a66c2); background: transparent; color: var(--silo-panel-accent, #0a66c2); cursor: pointer; }
button.danger { border-color: var(--silo-panel-danger, #b3261e); color: var(--silo-panel-danger, #b3261e); }
button:disabled { opacity: .5; cursor: default; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 12px; font-size: .85em; }
.swatch { display: inline-block; width: .8em; height: .8em; margin-right: 4px; border-radius: 2px; vertical-align: middle; }
.muted { opacity: .7; font-size: .9em; }
[hidden] { display: none !important; }
`;

/** How the event count ends: whether recording goes on, and if not, why (a shopper who sees 0 events should know the reason). */
const NOT_RECORDING = {
  recording: '.',
  paused: '. Recording is paused.',
  declined: '. Nothing is recorded: you declined.',
  'global-privacy-control': '. Nothing is recorded: your browser sends Global Privacy Control.',
  'consent-required': '. Nothing is recorded until you agree.',
} as const;

const CHART_COLOURS = ['#0a66c2', '#e07a00', '#2e7d32', '#8e24aa', '#c62828', '#757575'];
const SVG_NS = 'http://www.w3.org/2000/svg';

/** Creates an element with a part name, optional class and text (always via textContent). */
function el<K extends keyof HTMLElementTagNameMap>(tag: K, part?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (part) node.setAttribute('part', part);
  if (text !== undefined) node.textContent = text;
  return node;
}

// In Node (unit tests, SSR) there is no HTMLElement; importing this module must not throw.
const Base = (globalThis.HTMLElement ?? class {}) as typeof HTMLElement;

export class SiloPrivacyPanel extends Base {
  private api?: SiloPanelApi;
  private root?: ShadowRoot;
  private readonly ui = {} as {
    counts: HTMLParagraphElement;
    words: HTMLUListElement;
    propensity: HTMLParagraphElement;
    chart: HTMLDivElement;
    pause: HTMLButtonElement;
    exportButton: HTMLButtonElement;
    erase: HTMLButtonElement;
    confirm: HTMLDivElement;
    federated: HTMLInputElement;
    federatedRow: HTMLDivElement;
    epsilon: HTMLSpanElement;
    message: HTMLParagraphElement;
  };
  private paused = false;
  /** the API whose `update` events this panel listens to */
  private listeningTo?: SiloPanelApi;
  private refreshTimer: ReturnType<typeof setTimeout> | null = null;
  /** new events arrive in bursts: one redraw per burst */
  private readonly onUpdate = () => {
    if (this.refreshTimer) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      void this.refresh();
    }, 250);
  };

  /** The API to talk to; setting it refreshes the panel. */
  set silo(api: SiloPanelApi | undefined) {
    this.api = api;
    if (this.isConnected) {
      this.listen();
      void this.refresh();
    }
  }
  get silo(): SiloPanelApi | undefined {
    return this.api ?? (globalThis as { silo?: SiloPanelApi }).silo;
  }

  connectedCallback(): void {
    if (!this.root) this.build();
    this.listen();
    void this.refresh();
  }

  disconnectedCallback(): void {
    this.listeningTo?.removeEventListener?.('update', this.onUpdate);
    this.listeningTo = undefined;
  }

  private listen(): void {
    const api = this.silo;
    if (api === this.listeningTo) return;
    this.listeningTo?.removeEventListener?.('update', this.onUpdate);
    api?.addEventListener?.('update', this.onUpdate);
    this.listeningTo = api;
  }

  private build(): void {
    const root = (this.root = this.attachShadow({ mode: 'open' }));
    adoptStyles(root, STYLE);
    const panel = el('section', 'panel');
    panel.className = 'panel';
    panel.setAttribute('aria-label', 'Your data on this device');

    const ui = this.ui;
    ui.counts = el('p', 'counts');
    ui.words = el('ul', 'words');
    ui.propensity = el('p', 'propensity');
    ui.propensity.className = 'muted';
    ui.chart = el('div', 'chart');
    ui.message = el('p', 'message');
    ui.message.className = 'muted';
    ui.message.setAttribute('role', 'status');

    ui.pause = this.button('pause', 'Pause recording', () => this.togglePause());
    ui.pause.setAttribute('aria-pressed', 'false');
    ui.exportButton = this.button('export', 'Download my data', () => this.download());
    ui.erase = this.button('erase', 'Erase everything', () => this.showConfirm(true));
    ui.erase.classList.add('danger');

    // erasing is irreversible, so it takes a second, explicit click inside the panel
    ui.confirm = el('div', 'confirm');
    ui.confirm.className = 'row';
    ui.confirm.hidden = true;
    const yes = this.button('button', 'Yes, erase', () => this.erase());
    yes.classList.add('danger');
    ui.confirm.append(el('span', undefined, 'This deletes every event, the profile and the model on this device.'), yes, this.button('button', 'Cancel', () => this.showConfirm(false)));

    const fedLabel = el('label', 'federated');
    ui.federated = el('input');
    ui.federated.type = 'checkbox';
    ui.federated.addEventListener('change', () => this.setFederated(ui.federated.checked));
    ui.epsilon = el('span', 'epsilon');
    ui.epsilon.className = 'muted';
    // says what actually leaves (server/PROTOCOL.md): under the default central DP the uploads
    // themselves are not noised; what the server publishes is
    fedLabel.append(ui.federated, ' Help improve recommendations for everyone (this device sends clipped model updates and the hashed ids of items you looked at recently; the server publishes them only summed over many shoppers, with noise)');

    const controls = el('div');
    controls.className = 'row';
    controls.append(ui.pause, ui.exportButton, ui.erase);
    const fedRow = (ui.federatedRow = el('div'));
    fedRow.className = 'row';
    fedRow.append(fedLabel, ui.epsilon);

    panel.append(
      el('h2', 'heading', 'Your data on this device'),
      ui.counts,
      el('h3', undefined, 'What we think you like'),
      ui.words,
      ui.propensity,
      el('h3', undefined, 'Your interests over time'),
      ui.chart,
      controls,
      ui.confirm,
      fedRow,
      ui.message,
    );
    root.append(panel);
  }

  private button(part: string, label: string, onClick: () => void): HTMLButtonElement {
    const b = el('button', part === 'button' ? 'button' : `button ${part}`, label);
    b.type = 'button';
    b.addEventListener('click', onClick);
    return b;
  }

  /** Reloads status and profile from the API and redraws. */
  async refresh(): Promise<void> {
    const api = this.silo;
    if (!this.root) return;
    if (!api) {
      this.say('Silo is not loaded on this page.');
      // the SDK may load after the panel (async script): try again once the page has loaded
      if (document.readyState !== 'complete') window.addEventListener('load', () => void this.refresh(), { once: true });
      return;
    }
    try {
      await api.ready;
      const [status, profile] = await Promise.all([api.status(), api.profile()]);
      this.paused = status.paused;
      const ui = this.ui;
      ui.counts.textContent =
        `${status.events} events recorded on this device` +
        (status.rejected ? `, ${status.rejected} ignored as repeats or automated traffic` : '') +
        NOT_RECORDING[status.notRecording ?? (status.paused ? 'paused' : 'recording')];
      // one toggle button with a fixed name, its state in aria-pressed
      ui.pause.textContent = 'Pause recording';
      ui.pause.setAttribute('aria-pressed', String(status.paused));
      ui.words.replaceChildren(...profile.words.map((w) => el('li', undefined, w)));
      // said either way, so a shopper knows whether a purchase likelihood is being estimated
      const propensity = profile.purchasePropensity;
      ui.propensity.textContent = !propensity
        ? ''
        : propensity.available
          ? `Estimated chance you buy during this visit: ${Math.round(propensity.probability * 100)}%.`
          : `Purchase likelihood: not estimated (${propensity.reason}).`;
      this.drawChart(profile.interestsOverTime ?? []);
      const fed = status.federated;
      ui.federatedRow.hidden = status.aggregator === null;
      ui.federated.checked = !!fed?.participate;
      const epsilon = status.privacy?.epsilon ?? fed?.epsilon;
      ui.epsilon.textContent = epsilon !== undefined ? `Privacy budget spent so far: ε = ${epsilon.toFixed(2)}` : '';
      this.say('');
    } catch (err) {
      this.say(`Could not load your data: ${(err as Error).message}`);
    }
  }

  private say(text: string): void {
    if (this.root) this.ui.message.textContent = text;
  }

  /** Stacked bars, one per day, of the top categories' share of that day's interest. */
  private drawChart(days: ShopperProfile['interestsOverTime']): void {
    const chart = this.ui.chart;
    if (!days.length) {
      chart.replaceChildren(el('p', undefined, 'Nothing yet.'));
      return;
    }
    // the five biggest categories get a colour each; the rest are "Other"
    const totals = new Map<string, number>();
    for (const d of days) for (const [c, w] of Object.entries(d.weights)) totals.set(c, (totals.get(c) ?? 0) + w);
    const top = [...totals].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([c]) => c);
    const colourOf = (c: string) => {
      const i = top.indexOf(c);
      const index = i < 0 ? 5 : i;
      return `var(--silo-chart-${index + 1}, ${CHART_COLOURS[index]})`;
    };

    const width = 300, height = 80, gap = 2;
    const barWidth = Math.max(2, (width - gap * days.length) / days.length);
    const maxTotal = Math.max(...days.map((d) => Object.values(d.weights).reduce((s, w) => s + w, 0)), 1e-9);
    const svg = document.createElementNS(SVG_NS, 'svg');
    svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
    svg.setAttribute('width', '100%');
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', `Interest by category over ${days.length} days`);
    days.forEach((d, i) => {
      let y = height;
      const x = i * (barWidth + gap);
      for (const [category, w] of Object.entries(d.weights).sort((a, b) => b[1] - a[1])) {
        const h = (w / maxTotal) * height;
        y -= h;
        const rect = document.createElementNS(SVG_NS, 'rect');
        rect.setAttribute('x', x.toFixed(1));
        rect.setAttribute('y', y.toFixed(1));
        rect.setAttribute('width', barWidth.toFixed(1));
        rect.setAttribute('height', h.toFixed(1));
        rect.setAttribute('fill', colourOf(category));
        const title = document.createElementNS(SVG_NS, 'title');
        title.textContent = `${d.day}: ${category}`;
        rect.append(title);
        svg.append(rect);
      }
    });
    const legend = el('div', 'legend');
    legend.className = 'legend';
    const names = totals.size > top.length ? [...top, 'Other'] : top;
    for (const name of names) {
      const entry = el('span');
      const swatch = el('span');
      swatch.className = 'swatch';
      swatch.style.background = colourOf(name === 'Other' ? '' : name);
      entry.append(swatch, name);
      legend.append(entry);
    }
    chart.replaceChildren(svg, legend);
  }

  private async togglePause(): Promise<void> {
    const api = this.silo;
    if (!api) return;
    try {
      await api.pause(!this.paused);
      await this.refresh();
    } catch (err) {
      this.say(`Could not change recording: ${(err as Error).message}`);
    }
  }

  /** Downloads everything Silo holds as a JSON file, made here from api.export(). */
  private async download(): Promise<void> {
    const api = this.silo;
    if (!api) return;
    try {
      const data = await api.export();
      const blob = new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' });
      const url = URL.createObjectURL(blob);
      const link = el('a');
      link.href = url;
      link.download = `silo-data-${new Date().toISOString().slice(0, 10)}.json`;
      this.root!.append(link);
      link.click();
      link.remove();
      // the download has started by now; free the blob a little later
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      this.say('Your data was downloaded.');
    } catch (err) {
      this.say(`Could not export: ${(err as Error).message}`);
    }
  }

  private showConfirm(show: boolean): void {
    this.ui.confirm.hidden = !show;
    this.ui.erase.disabled = show;
  }

  private async erase(): Promise<void> {
    const api = this.silo;
    if (!api) return;
    this.showConfirm(false);
    try {
      await api.erase();
      await this.refresh();
      this.say('Everything Silo stored on this device was erased.');
    } catch (err) {
      this.say(`Could not erase: ${(err as Error).message}`);
    }
  }

  private async setFederated(participate: boolean): Promise<void> {
    const api = this.silo;
    if (!api) return;
    try {
      await api.federated({ participate });
      await this.refresh();
    } catch (err) {
      this.ui.federated.checked = !participate;
      this.say(`Could not change participation: ${(err as Error).message}`);
    }
  }
}

/** Registers the element once (safe to call repeatedly, and a no-op outside browsers). */
export function defineSiloPrivacyPanel(name = 'silo-privacy-panel'): void {
  if (typeof customElements !== 'undefined' && !customElements.get(name)) customElements.define(name, SiloPrivacyPanel);
}

defineSiloPrivacyPanel();

declare global {
  interface HTMLElementTagNameMap {
    'silo-privacy-panel': SiloPrivacyPanel;
  }
}
