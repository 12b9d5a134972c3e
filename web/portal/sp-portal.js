// sp-portal.js - what the open page (open.js) and the message list
// (messages.js) share: the key server's JSON API, the session, the progress
// line, sizes as text, and the sign-in card (password, then the account's second factor: a code from an
// authenticator app, a recovery code or a passkey).  A page holds an empty
// <section id="sp-login" hidden> and the header's #sp-who, #sp-who-email and
// #sp-signout; mountSignin() fills the card in.
// SECURITY: the password is typed only here, on the key server's origin, and
// its field is emptied as soon as it was sent.  Every text from the key
// server is set as text; the one link an error may carry is a path on this
// site only.
import * as wa from './sp-webauthn.js';
import { api } from './sp-api.js';

export { api };

export const $ = (id) => document.getElementById(id);

export function show(el, on = true) {
  el.hidden = !on;
}

// The progress line (#sp-progress): text, or null to hide it.
export function progress(text) {
  const p = $('sp-progress');
  if (text === null) {
    show(p, false);
    return;
  }
  $('sp-progress-text').textContent = text;
  show(p, true);
}

export function formatSize(n) {
  if (n < 1024) return `${n} bytes`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

// The page's CSRF token (the key server fills {{CSRF}} in the page).
function pageCsrf() {
  const v = $('main') ? $('main').dataset.csrf || '' : '';
  return /^[A-Za-z0-9_-]{8,128}$/.test(v) ? v : '';
}

// The card's markup: a constant (nothing in it comes from the key server,
// a link or a person), so setting it as HTML runs nothing.
const CARD = `<h1 id="sp-login-title"></h1>
<p class="hint">Sign in with the address the message was sent to and the password you chose when you registered.</p>
<form id="sp-login-form" novalidate>
<div class="field">
<label for="sp-email">Email address</label>
<input id="sp-email" name="email" type="email" autocomplete="username" spellcheck="false" autocapitalize="off" required>
</div>
<div class="field">
<label for="sp-password">Password</label>
<input id="sp-password" name="password" type="password" autocomplete="current-password" required>
<label class="check"><input type="checkbox" id="sp-show"> Show password</label>
</div>
<p class="error" id="sp-login-error" role="alert" hidden></p>
<button class="btn" type="submit" id="sp-login-submit">Sign in</button>
</form>
<div id="sp-second" hidden>
<p class="hint" id="sp-second-lead">Your password was right. One more step: prove it is you with your second factor.</p>
<p id="sp-second-passkey-row" hidden><button class="btn" type="button" id="sp-second-passkey">Use my passkey</button></p>
<form id="sp-second-form" novalidate>
<div class="field" id="sp-code-field" hidden>
<label for="sp-code">Code from your authenticator app</label>
<input id="sp-code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" maxlength="8" spellcheck="false">
</div>
<details id="sp-recovery-field" hidden>
<summary>Use a recovery code instead</summary>
<div class="field">
<label for="sp-recovery">Recovery code</label>
<input id="sp-recovery" name="recovery" type="text" autocomplete="off" spellcheck="false" autocapitalize="off">
</div>
</details>
<p class="error" id="sp-second-error" role="alert" hidden></p>
<p class="actions"><button class="btn" type="submit" id="sp-second-submit">Continue</button>
<button class="linkbtn" type="button" id="sp-second-back">Start again</button></p>
</form>
</div>
<p class="hint" id="sp-login-help"><a href="/forgot" id="sp-forgot" target="_blank" rel="noopener">Forgot your password?</a></p>
<p class="hint" id="sp-first-time">First time here? <a id="sp-register" href="/register" target="_blank" rel="noopener">Create your account</a>
 with the address the message was sent to, confirm it from the mail we send, then sign in here.</p>`;

const state = { session: null };
let sessionPromise = null;

// Fill in the sign-in card under its title and wire the header's buttons.
export function mountSignin(title) {
  const card = $('sp-login');
  card.setAttribute('aria-labelledby', 'sp-login-title');
  card.innerHTML = CARD;
  $('sp-login-title').textContent = title;
  $('sp-show').addEventListener('change', (ev) => {
    $('sp-password').type = ev.target.checked ? 'text' : 'password';
  });
  $('sp-signout').addEventListener('click', () => { signOut(); });
}

// The card's "create your account" link, for this address and message
// when they are known (the form then has the address filled in).
export function registerFor(email, id) {
  const q = new URLSearchParams();
  if (email) q.set('email', email);
  if (id) q.set('id', id);
  const a = $('sp-register');
  if (a) a.href = '/register' + (q.size ? `?${q}` : '');
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
// second factor.  Resolves with the session {email, csrf}.
export function askLogin(prefill) {
  const csrf = pageCsrf();
  sessionPromise = new Promise((resolve) => {
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
      const r = await api('POST', '/api/v1/session', { email: email.value.trim(), password: pw.value }, csrf);
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
      const r = await api('POST', '/api/v1/session/mfa', body, csrf);
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
        const ch = await api('POST', '/api/v1/session/mfa/challenge', { token }, csrf);
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
        secondAnswer(await api('POST', '/api/v1/session/mfa', { token, assertion }, csrf), 'passkey');
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

// The session: the one this browser has, or the sign-in card's (prefilled
// with prefill).  Every caller gets the same promise.
export function ensureSession(prefill) {
  if (!sessionPromise) sessionPromise = checkSession(prefill);
  else if (prefill && !$('sp-email').value) $('sp-email').value = prefill;
  return sessionPromise;
}

export async function signOut() {
  if (state.session) await api('DELETE', '/api/v1/session', undefined, state.session.csrf);
  state.session = null;
  location.reload();
}
