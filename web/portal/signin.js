// signin.js - the passkey button of the sign-in's second step (POST
// /signin, when the account has a passkey).  The page works without it
// (code and recovery code forms); the button stays hidden when scripts do
// not run or the browser has no WebAuthn.
// SECURITY: the page to go to afterwards is the form's own "next", and only
// a path on this site; messages are set as text.
import { t } from './sp-i18n.js';
import * as wa from './sp-webauthn.js';

const btn = document.getElementById('sp-passkey');
const errEl = document.getElementById('sp-passkey-err');
const form = document.querySelector('form[action="/signin/second"]');

function fail(text) {
  errEl.textContent = text;
}

// A same-site path to go to, "/account" when next is anything else.
function safeNext(n) {
  if (typeof n !== 'string' || !n.startsWith('/') || n.startsWith('//') || n.includes('\\')) return '/account';
  try {
    const u = new URL(n, location.origin);
    return u.origin === location.origin ? u.pathname + u.search + u.hash : '/account';
  } catch {
    return '/account';
  }
}

async function usePasskey() {
  const token = form && form.elements.token ? form.elements.token.value : '';
  fail('');
  btn.disabled = true;
  try {
    const ch = await wa.postJson('/api/v1/session/mfa/challenge', { token });
    if (ch.status === 401) {
      fail(t('js.signin.too_long'));
      return;
    }
    if (ch.status !== 200) {
      fail(ch.data.error ? t('js.passkey_now_why', { why: ch.data.error }) : t('js.passkey_now'));
      return;
    }
    let assertion;
    try {
      assertion = await wa.getAssertion(ch.data);
    } catch (e) {
      fail(wa.explain(e));
      return;
    }
    const r = await wa.postJson('/api/v1/session/mfa', { token, assertion });
    if (r.status === 200 && typeof r.data.csrf === 'string') {
      location.assign(safeNext(form && form.elements.next ? form.elements.next.value : ''));
      return;
    }
    if (r.status === 401 && r.data.reason === 'expired') {
      fail(t('js.signin.too_long'));
    } else if (r.status === 401) {
      fail(t('js.signin.passkey_refused'));
    } else if (r.status === 429) {
      fail(t('js.too_many_attempts'));
    } else {
      fail(r.data.error ? t('js.signin_failed_why', { why: r.data.error }) : t('js.signin_failed'));
    }
  } finally {
    btn.disabled = false;
  }
}

if (btn && errEl && form && wa.available()) {
  btn.hidden = false;
  btn.addEventListener('click', () => { usePasskey(); });
}
