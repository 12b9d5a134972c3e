// messages.js - the message list (GET /messages): every envelope addressed
// to the signed-in recipient that still opens (GET /api/v1/me/envelopes),
// newest first, each a link to its open page /m/ID.  A row says whether
// this browser keeps the message's mail key part (sp-keystore.js: then it
// opens here without the mail) or needs the mail's link once.  "Forget this
// device" drops every kept key part and the device key.
// SECURITY: everything from the key server is set as text; the only links
// are /m/ID with ID checked as an envelope id.  Key parts of messages the
// list no longer names (withdrawn, expired) are dropped from this browser.
import { t } from './sp-i18n.js';
import * as spc from './sp-crypto.js';
import * as keys from './sp-keystore.js';
import { $, show, api, progress, formatSize, mountSignin, ensureSession, askLogin } from './sp-portal.js';

// The key server lists at most this many; a list that long may be cut, so
// no kept key part is dropped on its account.
const LIST_MAX = 500;

function text(tag, value, cls) {
  const e = document.createElement(tag);
  e.textContent = value;
  if (cls) e.className = cls;
  return e;
}

function when(unix) {
  const t = document.createElement('time');
  const d = new Date(unix * 1000);
  t.dateTime = d.toISOString();
  t.textContent = d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  return t;
}

function fact(dl, label, value) {
  const pair = document.createElement('div');
  const dd = document.createElement('dd');
  dd.append(value);
  pair.append(text('dt', label), dd);
  dl.append(pair);
}

const validTime = (n) => Number.isSafeInteger(n) && n > 0;

// One row: organisation and sender (the link), date, size, expiry, and
// whether it opens on this device.
function row(e, kept) {
  const li = document.createElement('li');
  li.className = 'msg';
  const a = document.createElement('a');
  a.className = 'msg-link';
  a.href = `/m/${e.id}`;
  a.append(text('span', String(e.org || t('js.msgs.unknown_org')).slice(0, 120), 'msg-org'),
    text('span', String(e.from || '').slice(0, 254), 'msg-from'));
  li.append(a);
  const dl = document.createElement('dl');
  dl.className = 'msg-facts';
  if (validTime(e.created)) fact(dl, t('js.msgs.sent'), when(e.created));
  fact(dl, t('js.msgs.size'), e.copy && Number.isSafeInteger(e.size) && e.size > 0 ? formatSize(e.size) : t('js.msgs.mail_only'));
  fact(dl, t('js.msgs.expires'), validTime(e.expires) ? when(e.expires) : t('js.msgs.never'));
  li.append(dl);
  let state;
  if (!e.copy) state = text('p', t('js.msgs.kept_in_mail'), 'msg-state need');
  else if (kept) state = text('p', t('js.msgs.opens_here'), 'msg-state ok');
  else state = text('p', t('js.msgs.open_once'), 'msg-state need');
  li.append(state);
  return li;
}

async function fetchList(session) {
  for (;;) {
    const r = await api('GET', '/api/v1/me/envelopes');
    if (r.status !== 401) return r;
    progress(null);
    show($('sp-list'), false);
    show($('sp-device'), false);
    session = await askLogin('');
  }
}

async function showList(session) {
  progress(t('js.msgs.loading'));
  const r = await fetchList(session);
  progress(null);
  const err = $('sp-list-error');
  const list = r.status === 200 && Array.isArray(r.data.envelopes) ? r.data.envelopes.filter((e) => e && spc.validId(e.id)) : null;
  show(err, list === null);
  if (list === null) {
    err.textContent = r.status === 503 ? t('js.msgs.busy') :
      (r.data.error ? t('js.msgs.unlisted_why', { why: r.data.error }) : t('js.msgs.unlisted'));
  }
  const items = list || [];
  // Newest first, whatever order the answer had.
  items.sort((x, y) => (validTime(y.created) ? y.created : 0) - (validTime(x.created) ? x.created : 0));
  if (list !== null && list.length < LIST_MAX) await keys.keepOnly(new Set(items.map((e) => e.id)), session.email);
  const kept = await keys.ids();
  $('sp-rows').replaceChildren(...items.map((e) => row(e, kept.has(e.id))));
  show($('sp-empty'), list !== null && items.length === 0);
  show($('sp-list'), true);
  show($('sp-device'), true);
  return items;
}

async function start() {
  mountSignin(t('js.msgs.signin_title'));
  const items = await showList(await ensureSession(''));
  $('sp-forget').addEventListener('click', async () => {
    const ok = await keys.forgetAll();
    const done = $('sp-forget-done');
    done.textContent = ok ? t('js.msgs.forgotten') : t('js.msgs.no_keys');
    show(done, true);
    $('sp-rows').replaceChildren(...items.map((e) => row(e, false)));
  });
}

start().catch(() => {
  progress(null);
  const err = $('sp-list-error');
  err.textContent = `${t('js.went_wrong')}. ${t('js.reload')}`;
  show(err, true);
  show($('sp-list'), true);
});
