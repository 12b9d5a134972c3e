// sp-portal.js - what the open page (open.js) and the message list
// (messages.js) share: the key server's JSON API, the session, the progress
// line, sizes as text, and the sign-in card (password, then the account's second factor: a code from an
// authenticator app, a recovery code or a passkey; "first time here": a new
// password, then the 6-digit code mailed to the address, and the session at
// once; after a later sign-in, "finish your account" when the short sign-up
// left names, phrase and questions for later).  A page holds an empty
// <section id="sp-login" hidden> and the header's #sp-who, #sp-who-email and
// #sp-signout; mountSignin() fills the card in.
// SECURITY: the password is typed only here, on the key server's origin, and
// its field is emptied as soon as it was sent.  Every text from the key
// server is set as text; the one link an error may carry is a path on this
// site only.
import * as wa from './sp-webauthn.js';
import { api, answerOf } from './sp-api.js';
import { t, localize } from './sp-i18n.js';
import { mountRemember, rememberChecked, rememberedSession } from './sp-remember.js';

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
  if (n < 1024) return t('js.size_bytes', { n });
  if (n < 1024 * 1024) return t('js.size_kb', { n: (n / 1024).toFixed(1) });
  return t('js.size_mb', { n: (n / 1024 / 1024).toFixed(1) });
}

// The page's CSRF token (the key server fills {{CSRF}} in the page).
function pageCsrf() {
  const v = $('main') ? $('main').dataset.csrf || '' : '';
  return /^[A-Za-z0-9_-]{8,128}$/.test(v) ? v : '';
}

// The card's markup: a constant (nothing in it comes from the key server,
// a link or a person), so setting it as HTML runs nothing.  Four parts:
// sign in (password, then a second factor), first time here (a new
// password, then the code mailed to the address), forgot your password
// (the reset link by mail), and "finish your account" (what the short
// sign-up left for later).
const CARD = `<h1 id="sp-login-title"></h1>
<div id="sp-signin-part">
<p class="hint" data-i18n="js.card.sign_in_with_the"></p>
<form id="sp-login-form" novalidate>
<div class="field">
<label for="sp-email" data-i18n="js.card.email_address"></label>
<input id="sp-email" name="email" type="email" autocomplete="username" spellcheck="false" autocapitalize="off" required>
</div>
<div class="field">
<label for="sp-password" data-i18n="js.card.password"></label>
<input id="sp-password" name="password" type="password" autocomplete="current-password" required>
<label class="check"><input type="checkbox" id="sp-show"> <span data-i18n="js.card.show_password"></span></label>
</div>
<p class="error" id="sp-login-error" role="alert" hidden></p>
<button class="btn" type="submit" id="sp-login-submit" data-i18n="js.card.sign_in"></button>
</form>
<div id="sp-second" hidden>
<p class="hint" id="sp-second-lead" data-i18n="js.card.your_password_was_right"></p>
<p id="sp-second-passkey-row" hidden><button class="btn" type="button" id="sp-second-passkey" data-i18n="js.card.use_my_passkey"></button></p>
<form id="sp-second-form" novalidate>
<div class="field" id="sp-code-field" hidden>
<label for="sp-code" data-i18n="js.card.code_from_your_authenticator"></label>
<input id="sp-code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" maxlength="8" spellcheck="false">
</div>
<details id="sp-recovery-field" hidden>
<summary data-i18n="js.card.use_a_recovery_code"></summary>
<div class="field">
<label for="sp-recovery" data-i18n="js.card.recovery_code"></label>
<input id="sp-recovery" name="recovery" type="text" autocomplete="off" spellcheck="false" autocapitalize="off">
</div>
</details>
<p class="error" id="sp-second-error" role="alert" hidden></p>
<p class="actions"><button class="btn" type="submit" id="sp-second-submit" data-i18n="js.card.continue"></button>
<button class="linkbtn" type="button" id="sp-second-back" data-i18n="js.card.start_again"></button></p>
</form>
</div>
<p class="hint" id="sp-login-help"><a href="/forgot" id="sp-forgot" target="_blank" rel="noopener" data-i18n="js.card.forgot_your_password"></a></p>
<div id="sp-first-time">
<h2 data-i18n="js.card.first_time_here"></h2>
<p class="hint" data-i18n="js.card.choose_a_password_type"></p>
<p class="actions"><button class="btn secondary" type="button" id="sp-first" data-i18n="js.card.create_your_password"></button>
<a class="hint" id="sp-register" href="/register" target="_blank" rel="noopener" data-i18n="js.card.or_use_the_full"></a></p>
</div>
</div>
<div id="sp-signup-part" hidden>
<form id="sp-signup-form" novalidate>
<p class="hint" data-i18n="js.card.choose_the_password_for"></p>
<div class="field">
<label for="sp-new-email" data-i18n="js.card.your_email"></label>
<input id="sp-new-email" name="email" type="email" autocomplete="username" spellcheck="false" autocapitalize="off" required>
<button class="linkbtn" type="button" id="sp-new-other" data-i18n="js.card.not_your_address" hidden></button>
</div>
<div class="field">
<label for="sp-new-password" data-i18n="js.card.new_password"></label>
<p class="hint" id="sp-new-hint" data-i18n="js.card.at_least_8_characters"></p>
<input id="sp-new-password" name="password" type="password" autocomplete="new-password" required aria-describedby="sp-new-hint">
</div>
<div class="field">
<label for="sp-new-password2" data-i18n="js.card.new_password_again"></label>
<input id="sp-new-password2" name="password2" type="password" autocomplete="new-password" required>
<label class="check"><input type="checkbox" id="sp-new-show"> <span data-i18n="js.card.show_what_i_type"></span></label>
</div>
<p class="error" id="sp-signup-error" role="alert" hidden></p>
<p class="actions"><button class="btn" type="submit" id="sp-signup-submit" data-i18n="js.card.create_my_password"></button>
<button class="linkbtn" type="button" id="sp-signup-back" data-i18n="js.card.i_have_a_password"></button></p>
</form>
<form id="sp-confirm-form" novalidate hidden>
<p id="sp-confirm-sent" role="status"></p>
<div class="field">
<label for="sp-signup-code" data-i18n="js.card.6_digit_code_from"></label>
<input id="sp-signup-code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" maxlength="9" spellcheck="false" aria-describedby="sp-confirm-hint" required>
<p class="hint" id="sp-confirm-hint" data-i18n="js.card.the_code_works_for"></p>
</div>
<p class="error" id="sp-confirm-error" role="alert" hidden></p>
<p class="actions"><button class="btn" type="submit" id="sp-confirm-submit" data-i18n="js.card.confirm_and_open"></button>
<button class="linkbtn" type="button" id="sp-confirm-back" data-i18n="js.card.send_a_new_code"></button></p>
</form>
</div>
<div id="sp-forgot-part" hidden>
<form id="sp-forgot-form" novalidate>
<p class="hint" data-i18n="js.card.forgot_lead"></p>
<div class="field">
<label for="sp-forgot-email" data-i18n="js.card.send_the_link_to"></label>
<input id="sp-forgot-email" name="email" type="email" autocomplete="username" spellcheck="false" autocapitalize="off" required>
</div>
<p class="error" id="sp-forgot-error" role="alert" hidden></p>
<div id="sp-forgot-sent" role="status" hidden><p id="sp-forgot-sent-text"></p><p class="hint" data-i18n="js.card.forgot_hint"></p></div>
<p class="actions"><button class="btn" type="submit" id="sp-forgot-submit" data-i18n="js.card.send_me_a_link"></button>
<button class="linkbtn" type="button" id="sp-forgot-back" data-i18n="js.card.back_to_sign_in"></button></p>
</form>
</div>
<div id="sp-finish-part" hidden>
<p id="sp-finish-lead"></p>
<form id="sp-finish-form" novalidate>
<div class="field"><label for="sp-first-name" data-i18n="js.card.first_name"></label>
<input id="sp-first-name" name="first_name" type="text" autocomplete="given-name" required></div>
<div class="field"><label for="sp-last-name" data-i18n="js.card.last_name"></label>
<input id="sp-last-name" name="last_name" type="text" autocomplete="family-name" required></div>
<div class="field"><label for="sp-phrase" data-i18n="js.card.personal_security_phrase"></label>
<p class="hint" id="sp-phrase-hint" data-i18n="js.card.a_few_words_only"></p>
<input id="sp-phrase" name="phrase" type="text" autocomplete="off" required aria-describedby="sp-phrase-hint">
<label class="check"><input type="checkbox" id="sp-phrase-on" checked> <span data-i18n="js.card.show_my_phrase_when"></span></label></div>
<fieldset id="sp-questions"><legend data-i18n="js.card.three_security_questions_for"></legend></fieldset>
<p class="error" id="sp-finish-error" role="alert" hidden></p>
<p class="actions"><button class="btn" type="submit" id="sp-finish-submit" data-i18n="js.card.save_and_continue"></button>
<button class="linkbtn" type="button" id="sp-finish-later" data-i18n="js.card.not_now"></button></p>
</form>
</div>`;

const state = { session: null, title: '', forEmail: '', forId: '', proof: null, signedUp: false };
let sessionPromise = null;

// Fill in the sign-in card under its title and wire the header's buttons.
export function mountSignin(title) {
  const card = $('sp-login');
  card.setAttribute('aria-labelledby', 'sp-login-title');
  card.innerHTML = CARD;
  localize(card);
  state.title = title;
  $('sp-login-title').textContent = title;
  $('sp-show').addEventListener('change', (ev) => {
    $('sp-password').type = ev.target.checked ? 'text' : 'password';
  });
  $('sp-new-show').addEventListener('change', (ev) => {
    $('sp-new-password').type = $('sp-new-password2').type = ev.target.checked ? 'text' : 'password';
  });
  $('sp-signout').addEventListener('click', () => { signOut(); });
  mountRemember();
}

// The address and message the card is for, when they are known: "first
// time here" then has the address filled in (read-only), and the full
// registration form's link carries both.  proof, when this page holds the
// message's mail: a function giving a promise of {holder, ct_sha256} (the
// mail part's holder tag, base64url; the ciphertext's SHA-256, hex; either
// may be missing), which the sign-up sends so that its code is mailed even
// when strangers have used up the address's mails for the hour.
export function registerFor(email, id, proof) {
  state.forEmail = typeof email === 'string' ? email : '';
  state.forId = typeof id === 'string' ? id : '';
  state.proof = typeof proof === 'function' ? proof : null;
  const q = new URLSearchParams();
  if (email) q.set('email', email);
  if (id) q.set('id', id);
  const a = $('sp-register');
  if (a) a.href = '/register' + (q.size ? `?${q}` : '');
  // "first time here" chosen before the envelope said whom it is for
  const ne = $('sp-new-email');
  if (ne && state.forEmail && !ne.value) {
    ne.value = state.forEmail;
    lockNewEmail(true);
  }
}

// The address of "first time here" read-only (the one the message names),
// with a way out for a reader the message does not name: a blind copy, an
// alias, a forwarded file.
function lockNewEmail(on) {
  const ne = $('sp-new-email');
  ne.readOnly = on;
  show($('sp-new-other'), on);
}

function signedIn(s) {
  state.session = s;
  $('sp-who-email').textContent = t('js.signed_in_as', { email: s.email });
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
  errorIn('sp-second-error', text);
}

const TOO_LONG = () => t('js.too_long');

// Which part of the card shows: 'signin', 'signup', 'forgot' or 'finish'.
function cardPart(part) {
  show($('sp-signin-part'), part === 'signin');
  show($('sp-signup-part'), part === 'signup');
  show($('sp-forgot-part'), part === 'forgot');
  show($('sp-finish-part'), part === 'finish');
  $('sp-login-title').textContent = part === 'signup' ? t('js.card.create_your_password') :
    part === 'forgot' ? t('js.card.forgot_your_password') :
    part === 'finish' ? t('js.finish_title') : state.title;
}

// What this page shows to prove that it holds the message's mail (see
// registerFor), as members of a sign-up or forgot-password request.
async function heldProof() {
  const out = {};
  if (!state.forId) return out;
  out.id = state.forId;
  const held = state.proof ? await state.proof().catch(() => null) : null;
  if (held && typeof held.holder === 'string' && /^[A-Za-z0-9_-]{43}$/.test(held.holder)) out.holder = held.holder;
  if (held && typeof held.ct_sha256 === 'string' && /^[0-9a-f]{64}$/.test(held.ct_sha256)) out.ct_sha256 = held.ct_sha256;
  return out;
}

// A message in the error paragraph id ('' hides it).
function errorIn(id, text) {
  const e = $(id);
  e.textContent = text || '';
  show(e, !!text);
}

// After a sign-in on a later visit: when the account was made by the short
// sign-up and still owes names, phrase and questions, the card asks for
// them (or "Not now") before the message.  Resolves when done.
async function offerFinish(session) {
  if (state.signedUp) return;
  const r = await api('GET', '/api/v1/account/profile');
  if (r.status !== 200 || r.data.incomplete !== true || !Array.isArray(r.data.questions)) return;
  const missing = Array.isArray(r.data.missing) ? r.data.missing.filter((m) => typeof m === 'string') : [];
  const questions = r.data.questions.filter((q) => typeof q === 'string');
  await new Promise((resolve) => {
    const ac = new AbortController();
    const fs = $('sp-questions');
    fs.replaceChildren(fs.firstElementChild);
    for (let i = 1; i <= 3; i++) {
      const f = document.createElement('div');
      f.className = 'field';
      const ql = document.createElement('label');
      ql.htmlFor = `sp-q${i}`;
      ql.textContent = t('js.question_n', { n: i });
      const sel = document.createElement('select');
      sel.id = `sp-q${i}`;
      const none = document.createElement('option');
      none.value = '';
      none.textContent = t('js.choose_question');
      sel.append(none);
      questions.forEach((q, n) => {
        const o = document.createElement('option');
        o.value = String(n + 1);
        o.textContent = q;
        sel.append(o);
      });
      const al = document.createElement('label');
      al.htmlFor = `sp-a${i}`;
      al.textContent = t('js.answer_n', { n: i });
      const ans = document.createElement('input');
      ans.id = `sp-a${i}`;
      ans.type = 'text';
      ans.autocomplete = 'off';
      f.append(ql, sel, al, ans);
      fs.append(f);
    }
    const OWED = { 'your name': 'js.owed.name', 'a personal security phrase': 'js.owed.phrase', 'three security questions': 'js.owed.questions' };
    const owed = missing.map((m) => (Object.hasOwn(OWED, m) ? t(OWED[m]) : m));
    const list = owed.length > 1 ? t('js.list_and', { list: owed.slice(0, -1).join(', '), last: owed[owed.length - 1] }) : owed[0];
    $('sp-finish-lead').textContent = t('js.finish_lead', { what: list || t('js.owed.details') });
    const finish = () => {
      ac.abort();
      show($('sp-login'), false);
      cardPart('signin');
      resolve();
    };
    $('sp-finish-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      errorIn('sp-finish-error', '');
      const body = {
        first_name: $('sp-first-name').value, last_name: $('sp-last-name').value,
        phrase: $('sp-phrase').value, phrase_enabled: $('sp-phrase-on').checked,
        questions: [1, 2, 3].map((i) => Number($(`sp-q${i}`).value) || 0),
        answers: [1, 2, 3].map((i) => $(`sp-a${i}`).value),
      };
      const btn = $('sp-finish-submit');
      btn.disabled = true;
      const w = await api('POST', '/api/v1/account/profile', body, session.csrf);
      btn.disabled = false;
      if (w.status === 200) {
        finish();
        return;
      }
      const names = { first_name: t('js.card.first_name'), last_name: t('js.card.last_name'), phrase: t('js.security_phrase'),
        questions: t('js.questions'), 'answers[0]': t('js.answer_n', { n: 1 }), 'answers[1]': t('js.answer_n', { n: 2 }),
        'answers[2]': t('js.answer_n', { n: 3 }) };
      const what = typeof w.data.field === 'string' && names[w.data.field] ? `${names[w.data.field]}: ` : '';
      errorIn('sp-finish-error', w.data.error ? `${what}${w.data.error}.` : t('js.save_failed'));
    }, { signal: ac.signal });
    $('sp-finish-later').addEventListener('click', finish, { signal: ac.signal });
    cardPart('finish');
    show($('sp-login'), true);
    $('sp-first-name').focus();
  });
}

// Why a sign-up or its code was refused, in words.
function signupError(r) {
  if (r.status === 503 || r.status === 0) return r.data.error && r.status === 0 ? r.data.error : t('js.busy');
  if (r.status === 429) return r.data.error ? `${r.data.error[0].toUpperCase()}${r.data.error.slice(1)}.` : t('js.too_many_wait');
  if (r.data.error) return `${r.data.error[0].toUpperCase()}${r.data.error.slice(1)}.`;
  return t('js.did_not_work');
}

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
    const ac = new AbortController();
    const on = (el, type, fn) => el.addEventListener(type, fn, { signal: ac.signal });
    let mfa = null;
    let signup = null;	// {handle, email} of the sign-up, once its code is mailed
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
    const done = async (data) => {
      pw.value = '';
      code.value = '';
      recovery.value = '';
      $('sp-new-password').value = '';
      $('sp-new-password2').value = '';
      $('sp-signup-code').value = '';
      mfa = null;
      signup = null;
      ac.abort();
      show(second, false);
      show(form, true);
      show($('sp-login'), false);
      cardPart('signin');
      signedIn({ email: data.email || email.value.trim(), csrf: data.csrf });
      await offerFinish(state.session);
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
        secondError(t('js.need_passkey'));
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
      if (r.status === 401 && r.data.reason === 'expired') passwordStep(TOO_LONG());
      else if (r.status === 401 && what === 'recovery') secondError(t('js.bad_recovery'));
      else if (r.status === 401 && what === 'passkey') secondError(t('js.bad_passkey'));
      else if (r.status === 401) secondError(t('js.bad_code'));
      else if (r.status === 429) secondError(t('js.too_many_attempts'));
      else if (r.status === 503) secondError(t('js.busy'));
      else secondError(r.data.error ? t('js.signin_failed_why', { why: r.data.error }) : t('js.signin_failed'));
    };

    const onSubmit = async (ev) => {
      ev.preventDefault();
      loginError('');
      if (!email.value.trim() || !pw.value) {
        loginError(t('js.enter_email_pw'));
        return;
      }
      submit.disabled = true;
      submit.textContent = t('js.signing_in');
      const r = await api('POST', '/api/v1/session', { email: email.value.trim(), password: pw.value, remember: rememberChecked() }, csrf);
      submit.disabled = false;
      submit.textContent = t('js.card.sign_in');
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
        loginError(t('js.wrong_login'));
      } else if (r.status === 503) loginError(t('js.busy'));
      else if (r.status === 429) {
        loginError(Number.isSafeInteger(r.data.retry_after) ? t('js.locked_for', { s: r.data.retry_after }) : t('js.too_many_wait'),
        typeof r.data.signin_link === 'string' ? { href: r.data.signin_link, text: t('js.signin_link') } : null);
      } else loginError(r.data.error || t('js.signin_failed'));
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
        secondError(mfa.methods.includes('totp') ? t('js.enter_totp') : t('js.enter_recovery'));
        (mfa.methods.includes('totp') ? code : recovery).focus();
        return;
      }
      ssubmit.disabled = true;
      const r = await api('POST', '/api/v1/session/mfa', { ...body, remember: rememberChecked() }, csrf);
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
          passwordStep(TOO_LONG());
          return;
        }
        if (ch.status !== 200) {
          secondError(ch.data.error ? t('js.passkey_now_why', { why: ch.data.error }) : t('js.passkey_now'));
          return;
        }
        let assertion;
        try {
          assertion = await wa.getAssertion(ch.data);
        } catch (e) {
          secondError(wa.explain(e));
          return;
        }
        secondAnswer(await api('POST', '/api/v1/session/mfa', { token, assertion, remember: rememberChecked() }, csrf), 'passkey');
      } finally {
        pkBtn.disabled = false;
      }
    };
    const onBack = () => passwordStep('');

    // First time here: a new password for the address, then the code.
    const newEmail = $('sp-new-email');
    const newPw = $('sp-new-password');
    const newPw2 = $('sp-new-password2');
    const sgForm = $('sp-signup-form');
    const cfForm = $('sp-confirm-form');
    const codeIn = $('sp-signup-code');
    const createStep = (error) => {
      signup = null;
      codeIn.value = '';
      errorIn('sp-confirm-error', '');
      show(cfForm, false);
      show(sgForm, true);
      cardPart('signup');
      const known = state.forEmail || email.value.trim();
      if (!newEmail.value || state.forEmail) newEmail.value = known;
      lockNewEmail(!!state.forEmail);
      errorIn('sp-signup-error', error || '');
      (newEmail.value ? newPw : newEmail).focus();
    };
    // Forgot the password: the reset link by mail, asked for from here,
    // with the proof that this page holds the message when it does (its
    // mail then goes out even when strangers spent the address's three).
    // A click with a modifier key opens the forgot page as a link does.
    const fgEmail = $('sp-forgot-email');
    const fgSent = $('sp-forgot-sent');
    const forgotStep = (ev) => {
      if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button > 0) return;
      ev.preventDefault();
      cardPart('forgot');
      errorIn('sp-forgot-error', '');
      show(fgSent, false);
      fgEmail.value = email.value.trim() || state.forEmail;
      fgEmail.focus();
    };
    const onForgot = async (ev) => {
      ev.preventDefault();
      errorIn('sp-forgot-error', '');
      show(fgSent, false);
      if (!fgEmail.value.trim()) {
        errorIn('sp-forgot-error', t('js.enter_email'));
        fgEmail.focus();
        return;
      }
      const btn = $('sp-forgot-submit');
      btn.disabled = true;
      const r = await api('POST', '/api/v1/forgot', { email: fgEmail.value.trim(), ...await heldProof() }, csrf);
      btn.disabled = false;
      if (r.status === 202 && typeof r.data.sent === 'string') {
        $('sp-forgot-sent-text').textContent = r.data.sent;
        show(fgSent, true);
        return;
      }
      errorIn('sp-forgot-error', signupError(r));
      fgEmail.focus();
    };
    const onSignup = async (ev) => {
      ev.preventDefault();
      errorIn('sp-signup-error', '');
      if (!newEmail.value.trim() || !newPw.value) {
        errorIn('sp-signup-error', t('js.enter_email_choose'));
        (newEmail.value.trim() ? newPw : newEmail).focus();
        return;
      }
      if (newPw.value !== newPw2.value) {
        errorIn('sp-signup-error', t('js.pw_mismatch'));
        newPw2.focus();
        return;
      }
      const btn = $('sp-signup-submit');
      btn.disabled = true;
      btn.textContent = t('js.creating');
      const body = { email: newEmail.value.trim(), password: newPw.value, password2: newPw2.value, ...await heldProof() };
      const r = await api('POST', '/api/v1/signup', body, csrf);
      btn.disabled = false;
      btn.textContent = t('js.card.create_my_password');
      if (r.status === 202 && typeof r.data.signup === 'string') {
        signup = { handle: r.data.signup, email: typeof r.data.email === 'string' ? r.data.email : body.email };
        newPw.value = '';
        newPw2.value = '';
        $('sp-confirm-sent').textContent = typeof r.data.sent === 'string' ? r.data.sent : t('js.code_sent');
        show(sgForm, false);
        show(cfForm, true);
        codeIn.focus();
        return;
      }
      errorIn('sp-signup-error', signupError(r));
      if (r.data.field === 'email') newEmail.focus();
      else if (r.data.field === 'password2') newPw2.focus();
      else newPw.focus();
    };
    const onConfirm = async (ev) => {
      ev.preventDefault();
      errorIn('sp-confirm-error', '');
      const c = codeIn.value.replace(/[\s-]+/g, '');
      if (!/^\d{6}$/.test(c)) {
        errorIn('sp-confirm-error', t('js.type_code'));
        codeIn.focus();
        return;
      }
      if (!signup) return;
      const btn = $('sp-confirm-submit');
      btn.disabled = true;
      const r = await api('POST', '/api/v1/signup/confirm', { signup: signup.handle, email: signup.email, code: c }, csrf);
      btn.disabled = false;
      if (r.status === 200 && typeof r.data.csrf === 'string') {
        state.signedUp = true;
        done(r.data);
        return;
      }
      if (r.status === 409) {
        passwordStep(t('js.has_account'));
        cardPart('signin');
        return;
      }
      errorIn('sp-confirm-error', r.status === 401 ? t('js.code_wrong') :
        r.status === 410 ? t('js.code_expired') : signupError(r));
      codeIn.select();
    };
    const toSignin = () => {
      cardPart('signin');
      passwordStep('');
    };

    on(form, 'submit', onSubmit);
    on(sform, 'submit', onSecond);
    on(pkBtn, 'click', onPasskey);
    on($('sp-second-back'), 'click', onBack);
    on($('sp-first'), 'click', () => createStep(''));
    on(sgForm, 'submit', onSignup);
    on(cfForm, 'submit', onConfirm);
    on($('sp-signup-back'), 'click', toSignin);
    on($('sp-new-other'), 'click', () => {
      state.forEmail = '';
      lockNewEmail(false);
      newEmail.value = '';
      newEmail.focus();
    });
    on($('sp-confirm-back'), 'click', () => createStep(''));
    on($('sp-forgot'), 'click', forgotStep);
    on($('sp-forgot-form'), 'submit', onForgot);
    on($('sp-forgot-back'), 'click', toSignin);
    cardPart('signin');
    show($('sp-login'), true);
    passwordStep('');
  });
  return sessionPromise;
}

async function checkSession(prefill) {
  // The answer that the open page's first script asked for (sp-early.js),
  // once; else asked now.
  const early = window.spEarlySession;
  delete window.spEarlySession;
  const r = early ? await answerOf(early) : await api('GET', '/api/v1/session');
  if (r.status === 200 && typeof r.data.csrf === 'string') {
    signedIn({ email: r.data.email || '', csrf: r.data.csrf });
    if (r.data.incomplete !== false) await offerFinish(state.session);
    return state.session;
  }
  // a remembered device: a session without the password (messages that
  // need it answer 401, and the card asks for it then)
  const dev = await rememberedSession();
  if (dev) {
    signedIn(dev);
    return state.session;
  }
  return askLogin(prefill);
}

// The session: the one this browser has, or the sign-in card's (prefilled
// with prefill).  Every caller gets the same promise.
export function ensureSession(prefill) {
  if (!sessionPromise) {
    sessionPromise = checkSession(prefill);
  } else if (prefill && !$('sp-email').value) {
    // The address came after the card (the envelope arrived later): the
    // reader who waits in the empty address field goes on to the password.
    $('sp-email').value = prefill;
    if (document.activeElement === $('sp-email')) $('sp-password').focus();
  }
  return sessionPromise;
}

export async function signOut() {
  if (state.session) await api('DELETE', '/api/v1/session', undefined, state.session.csrf);
  state.session = null;
  location.reload();
}
