// sp-remember.js - "Remember this device" on the sign-in card (sp-portal.js):
// the checkbox under the password, the account's security phrase shown
// before the password is typed on a remembered device (with the one
// sentence that says what to do when it is not yours), "Forget this
// device", and the session a remembered device opens without the password.
// Which messages such a session opens is the key server's decision, by
// each message's security level (docs/decisions/0015-remembered-devices.md).
// SECURITY: the device token lives in an HttpOnly cookie that no script
// reads; the phrase comes from the key server only for that cookie and is
// set as text.
import { api } from './sp-api.js';
import { t, localize } from './sp-i18n.js';

const $ = (id) => document.getElementById(id);

// The parts this module adds to the card: constants only (nothing from the
// key server or a link), so setting them as HTML runs nothing.
const PHRASE_BOX = `<p class="hint" id="sp-password-why" hidden data-i18n="js.rem.the_sender_of_this"></p>
<div id="sp-phrase-box" class="notice" role="note" hidden>
<p id="sp-phrase-lead" data-i18n="js.rem.your_security_phrase"></p>
<p><strong id="sp-phrase-shown"></strong></p>
<p id="sp-phrase-warn" data-i18n="js.rem.if_this_is_not"></p>
<p><button class="linkbtn" type="button" id="sp-forget-device" data-i18n="js.rem.not_you_forget_this"></button></p>
</div>`;
const CHECKBOX = `<label class="check" id="sp-remember-row"><input type="checkbox" id="sp-remember" aria-describedby="sp-remember-hint"> <span data-i18n="js.rem.remember_this_device"></span></label>
<p class="hint" id="sp-remember-hint" data-i18n="js.rem.only_on_a_computer"></p>`;

let known = null;	// {email, phrase} of this browser's remembered device

function showPhrase(d) {
  const box = $('sp-phrase-box');
  if (!box) return;
  known = d;
  if (!d) {
    box.hidden = true;
    $('sp-remember-row').hidden = false;
    $('sp-remember-hint').hidden = false;
    return;
  }
  const has = typeof d.phrase === 'string' && d.phrase !== '';
  $('sp-phrase-lead').textContent = has ? t('js.rem.your_security_phrase') : t('js.rem.remembered');
  $('sp-phrase-shown').textContent = has ? d.phrase : '';
  $('sp-phrase-warn').hidden = !has;
  box.hidden = false;
  // remembered already: the box would only add a second device
  $('sp-remember').checked = false;
  $('sp-remember-row').hidden = true;
  $('sp-remember-hint').hidden = true;
  const email = $('sp-email');
  if (email && !email.value && typeof d.email === 'string') email.value = d.email;
}

async function forget() {
  await api('DELETE', '/api/v1/device');
  showPhrase(null);
  const email = $('sp-email');
  if (email) email.focus();
}

// Add the phrase and the checkbox to the mounted card, and show the phrase
// when this browser is remembered.
export function mountRemember() {
  const form = $('sp-login-form');
  if (!form || $('sp-phrase-box')) return;
  form.insertAdjacentHTML('beforebegin', PHRASE_BOX);
  $('sp-login-submit').insertAdjacentHTML('beforebegin', CHECKBOX);
  localize(form.parentNode);
  $('sp-forget-device').addEventListener('click', () => { forget(); });
  api('GET', '/api/v1/device').then((r) => {
    if (r.status === 200 && typeof r.data.email === 'string') showPhrase(r.data);
  });
}

// The message asks for the password although this browser is remembered
// (level high): the card says why.
export function passwordAsked() {
  const p = $('sp-password-why');
  if (p) p.hidden = false;
}

// Whether the reader ticked "Remember this device".
export function rememberChecked() {
  const c = $('sp-remember');
  return !!(c && c.checked);
}

// A session from this browser's remembered device, without the password:
// {email, csrf, via: 'device'}, or null when the browser is not remembered.
export async function rememberedSession() {
  const r = await api('POST', '/api/v1/session/device', {});
  if (r.status !== 200 || typeof r.data.csrf !== 'string') return null;
  return { email: typeof r.data.email === 'string' ? r.data.email : '', csrf: r.data.csrf, via: 'device' };
}

// A message of level low opens without a sign-in: when this browser has no
// session, the key part of envelope id is asked for as nobody, with what
// the page claims to open (body).  The release's answer when it came (or
// the key server's word that the envelope is not the one it recorded),
// else null (then sign in as usual).
export async function releaseUnsigned(id, body = {}) {
  const s = await api('GET', '/api/v1/session');
  if (s.status !== 401) return null;
  const r = await api('POST', `/api/v1/envelopes/${encodeURIComponent(id)}/release`, body);
  if (r.status === 403 && r.data.reason === 'not-genuine') return r;
  return r.status === 200 && typeof r.data.server_part === 'string' ? r : null;
}

// This browser's remembered device, once the card asked ({email, phrase}
// or null).
export function rememberedDevice() {
  return known;
}
