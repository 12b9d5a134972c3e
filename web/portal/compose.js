// compose.js - Secure Reply, Reply all and Forward on the open page.  Once
// open.js has shown a message it calls offerReply(): the key server says
// (GET /api/v1/envelopes/ID/reply) whether its organisation takes replies
// and forwards, to whom, the size cap and the reader's "BCC me" default;
// the page offers the buttons, then a compose card on the same page (the
// quoted original, attachments from this browser, for a forward the
// original as original.eml), posts it (POST .../reply, JSON, base64
// attachments, the session's CSRF token) and shows a confirmation.  The
// key server seals and sends it (docs/api.md).
// SECURITY: the original message is hostile text: it only ever goes into
// text nodes and the textarea's value, never into HTML.  The key server
// checks every recipient against the original and the organisation's
// forward list again; the checks here only save the reader a refusal.
// Nothing of the draft is stored: it lives in this page until it is sent
// or cancelled, and an error keeps it as it was.
import { $, show, api, formatSize, askLogin } from './sp-portal.js';
import * as spc from './sp-crypto.js';
import { t } from './sp-i18n.js';

// The user-visible words of this module, together, from the page's
// catalogue (the "js.reply." keys, sp-i18n.js).
const T = {
  reply: t('js.reply.reply'),
  replyAll: t('js.reply.reply_all'),
  forward: t('js.reply.forward'),
  noReplies: t('js.reply.no_replies'),
  titleReply: t('js.reply.reply'),
  titleAll: t('js.reply.reply_all'),
  titleForward: t('js.reply.forward'),
  to: t('js.reply.to'),
  toForwardHint: (domains) => (domains.length ? t('js.reply.to_hint', { domains: domains.join(', ') }) :
    t('js.reply.to_hint_none')),
  subject: t('js.reply.subject'),
  body: t('js.reply.body'),
  attachments: t('js.reply.attachments'),
  addFiles: t('js.reply.add_files'),
  remove: t('js.reply.remove'),
  removeName: (name) => t('js.reply.remove_name', { name }),
  total: (n, max) => t('js.reply.total', { size: formatSize(n), max: formatSize(max) }),
  bccMe: t('js.reply.bcc_me'),
  bccHint: (email) => (email ? t('js.reply.bcc_hint', { email }) : t('js.reply.bcc_hint_you')),
  send: t('js.reply.send'),
  sending: t('js.reply.sending'),
  cancel: t('js.reply.cancel'),
  wrote: (date, who) => (date ? t('js.reply.wrote', { date, who }) : t('js.reply.wrote_nodate', { who })),
  theSender: t('js.reply.the_sender'),
  forwarded: t('js.reply.forwarded'),
  fwdFrom: t('js.reply.fwd_from'),
  fwdDate: t('js.reply.fwd_date'),
  fwdSubject: t('js.reply.fwd_subject'),
  fwdTo: t('js.reply.fwd_to'),
  fwdCc: t('js.reply.fwd_cc'),
  needTo: t('js.reply.need_to'),
  notAddress: (address) => t('js.reply.not_address', { address }),
  notAllowed: (address, domains) => (domains.length ?
    t('js.reply.not_allowed', { address, domains: domains.join(', ') }) : t('js.reply.not_allowed_none', { address })),
  tooManyTo: t('js.reply.too_many_to'),
  refusedTo: (address) => t('js.reply.refused_to', { address }),
  refusedForward: (address) => t('js.reply.refused_forward', { address }),
  needSubject: t('js.reply.need_subject'),
  longSubject: t('js.reply.long_subject'),
  longBody: t('js.reply.long_body'),
  tooLarge: (max) => t('js.reply.too_large', { max: formatSize(max) }),
  tooMany: t('js.reply.too_many'),
  unreadable: (name) => t('js.reply.unreadable', { name }),
  repliesOff: t('js.reply.replies_off'),
  forwardOff: t('js.reply.forward_off'),
  retry: (min) => (min === 1 ? t('js.reply.retry_one') : t('js.reply.retry_many', { min })),
  gone: t('js.reply.gone'),
  signedOut: t('js.reply.signed_out'),
  unreachable: t('js.reply.unreachable'),
  failed: (error) => (error ? t('js.reply.failed_why', { error }) : t('js.reply.failed')),
  sentReply: (to) => t('js.reply.sent_reply', { to }),
  sentForward: (to) => t('js.reply.sent_forward', { to }),
  copyToYou: t('js.reply.copy_to_you'),
  sealedNote: t('js.reply.sealed_note'),
  back: t('js.reply.back'),
};

const MAX_ATTACHMENTS = 20;
const MAX_TO = 20;
const MAX_SUBJECT = 255;
const MAX_TEXT = 1024 * 1024;
const ADDRESS = /^[^\s@<>",;]+@[^\s@<>",;]+\.[^\s@<>",;]+$/;
const MSG_ID = /<[!-;=?A-~]+@[!-;=?A-~]+>/g;

// ---- small DOM helpers -------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k === 'text') e.textContent = v;
    else if (k === 'className') e.className = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  e.append(...children);
  return e;
}

function button(label, cls, onClick, attrs = {}) {
  const b = el('button', { type: 'button', className: cls, text: label, ...attrs });
  b.addEventListener('click', onClick);
  return b;
}

function b64(bytes) {
  if (typeof bytes.toBase64 === 'function') return bytes.toBase64();
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

// ---- the original ------------------------------------------------------------

// One line of header text (no control characters, folded spaces collapsed).
const oneLine = (s) => String(s || '').replace(/[\u0000-\u001f\u007f]+/g, ' ').replace(/\s+/g, ' ').trim();

// "Re: " or "Fwd: " before the original subject, unless it is already there.
export function prefixed(subject, mode) {
  const s = oneLine(subject);
  if (mode === 'forward') return /^(fwd?|fw)\s*:/i.test(s) ? s : `Fwd: ${s}`.trim();
  return /^re\s*:/i.test(s) ? s : `Re: ${s}`.trim();
}

// The original's text: its text part, else the text a reader sees of its
// HTML (parsed inert, never shown).
async function originalText(c) {
  const utf8 = new TextDecoder('utf-8');
  if (c.text !== null) return utf8.decode(await c.blob(c.text));
  if (c.html !== null) {
    const doc = new DOMParser().parseFromString(utf8.decode(await c.blob(c.html)), 'text/html');
    doc.querySelectorAll('script,style,head').forEach((e) => e.remove());
    return (doc.body ? doc.body.innerText || doc.body.textContent || '' : '').replace(/\n{3,}/g, '\n\n');
  }
  return '';
}

// Message-ID and References of the rebuilt original (raw: Uint8Array or
// null): {messageId, references} ('' when absent or malformed).
export function threadOf(raw) {
  if (!raw || !raw.length) return { messageId: '', references: '' };
  const s = new TextDecoder('latin1').decode(raw.subarray(0, Math.min(raw.length, 256 * 1024)));
  const end = s.search(/\r?\n\r?\n/);
  const head = (end < 0 ? s : s.slice(0, end)).replace(/\r?\n[ \t]+/g, ' ');
  const field = (name) => {
    const m = new RegExp(`^${name}[ \\t]*:(.*)$`, 'im').exec(head);
    return m ? m[1] : '';
  };
  const id = (field('Message-ID').match(MSG_ID) || [''])[0];
  const refs = field('References').match(MSG_ID) || [];
  if (!refs.length) {
    const irt = field('In-Reply-To').match(MSG_ID);
    if (irt) refs.push(irt[0]);
  }
  if (id) refs.push(id);
  // The thread's first message and its latest ones, within a header line's length.
  let keep = refs.filter((r, i) => refs.indexOf(r) === i);
  while (keep.length > 2 && keep.join(' ').length > 900) keep = [keep[0], ...keep.slice(2)];
  return { messageId: id, references: keep.join(' ').length <= 900 ? keep.join(' ') : id };
}

// The body's first text: the quoted original (reply) or the forwarded
// message block (forward).
export function quoted(mode, h, text) {
  const body = String(text).replace(/\r\n?/g, '\n').replace(/\s+$/, '');
  if (mode === 'forward') {
    const lines = [T.forwarded, `${T.fwdFrom}: ${oneLine(h.from)}`, `${T.fwdDate}: ${oneLine(h.date)}`,
      `${T.fwdSubject}: ${oneLine(h.subject)}`, `${T.fwdTo}: ${oneLine(h.to)}`];
    if (oneLine(h.cc)) lines.push(`${T.fwdCc}: ${oneLine(h.cc)}`);
    return `\n\n${lines.join('\n')}\n\n${body}\n`;
  }
  const q = body ? body.split('\n').map((l) => (l ? `> ${l}` : '>')).join('\n') : '>';
  return `\n\n${T.wrote(oneLine(h.date), oneLine(h.from) || T.theSender)}\n${q}\n`;
}

// The addresses typed in the forward field, checked against the
// organisation's domains: {list} or {error}.
export function forwardAddresses(value, domains) {
  const list = String(value).split(/[\s,;]+/).map((a) => a.trim()).filter(Boolean);
  if (!list.length) return { error: T.needTo };
  if (list.length > MAX_TO) return { error: T.tooManyTo };
  const allowed = domains.map((d) => String(d).toLowerCase());
  for (const a of list) {
    if (a.length > 254 || !ADDRESS.test(a)) return { error: T.notAddress(a.slice(0, 100)), address: a };
    if (!allowed.includes(a.slice(a.lastIndexOf('@') + 1).toLowerCase())) return { error: T.notAllowed(a, domains), address: a };
  }
  return { list: list.filter((a, i) => list.findIndex((b) => b.toLowerCase() === a.toLowerCase()) === i) };
}

// ---- the offer ---------------------------------------------------------------

const strings = (v) => (Array.isArray(v) ? v.filter((x) => typeof x === 'string' && x) : []);

// After a message is shown: id the envelope's id, session {email, csrf}
// (null when the message opened without a sign-in: no reply then), opened
// {header, container} (sp-crypto.js).
export async function offerReply(id, session, opened) {
  const article = $('sp-message');
  if (!session || !session.csrf || !article || $('sp-reply-actions')) return;
  const r = await api('GET', `/api/v1/envelopes/${encodeURIComponent(id)}/reply`);
  if (r.status !== 200 || typeof r.data.reply !== 'boolean') return;
  const p = {
    reply: r.data.reply, forward: r.data.forward === true,
    replyTo: strings(r.data.reply_to), replyAll: strings(r.data.reply_all),
    domains: strings(r.data.forward_domains),
    max: Number.isSafeInteger(r.data.max_bytes) && r.data.max_bytes > 0 ? r.data.max_bytes : 10 * 1024 * 1024,
    bcc: r.data.bcc_default === true,
  };
  const bar = el('div', { id: 'sp-reply-actions', className: 'actions reply-actions' });
  if (!p.reply) {
    bar.append(el('p', { className: 'quiet', id: 'sp-no-replies', text: T.noReplies }));
  } else {
    // One compose card at a time (a second click while it is made does nothing).
    let making = false;
    const open = (mode) => async () => {
      if (making) return;
      making = true;
      try {
        await compose({ id, session, opened, p, mode });
      } finally {
        making = false;
      }
    };
    if (p.replyTo.length) bar.append(button(T.reply, 'btn', open('reply'), { id: 'sp-reply' }));
    if (p.replyAll.length > 1) bar.append(button(T.replyAll, 'btn secondary', open('all'), { id: 'sp-reply-all' }));
    if (p.forward) bar.append(button(T.forward, 'btn secondary', open('forward'), { id: 'sp-forward' }));
  }
  if (bar.childElementCount) article.append(bar);
}

// ---- the compose card --------------------------------------------------------

// The page's views: the message (and its verdict) or the compose card or
// the confirmation.
function view(which) {
  show($('sp-verdict'), which === 'message');
  show($('sp-message'), which === 'message');
  const c = $('sp-compose');
  if (c) show(c, which === 'compose');
  const d = $('sp-sent');
  if (d) show(d, which === 'sent');
}

function focusHeading(h) {
  h.tabIndex = -1;
  h.focus();
  h.scrollIntoView({ block: 'start' });
}

// An error beside a field (input: the control it belongs to, or null for
// the card's general error).
function fieldError(box, input, text) {
  box.textContent = text || '';
  show(box, !!text);
  if (input) {
    if (text) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }
}

async function compose({ id, session, opened, p, mode }) {
  let sess = session;
  $('sp-compose')?.remove();
  $('sp-sent')?.remove();
  const c = opened.container;
  const h = { ...c.headers, from: c.headers.from || opened.header.from, to: c.headers.to || opened.header.to.join(', ') };
  let raw = null;
  try {
    raw = c.raw.length ? await spc.rawMessage(c) : null;
  } catch { /* no .eml: no thread headers, nothing to attach */ }
  const thread = threadOf(raw);
  const title = { reply: T.titleReply, all: T.titleAll, forward: T.titleForward }[mode];

  // To
  const toError = el('p', { className: 'field-error', id: 'sp-to-error', role: 'alert', hidden: true });
  let toInput = null;
  let toField;
  if (mode === 'forward') {
    toInput = el('input', { id: 'sp-to', name: 'to', type: 'text', inputmode: 'email', autocomplete: 'email',
      spellcheck: 'false', autocapitalize: 'off', 'aria-describedby': 'sp-to-hint sp-to-error' });
    toField = el('div', { className: 'field' }, el('label', { for: 'sp-to', text: T.to }),
      el('p', { className: 'hint', id: 'sp-to-hint', text: T.toForwardHint(p.domains) }), toInput, toError);
    toInput.addEventListener('change', () => {
      if (!toInput.value.trim()) return;
      const v = forwardAddresses(toInput.value, p.domains);
      fieldError(toError, toInput, v.error || '');
    });
  } else {
    const list = mode === 'all' ? p.replyAll : p.replyTo;
    toField = el('div', { className: 'field' }, el('span', { className: 'label', id: 'sp-to-label', text: T.to }),
      el('ul', { className: 'chips', id: 'sp-to-chips', 'aria-labelledby': 'sp-to-label' },
        ...list.map((a) => el('li', { className: 'chip' }, el('bdi', { text: a })))), toError);
  }

  // Subject, message
  const subject = el('input', { id: 'sp-subject-input', name: 'subject', type: 'text', maxlength: String(MAX_SUBJECT),
    'aria-describedby': 'sp-subject-error' });
  subject.value = prefixed(h.subject || '', mode).slice(0, MAX_SUBJECT);
  const subjectError = el('p', { className: 'field-error', id: 'sp-subject-error', role: 'alert', hidden: true });
  const body = el('textarea', { id: 'sp-body-input', name: 'text', rows: '14', spellcheck: 'true',
    'aria-describedby': 'sp-body-error' });
  body.value = quoted(mode, h, await originalText(c));
  const bodyError = el('p', { className: 'field-error', id: 'sp-body-error', role: 'alert', hidden: true });

  // Attachments: {name, type, size, file?, bytes?}
  const files = [];
  if (mode === 'forward' && raw) files.push({ name: 'original.eml', type: 'message/rfc822', size: raw.length, bytes: raw });
  const attList = el('ul', { className: 'attachments', id: 'sp-compose-files', 'aria-labelledby': 'sp-compose-att-label' });
  const total = el('p', { className: 'hint', id: 'sp-compose-total', 'aria-live': 'polite' });
  const attError = el('p', { className: 'field-error', id: 'sp-att-error', role: 'alert', hidden: true });
  const picker = el('input', { id: 'sp-files', name: 'files', type: 'file', multiple: true,
    'aria-describedby': 'sp-compose-total sp-att-error' });
  const sum = () => files.reduce((a, f) => a + f.size, 0);
  const checkSize = () => {
    if (files.length > MAX_ATTACHMENTS) return T.tooMany;
    return sum() > p.max ? T.tooLarge(p.max) : '';
  };
  const drawFiles = () => {
    attList.replaceChildren(...files.map((f, i) => el('li', {},
      el('span', { className: 'att-name', text: f.name }), el('span', { className: 'att-meta', text: formatSize(f.size) }),
      button(T.remove, 'linkbtn', () => {
        files.splice(i, 1);
        drawFiles();
        fieldError(attError, picker, checkSize());
        (attList.querySelector('button') || picker).focus();
      }, { 'aria-label': T.removeName(f.name) }))));
    show(attList, files.length > 0);
    total.textContent = T.total(sum(), p.max);
  };
  picker.addEventListener('change', () => {
    for (const f of picker.files) files.push({ name: f.name, type: f.type || 'application/octet-stream', size: f.size, file: f });
    picker.value = '';
    drawFiles();
    fieldError(attError, picker, checkSize());
  });
  drawFiles();

  // BCC me, the buttons, the card's own error
  const bcc = el('input', { id: 'sp-bcc', name: 'bcc_me', type: 'checkbox', 'aria-describedby': 'sp-bcc-hint' });
  bcc.checked = p.bcc;
  const send = el('button', { type: 'submit', className: 'btn', id: 'sp-send', text: T.send });
  const error = el('p', { className: 'error', id: 'sp-compose-error', role: 'alert', tabindex: '-1', hidden: true });
  const heading = el('h1', { id: 'sp-compose-title', text: title });
  const form = el('form', { id: 'sp-compose-form', novalidate: true },
    toField,
    el('div', { className: 'field' }, el('label', { for: 'sp-subject-input', text: T.subject }), subject, subjectError),
    el('div', { className: 'field' }, el('label', { for: 'sp-body-input', text: T.body }), body, bodyError),
    el('div', { className: 'field' }, el('span', { className: 'label', id: 'sp-compose-att-label', text: T.attachments }),
      attList, el('label', { for: 'sp-files', className: 'file-label', text: T.addFiles }), picker, total, attError),
    el('div', { className: 'field' }, el('label', { className: 'check', for: 'sp-bcc' }, bcc, T.bccMe),
      el('p', { className: 'hint', id: 'sp-bcc-hint', text: T.bccHint(session.email) })),
    error,
    el('div', { className: 'actions' }, send, button(T.cancel, 'btn secondary', () => {
      $('sp-compose').remove();
      view('message');
      ($(mode === 'forward' ? 'sp-forward' : mode === 'all' ? 'sp-reply-all' : 'sp-reply') || $('sp-subject')).focus();
    }, { id: 'sp-cancel' })));
  const card = el('section', { className: 'card compose', id: 'sp-compose', 'aria-labelledby': 'sp-compose-title' }, heading, form);
  $('sp-message').after(card);
  view('compose');
  // Typing starts above the quoted original.
  body.setSelectionRange(0, 0);
  body.scrollTop = 0;
  focusHeading(heading);

  const clearErrors = () => {
    fieldError(toError, toInput, '');
    fieldError(subjectError, subject, '');
    fieldError(bodyError, body, '');
    fieldError(attError, picker, '');
    fieldError(error, null, '');
  };
  // The first error shown gets the focus.
  const fail = (box, input, text) => {
    fieldError(box, input, text);
    (input || box).focus();
    return false;
  };
  const boxes = { to: [toError, toInput], subject: [subjectError, subject], text: [bodyError, body], attachments: [attError, picker] };
  const local = () => {
    let to;
    if (mode === 'forward') {
      const v = forwardAddresses(toInput.value, p.domains);
      if (v.error) return fail(toError, toInput, v.error);
      to = v.list;
    } else {
      to = mode === 'all' ? p.replyAll : p.replyTo;
    }
    const s = subject.value.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
    if (!s) return fail(subjectError, subject, T.needSubject);
    if (s.length > MAX_SUBJECT) return fail(subjectError, subject, T.longSubject);
    if (new TextEncoder().encode(body.value).length > MAX_TEXT) return fail(bodyError, body, T.longBody);
    const big = checkSize();
    if (big) return fail(attError, picker, big);
    return { to, subject: s };
  };

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (send.disabled) return;
    clearErrors();
    const ok = local();
    if (!ok) return;
    send.disabled = true;
    send.textContent = T.sending;
    try {
      const attachments = [];
      for (const f of files) {
        let bytes = f.bytes;
        if (!bytes) {
          try {
            bytes = new Uint8Array(await f.file.arrayBuffer());
          } catch {
            fail(attError, picker, T.unreadable(f.name));
            return;
          }
        }
        attachments.push({ name: f.name, type: f.type, data: b64(bytes) });
      }
      const req = { mode, to: ok.to, subject: ok.subject, text: body.value, bcc_me: bcc.checked, attachments };
      if (thread.messageId) req.in_reply_to = thread.messageId;
      if (thread.references) req.references = thread.references;
      const r = await api('POST', `/api/v1/envelopes/${encodeURIComponent(id)}/reply`, req, sess.csrf);
      if (r.status === 200) {
        sent(mode, strings(r.data.to).length ? strings(r.data.to) : ok.to, r.data.bcc_me === true);
        return;
      }
      refusal(r, mode, p.max, boxes, fail, error);
      if (r.status === 401) signIn(sess).then((s) => { sess = s; });
    } finally {
      send.disabled = false;
      send.textContent = T.send;
    }
  });
}

// A refusal of the key server, beside the field it concerns.
function refusal(r, mode, max, boxes, fail, error) {
  const d = r.data;
  const e = typeof d.error === 'string' ? d.error.slice(0, 300) : '';
  if (r.status === 403 && d.reason === 'recipient') {
    const a = typeof d.address === 'string' ? d.address.slice(0, 254) : '';
    fail(...boxes.to, mode === 'forward' ? T.refusedForward(a) : T.refusedTo(a));
  } else if (r.status === 403 && d.reason === 'forward-off') {
    fail(error, null, T.forwardOff);
  } else if (r.status === 403 && d.reason === 'replies-off') {
    fail(error, null, T.repliesOff);
  } else if (r.status === 413) {
    fail(...boxes.attachments, T.tooLarge(max));
  } else if (r.status === 429) {
    const s = Number.isFinite(d.retry_after) && d.retry_after > 0 ? d.retry_after : 60;
    fail(error, null, T.retry(Math.max(1, Math.ceil(s / 60))));
  } else if (r.status === 410) {
    fail(error, null, T.gone);
  } else if (r.status === 401) {
    fail(error, null, T.signedOut);
  } else if (r.status === 0) {
    fail(error, null, T.unreachable);
  } else if (r.status === 400 && Object.hasOwn(boxes, d.field) && boxes[d.field][0]) {
    const box = boxes[d.field];
    fail(box[0], box[1], T.failed(e));
  } else {
    fail(error, null, T.failed(e));
  }
}

// The session ended while composing: the sign-in card again (the draft
// stays below it); resolves with the new session.
async function signIn(session) {
  const s = await askLogin(session.email);
  $('sp-send')?.focus();
  return s;
}

// The confirmation, in place of the compose card: to whom it went, whether
// a copy went to the sender, and the way back to the message.
function sent(mode, to, bccMe) {
  const list = to.join(', ');
  const heading = el('h1', { id: 'sp-sent-title', text: mode === 'forward' ? T.sentForward(list) : T.sentReply(list) });
  const card = el('section', { className: 'card verdict genuine sent', id: 'sp-sent', role: 'status',
    'aria-labelledby': 'sp-sent-title' }, heading);
  if (bccMe) card.append(el('p', { id: 'sp-sent-copy', text: T.copyToYou }));
  card.append(el('p', { className: 'hint', text: T.sealedNote }),
    el('div', { className: 'actions' }, button(T.back, 'btn secondary', () => {
      card.remove();
      view('message');
      focusHeading($('sp-subject'));
    }, { id: 'sp-sent-back' })));
  $('sp-compose').replaceWith(card);
  view('sent');
  focusHeading(heading);
}
