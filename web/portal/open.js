// open.js - the key server's open page (GET /open?id=ID and POST /online):
// receives the envelope from the securedoc.html window that opened it (or
// from the page itself for the open-online form), signs the recipient in,
// asks the key server for its key part, decrypts in the browser and shows
// the message.  docs/open-protocol.md describes the exchange.
// SECURITY: the envelope is untrusted.  Messages are accepted only from
// window.opener and only of the expected shape and size.  The message HTML
// is hostile: it is cleaned, then shown only in an <iframe sandbox=""> (no
// scripts, opaque origin) under a strict CSP of its own.  The mail key part
// in the URL fragment is removed from the address bar at once.
import * as spc from './sp-crypto.js';
import * as wa from './sp-webauthn.js';

const $ = (id) => document.getElementById(id);
const main = $('main');
// The page's envelope id: from the URL (GET /open?id=ID) or, for POST
// /online, from the header in the page (checked again after decryption).
let ID = main.dataset.id || new URLSearchParams(location.search).get('id') || '';
const PAGE_CSRF = main.dataset.csrf || '';
const MAX_HEADER_B64 = 100000;

const state = { session: null, envelope: null };

function show(el, on = true) {
  el.hidden = !on;
}

function progress(text) {
  const p = $('sp-progress');
  if (text === null) {
    show(p, false);
    return;
  }
  $('sp-progress-text').textContent = text;
  show(p, true);
}

function verdict(kind, title, detail) {
  const v = $('sp-verdict');
  v.className = 'card verdict ' + kind;
  v.replaceChildren();
  const h = document.createElement(kind === 'genuine' ? 'p' : 'h1');
  h.className = 'verdict-title';
  h.textContent = title;
  v.append(h);
  if (detail) {
    const p = document.createElement('p');
    p.textContent = detail;
    v.append(p);
  }
  v.setAttribute('role', kind === 'genuine' ? 'status' : 'alert');
  v.tabIndex = -1;
  show(v, true);
  if (kind === 'bad') v.focus();
}

function fatal(title, detail) {
  progress(null);
  show($('sp-login'), false);
  show($('sp-message'), false);
  $('sp-body').replaceChildren();
  verdict('bad', title, detail);
}

const NOT_GENUINE = 'This envelope is not genuine or was damaged; nothing was shown';

// ---- receiving the envelope ------------------------------------------------

function checkEnvelope(d) {
  if (!d || typeof d !== 'object' || d.type !== 'sealpost-envelope' || d.v !== 1) return null;
  if (d.id !== ID || typeof d.header !== 'string' || d.header.length > MAX_HEADER_B64) return null;
  if (typeof d.mp !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(d.mp)) return null;
  if (!(d.payload instanceof ArrayBuffer) || d.payload.byteLength > spc.MAX_PAYLOAD) return null;
  return { header: d.header, mp: d.mp, payload: new Uint8Array(d.payload) };
}

function fromOpener() {
  return new Promise((resolve) => {
    const opener = window.opener;
    let tries = 0;
    const onMessage = (ev) => {
      if (ev.source !== opener) return;
      const env = checkEnvelope(ev.data);
      if (!env) return;
      window.removeEventListener('message', onMessage);
      clearInterval(timer);
      resolve(env);
    };
    window.addEventListener('message', onMessage);
    // The envelope is a file:// page (origin "null"): '*' is the only target
    // that reaches it.  This message carries nothing secret.
    const ping = () => {
      try {
        opener.postMessage({ type: 'sealpost-ready', id: ID }, '*');
      } catch { /* the opener went away */ }
    };
    ping();
    const timer = setInterval(() => {
      tries++;
      if (tries <= 3) ping();
      if (tries === 10) {
        progress('Still waiting for the envelope. Go back to your securedoc.html file and click Open again.');
      }
    }, 2000);
  });
}

function fromPage() {
  const header = $('sp-online-header').value;
  const payloadB64 = $('sp-online-payload').value;
  if (!header.trim() || !payloadB64.trim()) return null;
  const m = /(?:^#|&)mp=([A-Za-z0-9_-]{43})(?:&|$)/.exec(location.hash);
  // The mail key part must not stay in the address bar or the history.
  history.replaceState(null, '', location.pathname + location.search);
  $('sp-online-payload').value = '';
  if (!m) return { error: 'The link is incomplete: its key part (after #) is missing. Open the envelope file again.' };
  let payload;
  try {
    payload = spc.b64decode(payloadB64);
  } catch {
    return { error: NOT_GENUINE };
  }
  return { header, mp: m[1], payload };
}

// ---- the key server's API --------------------------------------------------

async function api(method, path, body, csrf) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (csrf) headers['X-CSRF-Token'] = csrf;
  let r;
  try {
    r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin', cache: 'no-store' });
  } catch {
    return { status: 0, data: { error: 'The key server cannot be reached. Check your connection and try again.' } };
  }
  let data = {};
  try {
    data = await r.json();
  } catch { /* empty or not JSON */ }
  return { status: r.status, data: data && typeof data === 'object' ? data : {} };
}

function signedIn(s) {
  state.session = s;
  $('sp-who-email').textContent = 'Signed in as ' + s.email;
  show($('sp-who'), true);
}

// An error under the sign-in form; link {href, text} adds a link after it
// (a path on this site only).
function loginError(text, link) {
  const e = $('sp-login-error');
  e.replaceChildren(text || '');
  if (text && link && typeof link.href === 'string' && /^\/[A-Za-z0-9/_-]*$/.test(link.href) && !link.href.startsWith('//')) {
    const a = document.createElement('a');
    a.href = link.href;
    a.target = '_blank';
    a.rel = 'noopener';
    a.textContent = link.text;
    e.append(' ', a);
  }
  show(e, !!text);
}

function secondError(text) {
  const e = $('sp-second-error');
  e.textContent = text;
  show(e, !!text);
}

const TOO_LONG = 'This sign-in took too long. Please sign in again.';

// The sign-in card: the password step, then (when the account has one) the
// second factor: a code from an authenticator app, a recovery code or a
// passkey.  Resolves with the session.
function askLogin(prefill) {
  return new Promise((resolve) => {
    const form = $('sp-login-form');
    const email = $('sp-email');
    const pw = $('sp-password');
    const submit = $('sp-login-submit');
    const second = $('sp-second');
    const sform = $('sp-second-form');
    const code = $('sp-code');
    const recovery = $('sp-recovery');
    const ssubmit = $('sp-second-submit');
    const pkBtn = $('sp-second-passkey');
    let mfa = null;
    if (prefill && !email.value) email.value = prefill;

    const passwordStep = (error) => {
      mfa = null;
      code.value = '';
      recovery.value = '';
      secondError('');
      show(second, false);
      show(form, true);
      loginError(error || '');
      (email.value ? pw : email).focus();
    };
    const done = (data) => {
      pw.value = '';
      code.value = '';
      recovery.value = '';
      mfa = null;
      form.removeEventListener('submit', onSubmit);
      sform.removeEventListener('submit', onSecond);
      pkBtn.removeEventListener('click', onPasskey);
      $('sp-second-back').removeEventListener('click', onBack);
      show(second, false);
      show(form, true);
      show($('sp-login'), false);
      signedIn({ email: data.email || email.value.trim(), csrf: data.csrf });
      resolve(state.session);
    };
    const secondStep = (sf) => {
      const methods = Array.isArray(sf.methods) ? sf.methods : [];
      const passkey = methods.includes('passkey') && wa.available();
      mfa = { token: sf.token, methods };
      pw.value = '';
      show(form, false);
      loginError('');
      secondError('');
      show($('sp-code-field'), methods.includes('totp'));
      const rec = $('sp-recovery-field');
      show(rec, methods.includes('recovery'));
      // With no code from an app, the recovery code is the form's field.
      rec.open = !methods.includes('totp');
      show($('sp-second-passkey-row'), passkey);
      show(ssubmit, methods.includes('totp') || methods.includes('recovery'));
      show(second, true);
      if (!passkey && !methods.includes('totp') && !methods.includes('recovery')) {
        secondError('Your account needs a passkey to sign in, and this browser cannot use one. Try another browser or device.');
      }
      if (methods.includes('totp')) code.focus();
      else if (passkey) pkBtn.focus();
      else recovery.focus();
    };
    // The answer of a second-step attempt.
    const secondAnswer = (r, what) => {
      if (r.status === 200 && typeof r.data.csrf === 'string') {
        done(r.data);
        return;
      }
      if (r.status === 401 && /too long/.test(String(r.data.error || ''))) passwordStep(TOO_LONG);
      else if (r.status === 401 && what === 'recovery') secondError('That recovery code is not right or was already used.');
      else if (r.status === 401 && what === 'passkey') secondError('This passkey was not accepted. Try again, or use another way.');
      else if (r.status === 401) secondError('That code is not right. Type the code your app shows now.');
      else if (r.status === 429) secondError('Too many attempts. Please wait a few minutes and try again.');
      else if (r.status === 503) secondError('The key server is busy right now. Please try again in a moment.');
      else secondError(r.data.error ? `Signing in failed: ${r.data.error}.` : 'Signing in failed. Please try again.');
    };

    const onSubmit = async (ev) => {
      ev.preventDefault();
      loginError('');
      if (!email.value.trim() || !pw.value) {
        loginError('Enter your email address and your password.');
        return;
      }
      submit.disabled = true;
      submit.textContent = 'Signing in...';
      const r = await api('POST', '/api/v1/session', { email: email.value.trim(), password: pw.value }, PAGE_CSRF);
      submit.disabled = false;
      submit.textContent = 'Sign in';
      if (r.status === 200 && typeof r.data.csrf === 'string') {
        done(r.data);
        return;
      }
      const sf = r.data.second_factor;
      if (r.status === 200 && sf && typeof sf === 'object' && typeof sf.token === 'string') {
        secondStep(sf);
        return;
      }
      if (r.status === 401) {
        loginError('Wrong email address or password. If you registered recently, confirm your address with the link we mailed you first.');
      } else if (r.status === 503) loginError('The key server is busy right now. Please try again in a moment.');
      else if (r.status === 429) {
        loginError(r.data.error ? `Too many attempts: ${r.data.error.replace(/^too many failed attempts: /i, '')}.` :
          'Too many attempts. Please wait a while and try again.',
        typeof r.data.signin_link === 'string' ? { href: r.data.signin_link, text: 'Sign in with a link by mail instead' } : null);
      } else loginError(r.data.error || 'Signing in failed. Please try again.');
      pw.focus();
    };
    const onSecond = async (ev) => {
      ev.preventDefault();
      if (!mfa) return;
      secondError('');
      const c = code.value.replace(/\s+/g, '');
      const rc = recovery.value.trim();
      let body;
      if (c && mfa.methods.includes('totp')) body = { token: mfa.token, code: c };
      else if (rc) body = { token: mfa.token, recovery: rc };
      else {
        secondError(mfa.methods.includes('totp') ? 'Enter the code from your authenticator app.' : 'Enter one of your recovery codes.');
        (mfa.methods.includes('totp') ? code : recovery).focus();
        return;
      }
      ssubmit.disabled = true;
      const r = await api('POST', '/api/v1/session/mfa', body, PAGE_CSRF);
      ssubmit.disabled = false;
      secondAnswer(r, body.code ? 'code' : 'recovery');
      if (r.status !== 200 && mfa) (body.code ? code : recovery).select();
    };
    const onPasskey = async () => {
      if (!mfa) return;
      const token = mfa.token;
      secondError('');
      pkBtn.disabled = true;
      try {
        const ch = await api('POST', '/api/v1/session/mfa/challenge', { token }, PAGE_CSRF);
        if (ch.status === 401) {
          passwordStep(TOO_LONG);
          return;
        }
        if (ch.status !== 200) {
          secondError(ch.data.error ? `The passkey cannot be used now: ${ch.data.error}.` : 'The passkey cannot be used now. Try again.');
          return;
        }
        let assertion;
        try {
          assertion = await wa.getAssertion(ch.data);
        } catch (e) {
          secondError(wa.explain(e));
          return;
        }
        secondAnswer(await api('POST', '/api/v1/session/mfa', { token, assertion }, PAGE_CSRF), 'passkey');
      } finally {
        pkBtn.disabled = false;
      }
    };
    const onBack = () => passwordStep('');

    form.addEventListener('submit', onSubmit);
    sform.addEventListener('submit', onSecond);
    pkBtn.addEventListener('click', onPasskey);
    $('sp-second-back').addEventListener('click', onBack);
    show($('sp-login'), true);
    passwordStep('');
  });
}

let sessionPromise = null;
function ensureSession(prefill) {
  if (!sessionPromise) sessionPromise = checkSession(prefill);
  else if (prefill && !$('sp-email').value) $('sp-email').value = prefill;
  return sessionPromise;
}

async function checkSession(prefill) {
  const r = await api('GET', '/api/v1/session');
  if (r.status === 200 && typeof r.data.csrf === 'string') {
    signedIn({ email: r.data.email || '', csrf: r.data.csrf });
    return state.session;
  }
  return askLogin(prefill);
}

// ---- rendering ------------------------------------------------------------

const CSP_META = '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; style-src \'unsafe-inline\'">';
const DROP = 'script,iframe,frame,frameset,object,embed,applet,base,link,meta,portal,template,audio,video,source,track';
// Kept for their content, without the element itself.
const UNWRAP = 'form,noscript';
const URL_ATTRS = ['href', 'src', 'action', 'formaction', 'background', 'poster', 'xlink:href', 'lowsrc', 'dynsrc', 'ping', 'srcset', 'cite', 'longdesc', 'usemap', 'manifest', 'data'];

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

// Clean hostile HTML (it still runs only in a sandbox without scripts):
// drop active and navigating elements, event handlers and script URLs;
// cid: references become data: URLs of the inline parts; remote references
// are removed and counted.
async function cleanHtml(html, c) {
  const cids = new Map();
  for (const p of c.parts) if (p.cid) cids.set(cidKey(p.cid), p);
  const doc = new DOMParser().parseFromString(html, 'text/html');
  doc.querySelectorAll(DROP).forEach((e) => e.remove());
  doc.querySelectorAll(UNWRAP).forEach((e) => e.replaceWith(...e.childNodes));
  let blocked = 0;
  const REMOTE_CSS = /url\(\s*['"]?\s*(https?:)?\/\/|@import/i;
  for (const st of doc.querySelectorAll('style')) if (REMOTE_CSS.test(st.textContent)) blocked++;
  for (const el of doc.querySelectorAll('*')) {
    if (REMOTE_CSS.test(el.getAttribute('style') || '')) blocked++;
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
      } else if (name === 'href' && /^(a|area)$/i.test(el.localName) && /^(https?:|mailto:|#)/i.test(v)) {
        // Plain links stay (the sandbox lets nothing navigate anyway).
      } else if (/^data:image\//i.test(v) && name !== 'href') {
        // Embedded images are allowed by the frame's CSP.
      } else {
        if (/^(https?:)?\/\//i.test(v)) blocked++;
        el.removeAttribute(a.name);
      }
    }
  }
  return { html: doc.documentElement.outerHTML, blocked };
}

function addFact(dl, label, value) {
  if (!value) return;
  const dt = document.createElement('dt');
  dt.textContent = label;
  const dd = document.createElement('dd');
  dd.textContent = value;
  dl.append(dt, dd);
}

function formatSize(n) {
  if (n < 1024) return `${n} bytes`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

const objectUrls = [];
window.addEventListener('pagehide', () => objectUrls.forEach((u) => URL.revokeObjectURL(u)));

async function render(header, c) {
  const utf8 = new TextDecoder('utf-8');
  $('sp-subject').textContent = c.headers.subject || '(no subject)';
  const dl = $('sp-facts');
  dl.replaceChildren();
  addFact(dl, 'From', c.headers.from || header.from);
  addFact(dl, 'To', c.headers.to || header.to.join(', '));
  addFact(dl, 'Cc', c.headers.cc);
  addFact(dl, 'Date', c.headers.date);
  const body = $('sp-body');
  body.replaceChildren();
  let text = null;
  if (c.text !== null) text = utf8.decode(await c.blob(c.text));
  if (c.html !== null) {
    const cleaned = await cleanHtml(utf8.decode(await c.blob(c.html)), c);
    const frame = document.createElement('iframe');
    frame.setAttribute('sandbox', '');
    frame.setAttribute('referrerpolicy', 'no-referrer');
    frame.setAttribute('title', 'Message content');
    frame.className = 'html-body';
    frame.srcdoc = CSP_META + '<meta charset="utf-8">' + cleaned.html;
    body.append(frame);
    show($('sp-remote-notice'), cleaned.blocked > 0);
    if (text !== null) {
      const det = document.createElement('details');
      const sum = document.createElement('summary');
      sum.textContent = 'Plain text version';
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
    const bytes = await c.blob(p.blob);
    const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
    objectUrls.push(url);
    a.href = url;
    a.download = p.name || `attachment-${i + 1}`;
    a.className = 'download';
    a.textContent = p.name || `attachment-${i + 1}`;
    const meta = document.createElement('span');
    meta.className = 'att-meta';
    meta.textContent = `${p.type}, ${formatSize(p.size)}`;
    li.append(a, ' ', meta);
    list.append(li);
  }
  show($('sp-attachments'), shown.length > 0);
  if (c.raw.length > 0) {
    const raw = await spc.rawMessage(c);
    const url = URL.createObjectURL(new Blob([raw], { type: 'application/octet-stream' }));
    objectUrls.push(url);
    $('sp-original-link').href = url;
    show($('sp-original'), true);
  }
  show($('sp-message'), true);
  const subject = $('sp-subject');
  subject.tabIndex = -1;
  subject.focus();
}

// ---- the whole flow --------------------------------------------------------

async function openWith(env) {
  let header;
  try {
    header = spc.parseHeader(spc.b64decode(env.header));
  } catch {
    fatal(NOT_GENUINE, 'The envelope file is not a readable sealpost envelope.');
    return;
  }
  if (header.id !== ID) {
    fatal(NOT_GENUINE, 'The envelope does not match this page.');
    return;
  }
  progress(null);
  let session = await ensureSession(header.to.length === 1 ? header.to[0] : '');
  progress('Fetching the key...');
  let r = await api('POST', `/api/v1/envelopes/${encodeURIComponent(ID)}/release`, {}, session.csrf);
  if (r.status === 401) {
    progress(null);
    sessionPromise = askLogin(header.to.length === 1 ? header.to[0] : '');
    session = await sessionPromise;
    progress('Fetching the key...');
    r = await api('POST', `/api/v1/envelopes/${encodeURIComponent(ID)}/release`, {}, session.csrf);
  }
  if (r.status === 403) {
    fatal('This message was not sent to you',
      `You are signed in as ${session.email}, which is not a recipient of this message. Sign out and sign in with the address it was sent to.`);
    return;
  }
  if (r.status === 404) {
    fatal(NOT_GENUINE, 'The key server has no record of this envelope.');
    return;
  }
  if (r.status === 410) {
    fatal('This message can no longer be opened', 'The sender withdrew it or it has expired. Ask the sender to send it again.');
    return;
  }
  if (r.status !== 200 || typeof r.data.server_part !== 'string') {
    fatal('The message could not be opened', r.data.error || 'The key server did not answer. Please try again later.');
    return;
  }
  progress('Decrypting...');
  let opened;
  try {
    opened = await spc.openEnvelope({ headerB64: env.header, payload: env.payload, mailPart: env.mp, serverPart: r.data.server_part });
  } catch {
    fatal(NOT_GENUINE, 'The envelope does not decrypt with the key the key server holds for it.');
    return;
  }
  const diffs = spc.compareRecord(opened.header, r.data);
  if (diffs.length) {
    fatal(NOT_GENUINE, `The envelope disagrees with the key server's record (${diffs.join(', ')}).`);
    return;
  }
  try {
    progress(null);
    verdict('genuine', `Genuine envelope from ${opened.header.org}, checked by the key server`);
    await render(opened.header, opened.container);
  } catch {
    fatal(NOT_GENUINE, 'The message inside the envelope is damaged.');
  }
}

async function signOut() {
  if (state.session) await api('DELETE', '/api/v1/session', undefined, state.session.csrf);
  state.session = null;
  location.reload();
}

async function start() {
  $('sp-show').addEventListener('change', (ev) => {
    $('sp-password').type = ev.target.checked ? 'text' : 'password';
  });
  $('sp-signout').addEventListener('click', () => { signOut(); });
  const online = fromPage();
  if (online && online.error) {
    fatal(online.error);
    return;
  }
  if (online && !ID) {
    try {
      ID = spc.parseHeader(spc.b64decode(online.header)).id;
    } catch {
      fatal(NOT_GENUINE, 'The envelope file is not a readable sealpost envelope.');
      return;
    }
  }
  if (!spc.validId(ID)) {
    fatal('This link is not valid', 'Open your securedoc.html file and click Open.');
    return;
  }
  let env = online;
  if (!env) {
    if (!window.opener) {
      progress(null);
      verdict('info', 'Open your securedoc.html file',
        'This page shows a secure message when you click Open in the envelope file (securedoc.html) you received by mail.');
      // Signing in now still helps: the session is kept for the envelope.
      ensureSession('');
      return;
    }
    progress('Waiting for the envelope...');
    // Sign-in and the envelope's arrival go on at the same time.
    const sess = ensureSession('');
    env = await fromOpener();
    await sess;
  }
  await openWith(env);
}

start().catch(() => fatal('Something went wrong', 'Reload the page and try again.'));
