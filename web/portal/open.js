// open.js - the key server's open page.  Envelope mode (GET /open?id=ID
// and POST /online): receives the envelope from the securedoc.html window
// that opened it (or from the page itself for the open-online form).  Copy
// mode (GET /m/ID#mp=..&to=..): takes the mail key part from the link's
// fragment (or from this device's key store, sp-keystore.js) and the
// envelope from the key server's copy.  Either way it signs the recipient
// in, asks the key server for its key part (after the sender's verification
// question, when there is one), checks the envelope against the key server's
// record and its signature, decrypts in the browser and shows the message,
// or a plain page for each refusal (not genuine, withdrawn, expired,
// locked, a link without its key).  docs/open-protocol.md describes it.
// SECURITY: the envelope is untrusted, the key server's copy as much as the
// file.  Messages are accepted only from window.opener and only of the
// expected shape and size.  The message HTML is hostile: it is cleaned, then
// shown only in an <iframe sandbox=""> (no scripts, opaque origin) under a
// strict CSP of its own.  The mail key part in the URL fragment is removed
// from the address bar at once, before anything else runs, and is kept only
// in memory and, after the message opened, encrypted in this browser's key
// store.  Nothing of an envelope that fails a check is decrypted or shown;
// the organisation's branding comes from the key server's record only.
import * as spc from './sp-crypto.js';
import * as keys from './sp-keystore.js';
import { $, show, api, progress, formatSize, mountSignin, ensureSession, askLogin, registerFor } from './sp-portal.js';
import { passwordAsked, releaseUnsigned } from './sp-remember.js';
import { offerReply } from './compose.js';
import { t, parts } from './sp-i18n.js';

const main = $('main');
// The page's envelope id: from the URL (GET /open?id=ID, GET /m/ID) or, for
// POST /online, from the header in the page (checked again after
// decryption).
let ID = main.dataset.id || new URLSearchParams(location.search).get('id') || '';
const COPY = main.dataset.mode === 'copy';
const MAX_HEADER_B64 = 100000;

// The link's fragment in copy mode (#mp=MAILPART&to=ADDRESS): read and
// removed from the address bar and the history first of all.  mp is null
// when absent or not 32 bytes of base64url; to is '' unless an address.
function takeLink() {
  const frag = location.hash.replace(/^#/, '');
  if (frag) history.replaceState(null, '', location.pathname + location.search);
  const p = new URLSearchParams(frag);
  const mp = p.get('mp');
  const to = (p.get('to') || '').trim();
  return {
    mp: typeof mp === 'string' && spc.b64urlExact(mp, 32) ? mp : null,
    to: to.length <= 254 && /^[^\s@<>"]+@[^\s@<>"]+$/.test(to) ? to : '',
  };
}
const LINK = COPY ? takeLink() : null;
// A link to this same page with another fragment changes only the hash:
// load the page again so that the new link is read (and removed) as above.
if (COPY) window.addEventListener('hashchange', () => { if (location.hash.length > 1) location.reload(); });

// Text that came from an envelope or the key server, isolated for
// bidirectional text so that it cannot reorder the sentence around it.
function bdi(text) {
  const b = document.createElement('bdi');
  const t = String(text);
  b.textContent = t.length > 200 ? t.slice(0, 200) + '\u2026' : t;
  return b;
}

// A sentence made of strings and nodes (see bdi).
function sentence(tag, parts) {
  const el = document.createElement(tag);
  el.append(...(Array.isArray(parts) ? parts : [parts]));
  return el;
}

// The verdict card: kind 'genuine' (a status line above the message),
// 'unsigned' (the same for a format 1 envelope), 'bad' (refused), 'gone'
// (withdrawn, expired, locked) or 'info'.  title and each detail are a
// string or a list of strings and nodes (one sentence each); reasons
// (optional) are listed under "What failed".
function verdict(kind, title, detail = '', reasons = []) {
  const v = $('sp-verdict');
  const status = kind === 'genuine' || kind === 'unsigned';
  v.className = 'card verdict ' + kind;
  v.replaceChildren();
  const h = sentence(status ? 'p' : 'h1', title);
  h.className = 'verdict-title';
  v.append(h);
  if (detail && detail.length) v.append(sentence('p', detail));
  if (reasons.length) {
    const det = document.createElement('details');
    const sum = document.createElement('summary');
    sum.textContent = t('js.what_failed');
    const ul = document.createElement('ul');
    for (const r of reasons) ul.append(sentence('li', String(r)));
    det.append(sum, ul);
    v.append(det);
  }
  v.setAttribute('role', status ? 'status' : 'alert');
  v.tabIndex = -1;
  show(v, true);
  if (!status) v.focus();
}

// A page that ends the flow: nothing of the message is shown.
function fatal(title, detail, reasons = [], kind = 'bad') {
  progress(null);
  show($('sp-login'), false);
  show($('sp-verify'), false);
  show($('sp-message'), false);
  $('sp-body').replaceChildren();
  $('sp-att-list').replaceChildren();
  $('sp-subject').textContent = '';
  $('sp-facts').replaceChildren();
  verdict(kind, title, detail, reasons);
}

const NOT_GENUINE_STEP = () => t('js.not_genuine_step');

// The next step for an envelope that is unknown to the key server or
// damaged: ask for it again, naming the sender the envelope claims (which
// nothing vouches for, so the reader writes by a route of their own).
function resendStep(from) {
  const out = [t('js.resend_lead'), ' '];
  if (typeof from === 'string' && from.trim()) {
    out.push(...parts('js.resend_named', { from: bdi(from.trim()) }));
  } else {
    out.push(t('js.resend_unnamed'));
  }
  out.push(' ', t('js.resend_download'));
  return out;
}

// The page for an envelope that fails any check.  org is the organisation
// the envelope claims (from its header), shown as text only; from (the
// sender it claims) adds the step of asking for it again, for an envelope
// the key server does not know or that is damaged.
function notGenuine(org, reasons, from = null) {
  const title = typeof org === 'string' && org.trim() ?
    parts('js.not_genuine_from', { org: bdi(org.trim()) }) : t('js.not_genuine');
  fatal(title, from === null ? NOT_GENUINE_STEP() : resendStep(from), reasons);
}

// ---- receiving the envelope ------------------------------------------------

// The signature as the envelope gives it (base64url of 64 bytes for format
// 2, empty for format 1); anything else is passed on as empty, and the
// check against the key server's record refuses a format 2 envelope
// without a good one.
function sigOf(s) {
  return typeof s === 'string' && /^[A-Za-z0-9_-]{0,200}$/.test(s.trim()) ? s.trim() : '';
}

function checkEnvelope(d) {
  if (!d || typeof d !== 'object' || d.type !== 'sealpost-envelope' || d.v !== 1) return null;
  if (d.id !== ID || typeof d.header !== 'string' || d.header.length > MAX_HEADER_B64) return null;
  if (typeof d.mp !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(d.mp)) return null;
  if (!(d.payload instanceof ArrayBuffer) || d.payload.byteLength > spc.MAX_PAYLOAD) return null;
  if (d.sig !== undefined && d.sig !== null && typeof d.sig !== 'string') return null;
  return { header: d.header, mp: d.mp, payload: new Uint8Array(d.payload), sig: sigOf(d.sig) };
}

function fromOpener() {
  return new Promise((resolve) => {
    const opener = window.opener;
    let tries = 0;
    const onMessage = (ev) => {
      if (ev.source !== opener) return;
      const d = ev.data;
      const env = checkEnvelope(d);
      // this page's envelope, but not in a shape it takes (a damaged
      // file): said at once, not waited for
      const damaged = !env && d && typeof d === 'object' && d.type === 'sealpost-envelope' && d.id === ID;
      if (!env && !damaged) return;
      window.removeEventListener('message', onMessage);
      clearInterval(timer);
      resolve(env || { damaged: true });
    };
    window.addEventListener('message', onMessage);
    // The envelope is a file:// page (origin "null"): '*' is the only target
    // that reaches it.  This message carries nothing secret.
    const ping = () => {
      try {
        opener.postMessage({ type: 'sealpost-ready', id: ID }, '*');
      } catch { /* the opener went away */ }
    };
    performance.mark('sp-ready');
    ping();
    const timer = setInterval(() => {
      tries++;
      if (tries <= 3) ping();
      if (tries === 10) {
        progress(t('js.still_waiting'));
      }
    }, 2000);
  });
}

function fromPage() {
  const header = $('sp-online-header').value;
  const payloadB64 = $('sp-online-payload').value;
  // Empty for a format 1 envelope (its form has no signature field).
  const sig = sigOf($('sp-online-sig').value);
  if (!header.trim() || !payloadB64.trim()) return null;
  const m = /(?:^#|&)mp=([A-Za-z0-9_-]{43})(?:&|$)/.exec(location.hash);
  // The mail key part must not stay in the address bar or the history.
  history.replaceState(null, '', location.pathname + location.search);
  $('sp-online-payload').value = '';
  if (!m) return { error: t('js.link_incomplete') };
  let payload;
  try {
    payload = spc.b64decode(payloadB64);
  } catch {
    return { error: 'damaged' };
  }
  return { header, mp: m[1], payload, sig };
}

// ---- rendering ------------------------------------------------------------

 // Images no wider than the frame; the rest of a mail's layout is its own.
const FRAME_STYLE = '<style>img { max-width: 100%; height: auto; } body { margin: 8px; overflow-wrap: break-word; }</style>';
// The frame's own policy: embedded images only, or also images from the
// web once the reader chose to see them (the page's policy allows both).
const cspMeta = (web) => '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; ' +
  `img-src data:${web ? ' https: http:' : ''}; style-src 'unsafe-inline'">`;
// SVG animation elements too: <set attributeName="href"> would give a link a
// target that no attribute shows here.
const DROP = 'script,iframe,frame,frameset,object,embed,applet,base,link,meta,portal,template,audio,video,source,track,' +
  'set,animate,animateMotion,animateTransform,animateColor,discard';
// Kept for their content, without the element itself.
const UNWRAP = 'form,noscript';
const URL_ATTRS = ['href', 'src', 'action', 'formaction', 'background', 'poster', 'xlink:href', 'lowsrc', 'dynsrc', 'ping', 'srcset', 'cite', 'longdesc', 'usemap', 'manifest', 'data'];

// The marks and overrides of bidirectional text (Unicode's Bidi_Control).
const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

function bytesToDataUrl(bytes, type) {
  const b64 = typeof bytes.toBase64 === 'function' ? bytes.toBase64() : btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(''));
  return `data:${type};base64,${b64}`;
}

function cidKey(s) {
  let v = String(s).trim().replace(/^cid:/i, '');
  try {
    v = decodeURIComponent(v);
  } catch { /* keep as is */ }
  return v.replace(/^<|>$/g, '').toLowerCase();
}

// CSS of the message: nothing in it may load from the web, whatever the
// reader chose for <img> (decision 16). The browser's own CSS parser reads
// it, so escapes (u\72l(), h\74tp:) are undone before the check, and a
// value that names a URL (url(), image-set() and the like) other than a
// data: one goes. @import rules go too (a constructed sheet drops them).
// Each returns how many it took out.
const CSS_LOADS = /\b(?:url|image-set|-webkit-image-set|cross-fade|src)\(/i;

function cleanDeclarations(style) {
  let n = 0;
  for (const name of Array.from(style)) {
    const v = style.getPropertyValue(name);
    if (!CSS_LOADS.test(v)) continue;
    // the parser writes every URL as a quoted string
    const urls = v.match(/"(?:[^"\\]|\\.)*"/g) || [];
    if (urls.length && urls.every((u) => /^"data:/i.test(u))) continue;
    style.removeProperty(name);
    n++;
  }
  return n;
}

function cleanRules(rules) {
  let n = 0;
  for (const r of Array.from(rules)) {
    if (r.style) n += cleanDeclarations(r.style);
    if (r.cssRules) n += cleanRules(r.cssRules);
  }
  return n;
}

function cleanSheet(text) {
  const sheet = new CSSStyleSheet();
  try {
    sheet.replaceSync(text);
  } catch {
    return { text: '', blocked: 1 };
  }
  const blocked = cleanRules(sheet.cssRules) + (text.match(/@import/gi) || []).length;
  return { text: Array.from(sheet.cssRules, (r) => r.cssText).join('\n'), blocked };
}

// Clean hostile HTML (it still runs only in a sandbox without scripts):
// drop active and navigating elements, event handlers and script URLs;
// cid: references become data: URLs of the inline parts; remote references
// are removed and counted (blocked), images from the web (<img src>)
// apart (images): they stay when webImages is true.
async function cleanHtml(html, c, webImages = false) {
  const cids = new Map();
  for (const p of c.parts) if (p.cid) cids.set(cidKey(p.cid), p);
  const doc = new DOMParser().parseFromString(html, 'text/html');
  doc.querySelectorAll(DROP).forEach((e) => e.remove());
  doc.querySelectorAll(UNWRAP).forEach((e) => e.replaceWith(...e.childNodes));
  let blocked = 0, images = 0;
  for (const st of doc.querySelectorAll('style')) {
    const css = cleanSheet(st.textContent);
    blocked += css.blocked;
    st.textContent = css.text;
  }
  for (const el of doc.querySelectorAll('[style]')) blocked += cleanDeclarations(el.style);
  for (const el of doc.querySelectorAll('*')) {
    for (const a of Array.from(el.attributes)) {
      const name = a.name.toLowerCase();
      if (name.startsWith('on')) {
        el.removeAttribute(a.name);
        continue;
      }
      if (!URL_ATTRS.includes(name)) continue;
      const v = a.value.replace(/[\u0000-\u0020\u007f]+/g, '');
      if (/^cid:/i.test(v)) {
        const p = cids.get(cidKey(v));
        if (p && name !== 'href') {
          const type = /^image\/[a-z0-9.+-]+$/i.test(p.type) ? p.type.toLowerCase() : 'application/octet-stream';
          el.setAttribute(a.name, bytesToDataUrl(await c.blob(p.blob), type));
        } else {
          el.removeAttribute(a.name);
        }
      } else if (name === 'href' && /^(a|area)$/i.test(el.localName) && /^https?:/i.test(v)) {
        // A web link opens the key server's page that shows where it
        // really goes, in a new tab without opener or referrer: never
        // inside the message's frame.
        el.setAttribute('href', '/leave?to=' + encodeURIComponent(v));
        el.setAttribute('target', '_blank');
        el.setAttribute('rel', 'noopener noreferrer');
      } else if (name === 'href' && /^(a|area)$/i.test(el.localName) && /^mailto:/i.test(v)) {
        el.setAttribute('target', '_blank');
        el.setAttribute('rel', 'noopener noreferrer');
      } else if (name === 'href' && /^(a|area)$/i.test(el.localName) && /^#/.test(v)) {
        // A place in the message itself.
      } else if (/^data:image\//i.test(v) && name !== 'href') {
        // Embedded images are allowed by the frame's CSP.
      } else if (name === 'src' && el.localName === 'img' && /^https?:\/\//i.test(v)) {
        images++;
        if (!webImages) el.removeAttribute(a.name);
      } else {
        if (/^(https?:)?\/\//i.test(v)) blocked++;
        el.removeAttribute(a.name);
      }
    }
  }
  // Every other link (no href of the kinds above, or a target of its own)
  // must not navigate the frame: the target is set once for all.
  for (const a of doc.querySelectorAll('a[target], area[target]')) {
    if (!/^_blank$/i.test(a.getAttribute('target'))) a.removeAttribute('target');
  }
  return { html: doc.documentElement.outerHTML, blocked, images };
}

// Senders whose images from the web this browser shows without asking
// (the reader's choice, kept on this device): lower-case addresses.
const IMAGES_KEY = 'sp-images-from';
const imageSenders = {
  all() {
    try {
      const v = JSON.parse(localStorage.getItem(IMAGES_KEY) || '[]');
      return Array.isArray(v) ? v.filter((x) => typeof x === 'string') : [];
    } catch {
      return [];
    }
  },
  has(from) {
    return !!from && this.all().includes(from);
  },
  set(from, on) {
    const rest = this.all().filter((x) => x !== from);
    try {
      localStorage.setItem(IMAGES_KEY, JSON.stringify(on ? [...rest, from].slice(-500) : rest));
    } catch { /* storage full or off: the choice holds for this page */ }
  },
};

// The message's HTML in its frame, with or without images from the web,
// and the notice above it: what is blocked and the reader's choices.
// from is the sender the signed header names (lower case).
async function showHtml(html, c, from, web) {
  const cleaned = await cleanHtml(html, c, web);
  const frame = document.createElement('iframe');
  // Links open (in a new tab, through /leave) but scripts never run.
  frame.setAttribute('sandbox', 'allow-popups allow-popups-to-escape-sandbox allow-same-origin');
  frame.setAttribute('referrerpolicy', 'no-referrer');
  frame.setAttribute('title', t('js.message_content'));
  frame.className = 'html-body';
  frame.srcdoc = cspMeta(web) + '<meta charset="utf-8">' + FRAME_STYLE + cleaned.html;
  fitFrame(frame);
  const old = $('sp-body').querySelector('iframe.html-body');
  if (old) old.replaceWith(frame);
  else $('sp-body').prepend(frame);
  const notice = $('sp-remote-notice');
  notice.replaceChildren();
  const button = (label, act) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'linkbtn';
    b.textContent = label;
    b.addEventListener('click', act);
    return b;
  };
  if (cleaned.images > 0 && web) {
    notice.append(from && imageSenders.has(from) ? sentence('span', [...parts('js.images_from_shown', { from: bdi(from) }), ' ']) :
      t('js.images_shown') + ' ');
    if (from && imageSenders.has(from)) {
      notice.append(button(t('js.images_stop'), () => {
        imageSenders.set(from, false);
        showHtml(html, c, from, false);
      }));
    }
  } else if (cleaned.images > 0) {
    notice.append(t('js.images_blocked') + ' ',
      button(t('js.images_show'), () => showHtml(html, c, from, true)));
    if (from) {
      notice.append(' ', button(t('js.images_always', { from: from.length > 80 ? from.slice(0, 80) + '\u2026' : from }), () => {
        imageSenders.set(from, true);
        showHtml(html, c, from, true);
      }));
    }
  } else if (cleaned.blocked > 0) {
    notice.append(t('js.remote_blocked'));
  }
  show(notice, cleaned.images > 0 || cleaned.blocked > 0);
}

// The message's frame grows with its content (no gap under a short mail, no
// scrolling inside the frame), and a mail wider than the page (a 600-pixel
// newsletter on a phone) is scaled down to fit.  The frame runs no script,
// so the page measures it: the sandbox allows same-origin access for that
// alone (with scripts also allowed that would undo the sandbox: never add
// allow-scripts).
function fitFrame(frame) {
  const fit = () => {
    const d = frame.contentDocument;
    if (!d || !d.documentElement) return;
    const root = d.documentElement;
    root.style.zoom = '';
    const avail = frame.clientWidth;
    const wide = root.scrollWidth;
    if (avail > 0 && wide > avail + 1) root.style.zoom = String(Math.max(0.3, avail / wide));
    frame.style.height = `${Math.ceil(root.getBoundingClientRect().height * (Number(root.style.zoom) || 1)) + 24}px`;
  };
  frame.addEventListener('load', fit);
  if (typeof ResizeObserver === 'function') {
    let last = 0;
    new ResizeObserver(() => {
      if (frame.clientWidth !== last) {
        last = frame.clientWidth;
        fit();
      }
    }).observe(frame);
  }
}

function addFact(dl, label, value) {
  if (!value) return;
  const dt = document.createElement('dt');
  dt.textContent = label;
  const dd = document.createElement('dd');
  dd.textContent = value;
  dl.append(dt, dd);
}

const objectUrls = [];
window.addEventListener('pagehide', () => objectUrls.forEach((u) => URL.revokeObjectURL(u)));

// A download link whose bytes are made on its first click (make resolves
// to a Uint8Array); the click that made them then starts the download.
function lazyDownload(a, make) {
  let url = null;
  if (!a.getAttribute('href')) a.href = '#';
  a.addEventListener('click', async (ev) => {
    if (url) return;
    ev.preventDefault();
    if (a.dataset.busy) return;
    a.dataset.busy = '1';
    try {
      url = URL.createObjectURL(new Blob([await make()], { type: 'application/octet-stream' }));
      objectUrls.push(url);
      a.href = url;
      // Clicked again in a task of its own: a click started from the
      // keyboard is still being dispatched here, and the browser ignores a
      // click nested in it (Enter would then do nothing).
      setTimeout(() => a.click(), 0);
    } finally {
      delete a.dataset.busy;
    }
  });
}

// bcc: the key server says the reader is a blind copy (the envelope does
// not name them).
async function render(header, c, bcc) {
  const utf8 = new TextDecoder('utf-8');
  $('sp-subject').textContent = c.headers.subject || t('js.no_subject');
  const dl = $('sp-facts');
  dl.replaceChildren();
  addFact(dl, t('js.fact_from'), c.headers.from || header.from);
  addFact(dl, t('js.fact_to'), c.headers.to || header.to.join(', '));
  addFact(dl, t('js.fact_cc'), c.headers.cc);
  if (bcc) addFact(dl, t('js.fact_bcc'), t('js.bcc_you'));
  addFact(dl, t('js.fact_date'), c.headers.date);
  const body = $('sp-body');
  body.replaceChildren();
  let text = null;
  if (c.text !== null) text = utf8.decode(await c.blob(c.text));
  if (c.html !== null) {
    // The sender of the signed header: the one a choice to see its images
    // is remembered for.
    const from = String(header.from || '').trim().toLowerCase();
    await showHtml(utf8.decode(await c.blob(c.html)), c, from, imageSenders.has(from));
    if (text !== null) {
      const det = document.createElement('details');
      const sum = document.createElement('summary');
      sum.textContent = t('js.plain_version');
      const pre = document.createElement('div');
      pre.className = 'text-body';
      pre.textContent = text;
      det.append(sum, pre);
      body.append(det);
    }
  } else if (text !== null) {
    const pre = document.createElement('div');
    pre.className = 'text-body';
    pre.id = 'sp-text';
    pre.textContent = text;
    body.append(pre);
  }
  const list = $('sp-att-list');
  list.replaceChildren();
  const shown = c.parts.filter((p) => !(p.inline && p.cid && c.html !== null));
  for (const [i, p] of shown.entries()) {
    const li = document.createElement('li');
    const a = document.createElement('a');
    // Without the controls that turn text around ("invoice_<RLO>fdp.exe"
    // would show as "invoice_exe.pdf"): the name shown is the name saved.
    const name = String(p.name || '').replace(BIDI_CONTROLS, '') || `attachment-${i + 1}`;
    lazyDownload(a, () => c.blob(p.blob));
    a.download = name;
    a.className = 'download';
    a.dir = 'ltr';
    a.textContent = name;
    const meta = document.createElement('span');
    meta.className = 'att-meta';
    meta.textContent = `${p.type}, ${formatSize(p.size)}`;
    li.append(a, ' ', meta);
    list.append(li);
  }
  show($('sp-attachments'), shown.length > 0);
  if (c.raw.length > 0) {
    // The original .eml is rebuilt only when the reader asks for it.
    lazyDownload($('sp-original-link'), () => spc.rawMessage(c));
    show($('sp-original'), true);
  }
  show($('sp-message'), true);
  performance.mark('sp-shown');
  const subject = $('sp-subject');
  subject.tabIndex = -1;
  subject.focus();
}

// ---- branding ---------------------------------------------------------------

const HEX_COLOUR = /^#[0-9a-fA-F]{6}$/;

// Black or white, whichever reads better on the colour (WCAG contrast).
function inkFor(hex) {
  const lin = (i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const l = 0.2126 * lin(1) + 0.7152 * lin(3) + 0.0722 * lin(5);
  return 1.05 / (l + 0.05) >= (l + 0.05) / 0.05 ? '#ffffff' : '#111111';
}

// A logo address on this site only (the key server serves /orgs/ID/logo;
// the page's CSP allows images of its own origin and nothing remote).
function sameOriginPath(s) {
  if (typeof s !== 'string' || s.length > 300) return null;
  let u;
  try {
    u = new URL(s, location.origin);
  } catch {
    return null;
  }
  if (u.origin !== location.origin || !/^\/[A-Za-z0-9._~/-]*$/.test(u.pathname) || u.pathname.includes('..')) return null;
  return u.pathname + u.search;
}

// The organisation's name, colour and logo in the page's top bar, from
// the key server's answer (brand: {name, colour, logo}).
function applyBrand(brand) {
  if (!brand || typeof brand !== 'object') return;
  const top = $('sp-top');
  const name = typeof brand.name === 'string' ? brand.name.trim().slice(0, 120) : '';
  if (typeof brand.colour === 'string' && HEX_COLOUR.test(brand.colour)) {
    top.style.setProperty('--bar', brand.colour);
    top.style.setProperty('--bar-ink', inkFor(brand.colour));
    top.classList.add('branded');
  }
  const logo = $('sp-brand-logo');
  const src = sameOriginPath(brand.logo);
  if (src) {
    logo.addEventListener('error', () => show(logo, false), { once: true });
    logo.alt = name ? `${name} logo` : 'Logo';
    logo.src = src;
    show(logo, true);
  }
  $('sp-brand-name').textContent = name;
  show($('sp-brand'), !!(name || src));
}

// ---- refusals and sender controls ------------------------------------------

function fromOf(header) {
  return typeof header.from === 'string' && header.from.trim() ? header.from.trim() : '';
}

// The next step of the pages below: ask the sender to send it again.  The
// address comes from the envelope's header (not yet checked: the key
// server gave no key), hence "an address you already know".
function askAgain(header, lead) {
  const from = fromOf(header);
  return from ?
    [lead, ' ', ...parts('js.ask_again_named', { from: bdi(from) })] :
    `${lead} ${t('js.ask_again')}`;
}

// 410: withdrawn by the sender, expired (or shredded), or gone otherwise.
function gone(header, reason) {
  if (reason === 'retracted') {
    fatal(t('js.withdrawn'), askAgain(header, t('js.if_still_need')), [], 'gone');
  } else if (reason === 'expired') {
    fatal(t('js.expired'), askAgain(header, t('js.expired_lead')), [], 'gone');
  } else {
    fatal(t('js.gone'), askAgain(header, t('js.if_still_need')), [], 'gone');
  }
}

// 423: too many wrong answers to the sender's question.
function locked(header) {
  fatal(t('js.locked'),
    [t('js.locked_detail'), ' ', ...[].concat(askAgain(header, t('js.to_read_it')))], [], 'gone');
}

function triesText(n) {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) return '';
  return n === 1 ? t('js.tries_one') : t('js.tries_many', { n });
}

// 409: the sender's verification question.  Resolves with 'ok' (the key
// server accepted the answer), 'locked' (423) or 'login' (the session
// ended).
function askVerify(v, session) {
  return new Promise((resolve) => {
    const card = $('sp-verify');
    const form = $('sp-verify-form');
    const answer = $('sp-answer');
    const submit = $('sp-verify-submit');
    const err = $('sp-verify-error');
    const hint = typeof v.hint === 'string' ? v.hint.trim() : '';
    $('sp-verify-hint').textContent = hint ||
      t('js.no_question');
    $('sp-verify-tries').textContent = triesText(v.tries_left);
    show($('sp-verify-tries'), true);
    const error = (text) => {
      err.textContent = text;
      show(err, !!text);
    };
    error('');
    answer.value = '';
    const finish = (how) => {
      form.removeEventListener('submit', onSubmit);
      answer.value = '';
      error('');
      show(card, false);
      resolve(how);
    };
    const onSubmit = async (ev) => {
      ev.preventDefault();
      error('');
      if (!answer.value.trim()) {
        error(t('js.type_answer'));
        answer.focus();
        return;
      }
      submit.disabled = true;
      const r = await api('POST', `/api/v1/envelopes/${encodeURIComponent(ID)}/verify`, { answer: answer.value }, session.csrf);
      submit.disabled = false;
      if (r.status === 200) return finish('ok');
      if (r.status === 423) return finish('locked');
      if (r.status === 401) return finish('login');
      if (r.status === 403 && typeof r.data.tries_left === 'number') {
        const left = triesText(r.data.tries_left);
        // The error says how many tries are left; the line below the field
        // would only repeat it.
        $('sp-verify-tries').textContent = left;
        show($('sp-verify-tries'), false);
        error(`${t('js.wrong_answer')} ${left}`.trim());
      } else if (r.status === 429) error(t('js.too_many_attempts'));
      else if (r.status === 503) error(t('js.busy'));
      else error(r.data.error ? t('js.answer_unchecked_why', { why: r.data.error }) : t('js.answer_unchecked'));
      answer.select();
      answer.focus();
    };
    form.addEventListener('submit', onSubmit);
    show(card, true);
    answer.focus();
  });
}

// ---- the whole flow --------------------------------------------------------

// What this page claims to open: the SHA-256 of the envelope's header and
// ciphertext (a promise), sent with every release, so that the key server
// releases the key part, and records a reading, only for the envelope it
// recorded: a page of another site that posts a made-up envelope with a
// real id gets nothing and makes no read notice.  {} in copy mode (the
// key server's own copy).
let claim = Promise.resolve({});

// What shows the sign-up that this page holds the message's mail: the mail
// part's holder tag (from the envelope file, or the mail's link) and, with
// the envelope file, its ciphertext's SHA-256.  The key server then mails
// the code even when strangers used up the address's mails for the hour.
let heldEnvelope = null;
async function heldProof() {
  const env = heldEnvelope;
  const mp = env ? env.mp : LINK && LINK.mp;
  const out = { holder: mp ? await spc.holderTag(mp) : null };
  if (env && env.payload instanceof Uint8Array && env.payload.length) {
    env.ctDigest = env.ctDigest || spc.digestOf(env.payload);
    out.ct_sha256 = spc.hexOf(await env.ctDigest);
  }
  return out;
}

async function release(session) {
  return api('POST', `/api/v1/envelopes/${encodeURIComponent(ID)}/release`, await claim, session.csrf);
}

// The page for a refusal of the key server (the release, the copy): 403,
// 404, 410, 423.  header is the envelope's (or {} before the copy came).
// Returns true when r was one of them and its page is shown.
function refused(r, header, session) {
  if (r.status === 403 && r.data.reason === 'not-genuine') {
    const what = Array.isArray(r.data.mismatch) ? r.data.mismatch : [];
    notGenuine(header.org, what.length ? what.map((w) => t(w === 'header' ? 'js.r_header' : 'js.r_ct'))
      : [t('js.r_no_record')]);
  } else if (r.status === 403) {
    fatal(t('js.not_for_you'), parts('js.not_for_you_detail', { email: bdi(session.email) }));
  } else if (r.status === 404 && COPY) {
    fatal(t('js.no_such_link'), t('js.no_such_link_detail'), [], 'gone');
  } else if (r.status === 404) {
    notGenuine(header.org, [t('js.r_no_record')], header.from || '');
  } else if (r.status === 410) {
    gone(header, r.data.reason);
  } else if (r.status === 423) {
    locked(header);
  } else {
    return false;
  }
  return true;
}

// Sign in (prefilled with prefill), then ask the key server for its key part,
// answering the sender's question first when it asks one.  Resolves with
// {session, record} (the release answer), or null when a page ended the flow.
async function obtainKey(header, prefill) {
  registerFor(prefill, ID, heldProof);
  if (header.level === 'low') {
    // low: no sign-in needed (docs/decisions/0015-remembered-devices.md)
    const r = await releaseUnsigned(ID, await claim);
    if (r && r.status !== 200) {
      refused(r, header, { email: '' });
      return null;
    }
    if (r) {
      show($('sp-login'), false);
      return { session: null, record: r.data };
    }
  }
  let session = await ensureSession(prefill);
  let r;
  for (;;) {
    progress(t('js.fetching_key'));
    r = await release(session);
    let how = r.status === 401 ? 'login' : null;
    if (r.status === 401 && r.data.reason === 'password') passwordAsked();
    if (r.status === 409 && r.data.verify && typeof r.data.verify === 'object') {
      progress(null);
      how = await askVerify(r.data.verify, session);
      if (how === 'locked') {
        locked(header);
        return null;
      }
    }
    if (how === 'login') {
      progress(null);
      session = await askLogin(prefill);
    }
    if (how === null) break;
  }
  if (refused(r, header, session)) return null;
  if (r.status !== 200 || typeof r.data.server_part !== 'string') {
    fatal(t('js.cannot_open'), r.data.error || t('js.no_answer'));
    return null;
  }
  return { session, record: r.data };
}

// The reasons of spc.checkRecord (compareRecord's among them), as sentences.
// The header checked there is the one decrypted: the same bytes.
const REASONS = {
  'id': 'js.r_id',
  'organisation': 'js.r_org',
  'sender': 'js.r_sender',
  'recipients': 'js.r_recipients',
  'format': 'js.r_format',
  'header digest': 'js.r_header',
  'ciphertext digest': 'js.r_ct',
  'signing key': 'js.r_key',
  'signature': 'js.r_sig',
};
const reasonText = (r) => (Object.hasOwn(REASONS, r) ? t(REASONS[r]) : String(r));

// The checks of the envelope against the key server's record and the
// signature (spc.checkRecord).  Resolves with a list of reasons (empty
// when genuine), or null when this browser cannot check a signature.
async function checks(header, headerBytes, env, record) {
  const fmt = record.format === undefined || record.format === null ? 1 : record.format;
  if (fmt !== header.v) return [t(REASONS.format)];
  try {
    const reasons = await spc.checkRecord(header, headerBytes, env.payload, env.sig || '', record, env.ctDigest);
    return Array.isArray(reasons) ? reasons.map(reasonText) : [t('js.r_unchecked')];
  } catch (e) {
    if (e && e.kind === 'unsupported') return null;
    return [t('js.r_unchecked')];
  }
}

// The envelope's header (env.header, base64), parsed; null when it is not
// one of this page's (the page says so).
function headerOf(env) {
  let header, headerBytes;
  try {
    headerBytes = spc.b64decode(env.header);
    header = spc.parseHeader(headerBytes);
  } catch {
    notGenuine('', [t('js.r_unreadable')], '');
    return null;
  }
  if (header.id !== ID) {
    notGenuine(header.org, [t('js.r_mismatch')]);
    return null;
  }
  return { header, headerBytes };
}

// Check the envelope env {header, payload, sig, mp} against the key
// server's record, decrypt it and show it.  undecryptable(e) shows the page
// for a decryption that failed although every check passed.  Resolves with
// the opened envelope ({header, container}) when the message is shown.
async function checkAndShow(env, { header, headerBytes }, record, undecryptable, who = '') {
  // Every check before anything is decrypted: a forged envelope shows
  // nothing at all.
  progress(t('js.checking'));
  const reasons = await checks(header, headerBytes, env, record);
  if (reasons === null) {
    fatal(t('js.no_sig_check'), t('js.no_sig_check_detail'));
    return false;
  }
  if (reasons.length) {
    notGenuine(header.org, reasons);
    return false;
  }
  performance.mark('sp-checked');
  progress(t('js.decrypting'));
  let opened;
  try {
    opened = await (env.opened ||
      spc.openEnvelope({ headerB64: env.header, payload: env.payload, mailPart: env.mp, serverPart: record.server_part }));
  } catch (e) {
    undecryptable(e);
    return false;
  }
  performance.mark('sp-decrypted');
  try {
    progress(null);
    applyBrand(record.brand);
    const org = bdi(opened.header.org);
    if (opened.header.v === 2) {
      verdict('genuine', parts('js.genuine', { org }));
    } else {
      verdict('unsigned', parts('js.unsigned', { org }), t('js.unsigned_detail'));
    }
    await render(opened.header, opened.container, record.bcc === true);
  } catch {
    notGenuine(header.org, [t('js.r_damaged')]);
    return false;
  }
  // This device opens it again from the message list.
  keys.keep(ID, env.mp, who);
  return opened;
}

async function openWith(env) {
  // Marks for the reader's own timing (bench/open.mjs reads them).
  performance.mark('sp-envelope');
  // The ciphertext's digest (for the checks) is computed while the reader
  // signs in and the key is fetched; nothing is shown before the checks.
  env.ctDigest = env.ctDigest || spc.digestOf(env.payload);
  env.ctDigest.catch(() => { /* checkRecord reports it */ });
  const h = headerOf(env);
  if (!h) return;
  claim = Promise.all([spc.sha256Hex(h.headerBytes), env.ctDigest])
    .then(([hd, cd]) => ({ header_sha256: hd, ct_sha256: spc.hexOf(cd) }))
    .catch(() => ({}));
  progress(null);
  const got = await obtainKey(h.header, soleRecipient(h.header));
  if (!got) return;
  const opened = await checkAndShow(env, h, got.record, () =>
    notGenuine(h.header.org, [t('js.r_nodecrypt')]), got.session ? got.session.email : '');
  if (opened) replyOffer(got.session, opened);
}

// ---- copy mode: the key server's copy, the link's key ----------------------

const FROM_MAIL = () => t('js.from_mail');

function missingKey() {
  fatal(t('js.missing_key'),
    [t('js.missing_key_detail'), ' ', FROM_MAIL(), ' ', ...parts('js.opens_again_from', { list: listLink() })], [], 'gone');
}

function notMine() {
  fatal(t('js.not_mine'), `${t('js.not_mine_detail')} ${FROM_MAIL()}`, [], 'gone');
}

function listLink() {
  const a = document.createElement('a');
  a.href = '/messages';
  a.textContent = t('js.message_list');
  return a;
}

// The copy's ciphertext (size bytes), streamed into one buffer of that size
// on this page (when the worker's early download was not used).  Resolves
// {payload} or {status, data} (the key server's refusal), or {error} (the
// download broke off or had another length).
async function download(size) {
  let res;
  try {
    res = await fetch(`/api/v1/envelopes/${encodeURIComponent(ID)}/copy/data`, { credentials: 'same-origin' });
  } catch {
    return { error: t('js.unreachable') };
  }
  if (res.status !== 200 || !res.body) {
    let data = {};
    try {
      data = await res.json();
    } catch { /* not JSON */ }
    return { status: res.status, data: data && typeof data === 'object' ? data : {} };
  }
  const payload = new Uint8Array(size);
  const reader = res.body.getReader();
  let at = 0, shown = -1;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (value.length > size - at) {
        reader.cancel().catch(() => {});
        return { error: t('js.too_much') };
      }
      payload.set(value, at);
      at += value.length;
      const pct = Math.floor((at * 10) / size) * 10;
      if (pct !== shown) {
        shown = pct;
        progress(t('js.downloading', { pct }));
      }
    }
  } catch {
    return { error: t('js.download_broke') };
  }
  if (at !== size) return { error: t('js.download_broke') };
  return { payload };
}

const copyPath = () => `/api/v1/envelopes/${encodeURIComponent(ID)}/copy`;
const copyMetaOk = (m) => typeof m.header === 'string' && m.header.length <= MAX_HEADER_B64 &&
  Number.isSafeInteger(m.size) && m.size >= spc.TAG && m.size <= spc.MAX_PAYLOAD;

// The copy asked for at once, before the sign-in is known and while the key
// is fetched: its description (here) and its bytes (in a worker,
// sp-copy-worker.js, which decrypts them as they arrive once it has the
// key); both need the session cookie only.  Returns {meta, data, key(m,
// mp, record), stop()}: meta a promise of the description or null; data a
// promise of {size, ctDigest} once every byte is there, or null; key()
// hands the worker the key and returns a promise of the plaintext (an
// EnvelopeError for a wrong key or forged bytes).  meta or data is null
// when the key server did not hand it out then (fetchCopy asks again,
// saying why).  Nothing is shown from any of it before every check has
// passed.
function earlyCopy() {
  const meta = api('GET', copyPath()).then((r) => (r.status === 200 && copyMetaOk(r.data) ? r.data : null), () => null);
  // The worker sp-early.js started with the page, once; or a new one.
  const pre = window.spEarlyCopy;
  delete window.spEarlyCopy;
  let w = null;
  if (pre && pre.id === ID && pre.worker instanceof Worker) {
    w = pre.worker;
  } else {
    try {
      w = new Worker('/static/sp-copy-worker.js', { type: 'module' });
      w.postMessage({ type: 'fetch', url: `/api/v1/envelopes/${encodeURIComponent(ID)}/copy/data` });
    } catch { /* no module workers: fetchCopy downloads on this page */ }
  }
  if (!w) return { meta, data: Promise.resolve(null), key: () => null, stop: () => {} };
  let gotData, gotPlain;
  const data = new Promise((resolve) => { gotData = resolve; });
  const plain = new Promise((resolve, reject) => { gotPlain = { resolve, reject }; });
  plain.catch(() => { /* the caller awaits it */ });
  let done = 0;
  const stop = () => w.terminate();
  const finish = () => { if (++done === 2) stop(); };
  w.onmessage = (ev) => {
    const m = ev.data;
    if (!m || typeof m !== 'object') return;
    if (m.type === 'progress' && Number.isInteger(m.pct)) {
      progress(t('js.downloading', { pct: m.pct }));
    } else if (m.type === 'data' && m.digest instanceof Uint8Array && m.digest.length === 32) {
      performance.mark('sp-copy-data');
      gotData({ size: m.size, ctDigest: Promise.resolve(m.digest) });
      finish();
    } else if (m.type === 'refused' || m.type === 'error') {
      gotData(null);
      gotPlain.reject(new Error('no copy'));
      stop();
    } else if (m.type === 'plain' && m.pt instanceof Uint8Array) {
      gotPlain.resolve(m.pt);
      finish();
    } else if (m.type === 'fail') {
      gotPlain.reject(new spc.EnvelopeError(m.kind === 'auth' ? 'auth' : 'format', String(m.message)));
      finish();
    }
  };
  w.onerror = () => {
    gotData(null);
    gotPlain.reject(new Error('no worker'));
  };
  if (w === (pre && pre.worker)) pre.queued.forEach((ev) => w.onmessage(ev));
  const key = (m, mp, record) => {
    w.postMessage({ type: 'key', headerB64: m.header, size: m.size, mailPart: mp, serverPart: record.server_part });
    return plain;
  };
  return { meta, data, key, stop };
}

// The key server's copy of the envelope: {header, payload, sig, ctDigest,
// early}, or null when a page ended the flow.  early is earlyCopy()'s
// answer: when its description and bytes both came, the copy is its
// (early: true; the bytes stay in the worker, payload is empty and
// ctDigest their digest); otherwise this page asks again and downloads.
async function fetchCopy(session, prefill, early) {
  const [em, ed] = await Promise.all([early.meta, early.data]);
  if (em && ed && ed.size === em.size) {
    return { header: em.header, payload: new Uint8Array(0), sig: sigOf(em.sig), ctDigest: ed.ctDigest, early: true };
  }
  early.stop();
  let r;
  for (;;) {
    progress(t('js.fetching_message'));
    r = await api('GET', copyPath());
    if (r.status !== 401) break;
    progress(null);
    session = await askLogin(prefill);
  }
  if (r.status === 404 && r.data.reason === 'no-copy') {
    fatal(t('js.no_copy'), t('js.no_copy_detail'), [], 'gone');
    return null;
  }
  if (refused(r, {}, session)) return null;
  const m = r.data;
  if (r.status !== 200 || !copyMetaOk(m)) {
    fatal(t('js.cannot_open'), m.error ? t(m.error) : t('js.no_answer'));
    return null;
  }
  const d = await download(m.size);
  if (d.status !== undefined && refused(d, {}, session)) return null;
  if (!d.payload) {
    fatal(t('js.cannot_open'), d.error || d.data.error || t('js.no_answer'));
    return null;
  }
  return { header: m.header, payload: d.payload, sig: sigOf(m.sig), early: false };
}

async function openCopy() {
  if (!spc.validId(ID)) {
    fatal(t('js.link_invalid'), FROM_MAIL());
    return;
  }
  const fromLink = LINK.mp !== null;
  const mp = fromLink ? LINK.mp : await keys.recall(ID);
  if (!mp) {
    missingKey();
    return;
  }
  progress(null);
  // The copy's description and bytes are asked for beside the sign-in and
  // the key's release; its decryption starts with the key.
  let early = earlyCopy();
  registerFor(LINK.to, ID, heldProof);
  await ensureSession(LINK.to);
  const got = await obtainKey({}, LINK.to);
  if (!got) {
    early.stop();
    return;
  }
  // Asked before the reader signed in: ask again now.
  if (!await early.meta) {
    early.stop();
    early = earlyCopy();
  }
  const em = await early.meta;
  const plain = em ? early.key(em, mp, got.record) : null;
  const copy = await fetchCopy(got.session, LINK.to, early);
  if (!copy) return;
  const h = headerOf(copy);
  if (!h) return;
  performance.mark('sp-copy-key');
  // The worker's plaintext is of the very bytes and header checked (the
  // early copy's); checkAndShow uses it only after every check passed.
  const env = { ...copy, mp, opened: copy.early ? plain.then((pt) => spc.openedOf(copy.header, pt)) : null };
  if (env.opened) env.opened.catch(() => { /* checkAndShow awaits it */ });
  const opened = await checkAndShow(env, h, got.record, (e) => {
    if (!(e instanceof spc.EnvelopeError) || e.kind !== 'auth') {
      notGenuine(h.header.org, [t('js.r_damaged')]);
    } else if (fromLink) {
      notMine();
    } else {
      // The key this device kept does not open it: forget it.
      keys.forgetOne(ID);
      missingKey();
    }
  }, got.session ? got.session.email : '');
  if (opened) replyOffer(got.session, opened);
}

// Secure Reply needs a session.  A message that opened without one (level
// low, obtainKey) still offers it: with the session this browser has, if
// any, else behind a "Sign in to reply" button that shows the sign-in
// card; the Reply buttons come once the reader has signed in, with the
// focus on the first of them.
async function replyOffer(session, opened) {
  if (session) {
    offerReply(ID, session, opened);
    return;
  }
  const now = await api('GET', '/api/v1/session');
  if (now.status === 200 && typeof now.data.csrf === 'string') {
    offerReply(ID, await ensureSession(''), opened);
    return;
  }
  const article = $('sp-message');
  if (!article || $('sp-reply-signin')) return;
  const bar = document.createElement('div');
  bar.className = 'actions reply-actions';
  const ask = document.createElement('button');
  ask.type = 'button';
  ask.className = 'btn secondary';
  ask.id = 'sp-reply-signin';
  ask.textContent = t('js.reply.sign_in_to_reply');
  ask.addEventListener('click', async () => {
    ask.disabled = true;
    // the card that waited since the page began (hidden when the message
    // opened without it), or a new one
    const pending = ensureSession(soleRecipient(opened.header));
    show($('sp-login'), true);
    ($('sp-email').value ? $('sp-password') : $('sp-email')).focus();
    const s = await pending;
    bar.remove();
    if (!s) return;
    await offerReply(ID, s, opened);
    const first = $('sp-reply') || $('sp-reply-all') || $('sp-forward');
    if (first) first.focus();
  });
  bar.append(ask);
  article.append(bar);
}

// A header's one recipient, for the sign-in card ('' when it has several).
const soleRecipient = (header) =>
  (header && Array.isArray(header.to) && header.to.length === 1 ? header.to[0] : '');

// The envelope's one recipient, for the sign-in card ('' when several or
// unreadable: openWith() reports a bad header).
function cardAddress(env) {
  try {
    const h = spc.parseHeader(spc.b64decode(env.header));
    return h.id === ID ? soleRecipient(h) : '';
  } catch {
    return '';
  }
}

// Whether the envelope's header says level low (false when unreadable).
function lowLevel(env) {
  try {
    return spc.parseHeader(spc.b64decode(env.header)).level === 'low';
  } catch {
    return false;
  }
}

async function start() {
  // Marks for the reader's own timing (bench/open.mjs reads them).
  performance.mark('sp-start');
  mountSignin(t('js.signin_title'));
  if (COPY) {
    await openCopy();
    return;
  }
  const online = fromPage();
  if (online && online.error === 'damaged') {
    notGenuine('', [t('js.r_file_damaged')], '');
    return;
  }
  if (online && online.error) {
    fatal(t('js.link_incomplete_title'), online.error);
    return;
  }
  if (online && !ID) {
    try {
      ID = spc.parseHeader(spc.b64decode(online.header)).id;
    } catch {
      notGenuine('', [t('js.r_unreadable')], '');
      return;
    }
  }
  if (!spc.validId(ID)) {
    fatal(t('js.link_invalid'), t('js.open_securedoc_click'));
    return;
  }
  let env = online;
  if (!env) {
    if (!window.opener) {
      progress(null);
      verdict('info', t('js.open_securedoc'), t('js.open_securedoc_detail'));
      // Signing in now still helps: the session is kept for the envelope.
      ensureSession('');
      return;
    }
    progress(t('js.waiting'));
    // Sign-in and the envelope's arrival go on at the same time.
    const sess = ensureSession('');
    env = await fromOpener();
    // The envelope is here: nothing waits for it any more.
    progress(null);
    if (env.damaged) {
      notGenuine('', [t('js.r_file_damaged')], '');
      return;
    }
    // The card, still waiting, learns whom the envelope is for, and that
    // this page holds it (for the sign-up).
    const to = cardAddress(env);
    heldEnvelope = env;
    registerFor(to, ID, heldProof);
    ensureSession(to);
    // a message of level low opens without the sign-in (obtainKey)
    if (!lowLevel(env)) await sess;
  }
  await openWith(env);
}

start().catch(() => fatal(t('js.went_wrong'), t('js.reload')));
