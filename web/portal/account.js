// account.js - the "Add a passkey" button of the security page (/account).
// The rest of the page works without scripts; the button stays hidden when
// scripts do not run or the browser has no WebAuthn.
// SECURITY: the session's CSRF token comes from the button's data-csrf and
// goes back in the X-CSRF-Token header; recovery codes are shown as text.
import { t } from './sp-i18n.js';
import * as wa from './sp-webauthn.js';

const btn = document.getElementById('sp-passkey-add');
const errEl = document.getElementById('sp-passkey-err');
const codesEl = document.getElementById('sp-codes');

function fail(text) {
  errEl.textContent = text;
}

function el(tag, text, attrs = {}) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

// The recovery codes the server made with the first passkey, shown once.
function showCodes(codes) {
  const list = el('ul', undefined, { class: 'codes', id: 'sp-recovery-codes' });
  for (const c of codes) {
    const li = el('li');
    li.append(el('code', c));
    list.append(li);
  }
  const h = el('h3', t('js.acct.codes_title'), { id: 'sp-codes-h', tabindex: '-1' });
  const done = el('a', 'Done', { href: '/account' });
  const p2 = el('p');
  p2.append(done);
  codesEl.replaceChildren(
    el('p', t('js.acct.passkey_added'), { class: 'notice', role: 'status' }),
    h,
    el('p', t('js.acct.codes_keep')),
    list,
    p2,
  );
  codesEl.setAttribute('aria-labelledby', 'sp-codes-h');
  codesEl.hidden = false;
  btn.hidden = true;
  h.focus();
}

function refused(r) {
  const why = String(r.data.error || '');
  if (r.status === 401) return t('js.acct.signed_out');
  if (r.status === 403 && r.data.reason === 'reauth') return t('js.acct.reauth');
  if (r.status === 403) return t('js.acct.stale');
  if (r.status === 409) return t('js.passkey_exists');
  if (r.status === 429 || r.status === 503) return t('js.acct.busy');
  if (r.status === 0) return why;
  return why ? t('js.acct.add_failed_why', { why }) : t('js.acct.add_failed');
}

async function addPasskey() {
  const csrf = btn.dataset.csrf || '';
  fail('');
  btn.disabled = true;
  try {
    const o = await wa.postJson('/api/v1/account/passkeys/options', {}, csrf);
    if (o.status !== 200) {
      fail(refused(o));
      return;
    }
    let made;
    try {
      made = await wa.createCredential(o.data);
    } catch (e) {
      fail(wa.explain(e));
      return;
    }
    const r = await wa.postJson('/api/v1/account/passkeys', {
      clientDataJSON: made.clientDataJSON,
      attestationObject: made.attestationObject,
      name: made.platform ? t('js.acct.pk_device') : t('js.acct.pk_key'),
    }, csrf);
    if (r.status !== 201) {
      fail(refused(r));
      return;
    }
    const codes = Array.isArray(r.data.recovery_codes) ? r.data.recovery_codes.filter((c) => typeof c === 'string') : [];
    if (codes.length) showCodes(codes);
    else location.assign('/account');
  } finally {
    btn.disabled = false;
  }
}

if (btn && errEl && codesEl && wa.available()) {
  btn.hidden = false;
  btn.addEventListener('click', () => { addPasskey(); });
}
