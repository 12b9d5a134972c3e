// sp-i18n.js - the texts of the portal's scripts in the page's language.
// The key server embeds the catalogue of the page's language (the keys
// that start with "js.") as <script type="application/json" id="sp-i18n">;
// t(key, vars) looks a text up and fills its {name} placeholders, parts()
// does the same but keeps values that are DOM nodes (a <bdi> with an
// address) as nodes, and localize(root) fills every element carrying
// data-i18n="key" (its text) or data-i18n-attr="attr:key" (one attribute).
// Texts only ever go into textContent or attributes, never into innerHTML.
let cat = null;

function catalogue() {
  if (cat) return cat;
  cat = {};
  const el = typeof document !== 'undefined' ? document.getElementById('sp-i18n') : null;
  if (el) {
    try {
      const c = JSON.parse(el.textContent);
      if (c && typeof c === 'object') cat = c;
    } catch { /* an empty catalogue: the keys show */ }
  }
  return cat;
}

const has = (o, k) => Object.prototype.hasOwnProperty.call(o, k);

export function t(key, vars = null) {
  const c = catalogue();
  const s = has(c, key) && typeof c[key] === 'string' ? c[key] : key;
  if (!vars) return s;
  return s.replace(/\{([a-z0-9_]+)\}/g, (m, n) => (has(vars, n) ? String(vars[n]) : m));
}

export function parts(key, vars) {
  const c = catalogue();
  const s = has(c, key) && typeof c[key] === 'string' ? c[key] : key;
  const out = [];
  let at = 0;
  for (const m of s.matchAll(/\{([a-z0-9_]+)\}/g)) {
    if (!has(vars, m[1])) continue;
    if (m.index > at) out.push(s.slice(at, m.index));
    const v = vars[m[1]];
    out.push(typeof v === 'object' && v !== null ? v : String(v));
    at = m.index + m[0].length;
  }
  if (at < s.length) out.push(s.slice(at));
  return out;
}

export function localize(root) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-attr]')) {
    const [attr, key] = el.dataset.i18nAttr.split(':');
    if (attr && key) el.setAttribute(attr, t(key));
  }
}

export function lang() {
  return document.documentElement.lang || 'en';
}
