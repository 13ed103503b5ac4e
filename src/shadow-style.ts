// Styles for Silo's Shadow DOM that a strict CSP allows: a constructable stylesheet adopted
// by the shadow root is not an inline <style>, so `style-src 'self'` (no 'unsafe-inline', no
// per-build hashes) still styles the widget and the panel. Browsers without constructable
// stylesheets get a <style> element.

const sheets = new Map<string, CSSStyleSheet>();

export function adoptStyles(root: ShadowRoot, css: string): void {
  if ('adoptedStyleSheets' in root && typeof CSSStyleSheet === 'function' && 'replaceSync' in CSSStyleSheet.prototype) {
    let sheet = sheets.get(css);
    if (!sheet) {
      sheet = new CSSStyleSheet();
      sheet.replaceSync(css);
      sheets.set(css, sheet); // one sheet shared by every element of the kind
    }
    root.adoptedStyleSheets = [sheet];
    return;
  }
  const style = document.createElement('style');
  style.textContent = css;
  root.prepend(style);
}
