// reply.test.mjs - secure reply, reply all and forward on a real
// sealpost-keyd over loopback (both store backends, SEALPOST_TEST_DB):
// the key server seals the reply as an envelope of the original's
// organisation, signed with its reply key, and writes it to the outbox with
// its SMTP recipients in NAME.rcpt; `sealpost open` with the organisation's
// token, or as the replier (BCC me), shows the text and the attachment.
// The refusals: an address the original did not include, a forward the
// organisation does not allow, a session that may not open the original,
// too many replies, too large, a cookie without its CSRF token; a reply the
// mail system does not take is answered 503 and retracted, never lost
// after a 200.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startKeyd, orgAdd, recipientAdd, sealpost, passwordFile, tmpDir, sleepSync, storeSql, mailsTo }
  from '../lib/harness.mjs';
import { CookieJar } from '../lib/cookiejar.mjs';

const PW = 'correct horse battery staple';
const doc = 'doc@clinic.example';
const [pat, sam, kim, lee, eve, rl, bo, ana, luz, max] = ['pat', 'sam', 'kim', 'lee', 'eve', 'rl', 'bo', 'ana',
  'luz', 'max'].map((n) => `${n}@example.org`);
let K, ORG, LAB, work;

before(async () => {
  K = await startKeyd({ args: ['--login-free', '1000', '--login-free-ip', '100000',
    '--form-free', '100000', '--reply-free', '6', '--reply-free-ip', '1000',
    '--max-reply-size', '200000'] });
  ORG = orgAdd(K.dataDir, 'Clinic', 'clinic.example');
  LAB = orgAdd(K.dataDir, 'Lab', 'lab.example');
  for (const a of [pat, sam, kim, lee, eve, rl, bo, ana, luz, max]) recipientAdd(K.dataDir, a, PW);
  const s = sealpost(['--data-dir', K.dataDir, 'org', 'set', 'Clinic', '--forward', 'on',
    '--forward-domains', 'Partner.example, partner.example,second.example']);
  assert.equal(s.status, 0, s.stderr.toString());
  work = tmpDir('sealpost-reply-');
});
after(async () => { await K?.stop(); });

// A browser: a cookie jar and JSON calls with the session's CSRF token.
class Browser {
  constructor() { this.jar = new CookieJar(); }

  async req(p, { method = 'GET', json, form, csrf = true } = {}) {
    const h = this.jar.headers();
    if (csrf && this.csrf) h['X-CSRF-Token'] = this.csrf;
    let body;
    if (json !== undefined) {
      h['Content-Type'] = 'application/json';
      body = JSON.stringify(json);
    } else if (form !== undefined) {
      h['Content-Type'] = 'application/x-www-form-urlencoded';
      h.Origin = K.url;
      body = new URLSearchParams(form).toString();
    }
    const r = await fetch(K.url + p, { method, headers: h, body, redirect: 'manual' });
    this.jar.take(r);
    const text = await r.text();
    let data = null;
    try { data = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, data, text, headers: r.headers };
  }

  async signIn(email) {
    const r = await this.req('/api/v1/session', { method: 'POST', json: { email, password: PW } });
    assert.equal(r.status, 200, r.text);
    this.csrf = r.data.csrf;
    return this;
  }

  reply(id, body, opts) {
    return this.req(`/api/v1/envelopes/${id}/reply`, { method: 'POST', json: body, ...opts });
  }
}

const signIn = (email) => new Browser().signIn(email);

async function deposit(token, from, recipients) {
  const r = await fetch(K.url + '/api/v1/envelopes', { method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ from, recipients, expires: 0, format: 2 }) });
  const j = await r.json();
  assert.equal(r.status, 201, JSON.stringify(j));
  return j.id;
}

// The outbox mail whose X-Sealpost-Envelope is id, with its SMTP
// recipients (NAME.rcpt); waits for the mail thread.
function sentMail(id) {
  for (let i = 0; i < 200; i++) {
    const files = fs.existsSync(K.outbox) ? fs.readdirSync(K.outbox) : [];
    for (const f of files.filter((n) => n.endsWith('.eml'))) {
      const file = path.join(K.outbox, f);
      const text = fs.readFileSync(file, 'utf8');
      if (text.includes(`X-Sealpost-Envelope: ${id}`)) {
        const rcpt = fs.readFileSync(file.replace(/\.eml$/, '.rcpt'), 'utf8').split('\n').filter(Boolean);
        return { file, text, rcpt };
      }
    }
    sleepSync(25);
  }
  throw new Error(`no mail for ${id} in the outbox`);
}

function headerBlock(text) {
  return text.slice(0, text.search(/\r?\n\r?\n/));
}

test('GET reply: who Reply and Reply All reach, the forward domains, the caps', async () => {
  const id = await deposit(ORG, doc, [pat, sam, 'kim@example.net']);
  const b = await signIn(pat);
  const r = await b.req(`/api/v1/envelopes/${id}/reply`);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.data, { reply: true, forward: true, from: doc, reply_to: [doc],
    reply_all: [doc, sam, 'kim@example.net'], forward_domains: ['clinic.example',
      'partner.example', 'second.example'], max_bytes: 200000, bcc_default: false });
  const me = await b.req('/api/v1/me');
  assert.equal(me.status, 200, me.text);
  assert.equal(me.data.email, pat);
  assert.equal(me.data.bcc_default, false);
  const show = sealpost(['--data-dir', K.dataDir, 'org', 'show', 'Clinic']);
  assert.match(show.stdout.toString(), /^forward-domains: partner\.example,second\.example$/m);
});

test('reply with an attachment and BCC me: sealed in the outbox, opens for the organisation and the replier', async () => {
  const id = await deposit(ORG, doc, [pat, sam]);
  const b = await signIn(pat);
  const pdf = crypto.randomBytes(5000);
  const r = await b.reply(id, { mode: 'reply', subject: 'Re: Your results – ok', text:
    'Thank you, doctor.\nSee the scan.\n\n> Your results are attached.\n', bcc_me: true,
    in_reply_to: '<test-1@clinic.example>', references: '<test-1@clinic.example>',
    attachments: [{ name: 'scan.pdf', type: 'application/pdf', data: pdf.toString('base64') }] });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.data.to, [doc]);
  assert.equal(r.data.bcc_me, true);
  assert.match(r.data.id, /^[A-Za-z0-9_-]{22}$/);
  const m = sentMail(r.data.id);
  assert.deepEqual(m.rcpt.sort(), [doc, pat].sort());
  const hdr = headerBlock(m.text);
  assert.match(hdr, /^From: "pat@example\.org via Clinic" <sealpost@localhost>\r?$/m);
  assert.match(hdr, /^Reply-To: pat@example\.org\r?$/m);
  assert.match(hdr, /^To: doc@clinic\.example\r?$/m);
  assert.doesNotMatch(hdr, /^(To|Cc|Bcc):.*pat@example\.org/mi, 'the BCC copy names pat in no recipient field');
  assert.ok(!m.text.includes('Thank you, doctor'), 'the mail holds no plaintext');

  // the organisation opens it with its token (its milter's way)
  const tf = path.join(work, 'token');
  fs.writeFileSync(tf, ORG + '\n');
  const dir = tmpDir('sealpost-reply-save-');
  const o = sealpost(['open', '--token-file', tf, '--keyd', K.url, '--save-dir', dir, m.file]);
  assert.equal(o.status, 0, o.stderr.toString());
  const out = o.stdout.toString();
  assert.match(out, /Thank you, doctor\./);
  assert.match(out, /scan\.pdf/);
  assert.ok(fs.readdirSync(dir).some((f) => fs.readFileSync(path.join(dir, f)).equals(pdf)),
    'the attachment is saved byte for byte');
  // the raw reply: From the replier, In-Reply-To kept, no Bcc
  const raw = sealpost(['open', '--token-file', tf, '--keyd', K.url, '--raw', m.file]).stdout.toString();
  const rh = headerBlock(raw);
  assert.match(rh, /^From: pat@example\.org\r?$/m);
  assert.match(rh, /^In-Reply-To: <test-1@clinic\.example>\r?$/m);
  assert.match(rh, /^Message-ID: <[^>]+@localhost>\r?$/mi);
  assert.doesNotMatch(rh, /^Bcc:/mi);
  // the replier opens its own copy
  const p = sealpost(['open', '--email', pat, '--password-file', passwordFile(PW), '--keyd', K.url, m.file]);
  assert.equal(p.status, 0, p.stderr.toString());
  assert.match(p.stdout.toString(), /Thank you, doctor\./);
  // the organisation's key list shows the reply key; the audit has the reply
  const keys = sealpost(['--data-dir', K.dataDir, 'org', 'key', 'list', 'Clinic']).stdout.toString();
  assert.match(keys, /\blive reply$/m);
  const audit = storeSql(K.dataDir, `SELECT actor || ' ' || detail FROM audit WHERE event = 'reply' AND envelope_id = '${r.data.id}'`);
  assert.equal(audit, `${pat} original=${id} mode=reply recipients=1 bcc_me=yes`);
  // the replier's own copy is a blind copy: the organisation is not told of it
  assert.match(storeSql(K.dataDir, `SELECT email || ' ' || hidden FROM envelope_rcpt WHERE envelope_id = '${r.data.id}' ORDER BY pos`),
    new RegExp(`^${doc} (0|f)\n${pat} (1|t)$`));
  assert.ok(!storeSql(K.dataDir, 'SELECT detail FROM audit').includes('Your results'), 'no subject in the audit trail');
  // the organisation, which may release the reply, may not seal it anew
  // with its own key: only the key server seals a recipient's reply
  const again = await fetch(`${K.url}/api/v1/envelopes/${r.data.id}/seal`, { method: 'POST',
    headers: { Authorization: `Bearer ${ORG}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ header: 'e30=', ct_sha256: '00'.repeat(32), sig: 'A'.repeat(86) }) });
  assert.equal(again.status, 403);
  assert.match((await again.json()).error, /reply/);
});

test('a reply the mail system does not take: 503, its envelope retracted, the audit says why; sent again, it goes', async () => {
  const id = await deposit(ORG, doc, [max]);
  const b = await signIn(max);
  const body = { mode: 'reply', subject: 'Re: results', text: 'Please call me.\n' };
  // the outbox cannot be written: a file where its directory was
  const aside = K.outbox + '.aside';
  fs.renameSync(K.outbox, aside);
  fs.writeFileSync(K.outbox, 'not a directory\n');
  let r;
  try {
    r = await b.reply(id, body);
  } finally {
    fs.rmSync(K.outbox);
    fs.renameSync(aside, K.outbox);
  }
  assert.equal(r.status, 503, r.text);
  assert.match(r.data.error, /was not sent: send it again/);
  const orphan = storeSql(K.dataDir, `SELECT envelope_id FROM audit WHERE event = 'reply-not-sent' AND actor = '${max}'`);
  assert.match(orphan, /^[A-Za-z0-9_-]{22}$/);
  assert.notEqual(storeSql(K.dataDir, `SELECT retracted FROM envelopes WHERE id = '${orphan}'`), '0');
  assert.ok(!fs.readdirSync(K.outbox).some((f) => fs.readFileSync(path.join(K.outbox, f), 'utf8')
    .includes(`X-Sealpost-Envelope: ${orphan}`)), 'no mail of the failed reply');
  // the draft sent again once the mail system takes mail
  const again = await b.reply(id, body);
  assert.equal(again.status, 200, again.text);
  assert.notEqual(again.data.id, orphan);
  assert.deepEqual(sentMail(again.data.id).rcpt, [doc]);
});

test('reply all reaches every participant but the replier', async () => {
  const id = await deposit(ORG, doc, [pat, sam, 'kim@example.net']);
  const b = await signIn(sam);
  const r = await b.reply(id, { mode: 'all', subject: 'Re: plan', text: 'Fine by me.' });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.data.to, [doc, pat, 'kim@example.net']);
  const m = sentMail(r.data.id);
  assert.deepEqual(m.rcpt.sort(), [doc, pat, 'kim@example.net'].sort());
  // a subset of reply_all is fine too
  const s = await b.reply(id, { mode: 'all', to: [pat], subject: 'Re: plan', text: 'Only you.' });
  assert.equal(s.status, 200, s.text);
  assert.deepEqual(sentMail(s.data.id).rcpt, [pat]);
});

test('forward: to an allowed domain; refused elsewhere and where the organisation does not allow it', async () => {
  const id = await deposit(ORG, doc, [pat]);
  const b = await signIn(pat);
  const ok = await b.reply(id, { mode: 'forward', to: ['nurse@partner.example', 'ward@clinic.example'],
    subject: 'Fwd: results', text: 'FYI', attachments: [{ name: 'original.eml',
      type: 'message/rfc822', data: Buffer.from('From: a@b.example\r\nSubject: x\r\n\r\nbody\r\n').toString('base64') }] });
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual(sentMail(ok.data.id).rcpt.sort(), ['nurse@partner.example', 'ward@clinic.example']);
  const bad = await b.reply(id, { mode: 'forward', to: ['x@evil.example'], subject: 'Fwd: results', text: 'FYI' });
  assert.equal(bad.status, 403, bad.text);
  assert.equal(bad.data.reason, 'recipient');
  assert.equal(bad.data.address, 'x@evil.example');
  // a subdomain is not the domain
  const sub = await b.reply(id, { mode: 'forward', to: ['x@sub.partner.example'], subject: 'Fwd', text: '' });
  assert.equal(sub.status, 403, sub.text);

  const labId = await deposit(LAB, 'tech@lab.example', [lee]);
  const l = await signIn(lee);
  const g = await l.req(`/api/v1/envelopes/${labId}/reply`);
  assert.equal(g.data.forward, false);
  assert.deepEqual(g.data.forward_domains, []);
  const off = await l.reply(labId, { mode: 'forward', to: ['x@lab.example'], subject: 'Fwd', text: 'x' });
  assert.equal(off.status, 403, off.text);
  assert.equal(off.data.reason, 'forward-off');
});

test('an address the original did not include is refused', async () => {
  const id = await deposit(ORG, doc, [pat, sam]);
  const b = await signIn(sam);
  for (const mode of ['reply', 'all']) {
    const r = await b.reply(id, { mode, to: [doc, 'mallory@evil.example'], subject: 'Re: x', text: 'x' });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.data.reason, 'recipient');
    assert.equal(r.data.address, 'mallory@evil.example');
  }
  // Reply reaches the sender only, not the other recipients
  const r = await b.reply(id, { mode: 'reply', to: [pat], subject: 'Re: x', text: 'x' });
  assert.equal(r.status, 403, r.text);
  assert.equal(r.data.address, pat);
});

test('a recipient the sender withdrew the message from is out of reply all and cannot be forwarded to', async () => {
  // two of its own: the per-account reply limit is not shared with the
  // other tests
  const [wes, ida, nurse] = ['wes@example.org', 'ida@example.org', 'nurse@partner.example'];
  for (const a of [wes, ida]) recipientAdd(K.dataDir, a, PW);
  const id = await deposit(ORG, doc, [wes, ida, nurse]);
  for (const recipient of [ida, nurse]) {
    const w = await fetch(`${K.url}/api/v1/envelopes/${id}/retract`, { method: 'POST',
      headers: { Authorization: `Bearer ${ORG}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ recipient }) });
    assert.equal(w.status, 200);
  }
  const b = await signIn(wes);
  const g = await b.req(`/api/v1/envelopes/${id}/reply`);
  assert.equal(g.status, 200, g.text);
  assert.deepEqual(g.data.reply_all, [doc]);
  // reply all without "to" reaches the sender only
  const all = await b.reply(id, { mode: 'all', subject: 'Re: plan', text: 'Thanks.' });
  assert.equal(all.status, 200, all.text);
  assert.deepEqual(sentMail(all.data.id).rcpt, [doc]);
  // naming them is refused, in every mode, with the reason
  for (const [mode, to] of [['all', [doc, ida]], ['reply', [ida]], ['forward', [nurse]]]) {
    const r = await b.reply(id, { mode, to, subject: 'Re: plan', text: 'x' });
    assert.equal(r.status, 403, `${mode}: ${r.text}`);
    assert.equal(r.data.reason, 'recipient');
    assert.equal(r.data.address, to[to.length - 1]);
    assert.match(r.data.error, /withdrew/);
  }
  // the withdrawn recipient cannot reply either: the original is refused
  const s = await signIn(ida);
  assert.equal((await s.reply(id, { mode: 'all', subject: 'Re', text: 'x' })).status, 410);
});

test('a blind copy is no reply target of the others, and a refusal does not tell it was one', async () => {
  const [dan, bea, cal] = ['dan@example.org', 'bea@example.org', 'cal@example.org'];
  for (const a of [dan, bea, cal]) recipientAdd(K.dataDir, a, PW);
  const r = await fetch(K.url + '/api/v1/envelopes', { method: 'POST',
    headers: { Authorization: `Bearer ${ORG}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ from: doc, recipients: [dan, bea, cal], bcc: [bea, cal], expires: 0, format: 2 }) });
  assert.equal(r.status, 201);
  const { id } = await r.json();
  // the sender withdraws it from cal, a blind copy
  const w = await fetch(`${K.url}/api/v1/envelopes/${id}/retract`, { method: 'POST',
    headers: { Authorization: `Bearer ${ORG}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ recipient: cal }) });
  assert.equal(w.status, 200);
  const p = await signIn(dan);
  const g = await p.req(`/api/v1/envelopes/${id}/reply`);
  assert.equal(g.status, 200, g.text);
  assert.deepEqual(g.data.reply_all, [doc], 'reply all reaches no blind copy');
  const all = await p.reply(id, { mode: 'all', subject: 'Re: plan', text: 'Thanks.' });
  assert.equal(all.status, 200, all.text);
  assert.deepEqual(sentMail(all.data.id).rcpt, [doc]);
  // naming one is refused as for any address the original did not name,
  // the withdrawn one too (a "withdrew" would tell it was a recipient)
  for (const who of [bea, cal, 'stranger@example.org']) {
    const x = await p.reply(id, { mode: 'all', to: [doc, who], subject: 'Re', text: 'x' });
    assert.equal(x.status, 403, x.text);
    assert.equal(x.data.reason, 'recipient');
    assert.doesNotMatch(x.data.error, /withdrew/);
  }
  // the blind copy itself replies to the sender and the named recipients
  const b = await signIn(bea);
  const gb = await b.req(`/api/v1/envelopes/${id}/reply`);
  assert.equal(gb.status, 200, gb.text);
  assert.deepEqual(gb.data.reply_all, [doc, dan]);
});

test("a session that may not open the original is refused; no session is 401", async () => {
  const id = await deposit(ORG, doc, [pat]);
  const e = await signIn(eve);
  const g = await e.req(`/api/v1/envelopes/${id}/reply`);
  assert.equal(g.status, 403, g.text);
  const p = await e.reply(id, { mode: 'reply', subject: 'Re: x', text: 'x' });
  assert.equal(p.status, 403, p.text);
  const none = await new Browser().req(`/api/v1/envelopes/${id}/reply`);
  assert.equal(none.status, 401, none.text);
  const unknown = await e.req('/api/v1/envelopes/AAAAAAAAAAAAAAAAAAAAAA/reply');
  assert.equal(unknown.status, 404, unknown.text);
});

test('a cookie without its CSRF token is refused', async () => {
  const id = await deposit(ORG, doc, [kim]);
  const b = await signIn(kim);
  const r = await b.reply(id, { mode: 'reply', subject: 'Re: x', text: 'x' }, { csrf: false });
  assert.equal(r.status, 403, r.text);
  assert.match(r.data.error, /CSRF/);
});

test('bad fields are named; oversized attachments are 413', async () => {
  const id = await deposit(ORG, doc, [kim]);
  const b = await signIn(kim);
  const nl = await b.reply(id, { mode: 'reply', subject: 'Re: x\r\nBcc: all@evil.example', text: 'x' });
  assert.equal(nl.status, 400, nl.text);
  assert.equal(nl.data.field, 'subject');
  const name = await b.reply(id, { mode: 'reply', subject: 'Re: x', text: 'x',
    attachments: [{ name: 'a\nb.pdf', type: 'application/pdf', data: 'AAAA' }] });
  assert.equal(name.status, 400, name.text);
  assert.equal(name.data.field, 'attachments');
  const big = await b.reply(id, { mode: 'reply', subject: 'Re: x', text: 'x',
    attachments: [{ name: 'big.bin', data: crypto.randomBytes(250000).toString('base64') }] });
  assert.equal(big.status, 413, big.text);
});

test('replies are rate-limited per account: 429 with retry_after', async () => {
  const id = await deposit(ORG, doc, [rl]);
  const b = await signIn(rl);
  const statuses = [];
  let last;
  for (let i = 0; i < 10 && !statuses.includes(429); i++) {
    last = await b.reply(id, { mode: 'reply', subject: 'Re: x', text: `try ${i}` });
    statuses.push(last.status);
  }
  assert.equal(last.status, 429, statuses.join(','));
  assert.ok(last.data.retry_after > 0);
  assert.equal(last.headers.get('retry-after') !== null, true);
  assert.ok(statuses.filter((s) => s === 200).length >= 5, statuses.join(','));
});

test('the BCC default: changed on /account with a fresh password, shown in /api/v1/me and the reply answer', async () => {
  const id = await deposit(ORG, doc, [bo]);
  const b = await signIn(bo);
  let page = await b.req('/account');
  assert.equal(page.status, 200);
  assert.match(page.text, /id="pf-bcc" name="bcc_default" value="1" ?>/, 'unticked at first');
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)[1];
  const r = await b.req('/account/profile', { method: 'POST', form: { csrf, first_name: 'Bo',
    last_name: 'Lind', phrase: 'tea in the garden', q1: '1', q2: '2', q3: '3', a1: 'Rex', a2: 'Oslo',
    a3: 'Berg', bcc_default: '1' } });
  assert.equal(r.status, 200, r.text);
  assert.match(r.text, /Your profile is saved/);
  page = await b.req('/account');
  assert.match(page.text, /id="pf-bcc" name="bcc_default" value="1" checked>/);
  assert.equal((await b.req('/api/v1/me')).data.bcc_default, true);
  assert.equal((await b.req('/api/v1/account/profile')).data.bcc_default, true);
  const g = await b.req(`/api/v1/envelopes/${id}/reply`);
  assert.equal(g.data.bcc_default, true);
  // the name goes into the reply's From
  const s = await b.reply(id, { mode: 'reply', subject: 'Re: x', text: 'Hej', bcc_me: true });
  assert.equal(s.status, 200, s.text);
  const m = sentMail(s.data.id);
  assert.match(headerBlock(m.text), /^From: "?Bo Lind via Clinic"? <sealpost@localhost>\r?$/m);
  // unticked again
  const u = await b.req('/account/profile', { method: 'POST', form: { csrf, first_name: 'Bo',
    last_name: 'Lind', phrase: 'tea in the garden', q1: '1', q2: '2', q3: '3', a1: '', a2: '', a3: '' } });
  assert.equal(u.status, 200, u.text);
  assert.equal((await b.req('/api/v1/me')).data.bcc_default, false);
});

test('replies are rate-limited per client address too', async () => {
  const K2 = await startKeyd({ args: ['--reply-free', '100', '--reply-free-ip', '2'] });
  try {
    const tok = orgAdd(K2.dataDir, 'Clinic', 'clinic.example');
    recipientAdd(K2.dataDir, pat, PW);
    recipientAdd(K2.dataDir, sam, PW);
    const r = await fetch(K2.url + '/api/v1/envelopes', { method: 'POST',
      headers: { Authorization: `Bearer ${tok}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ from: doc, recipients: [pat, sam], format: 2 }) });
    const { id } = await r.json();
    const post = async (email) => {
      const s = await fetch(K2.url + '/api/v1/session', { method: 'POST',
        headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ email, password: PW }) });
      const { session } = await s.json();
      return fetch(`${K2.url}/api/v1/envelopes/${id}/reply`, { method: 'POST',
        headers: { Authorization: `Bearer ${session}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ mode: 'reply', subject: 'Re: x', text: 'x' }) });
    };
    assert.equal((await post(pat)).status, 200);
    assert.equal((await post(pat)).status, 200);
    // another account from the same client address
    const third = await post(sam);
    assert.equal(third.status, 429);
    assert.ok((await third.json()).retry_after > 0);
  } finally {
    await K2.stop();
  }
});

// An encoded header's text (RFC 2047, B and Q).
const unword = (h) => h.replace(/=\?([^?]+)\?([bq])\?([^?]*)\?=(?:\s+(?==\?))?/gi, (m, cs, enc, t) => new TextDecoder(cs).decode(
  enc.toLowerCase() === 'b' ? Buffer.from(t, 'base64') : Buffer.from(t.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/gi,
    (x, hh) => String.fromCharCode(parseInt(hh, 16))), 'latin1')));

test('a reply of an organisation writing Spanish: its notification in Spanish, the API in the reader\'s language', async () => {
  const CEN = orgAdd(K.dataDir, 'Centro', 'centro.example');
  const s = sealpost(['--data-dir', K.dataDir, 'org', 'set', 'Centro', '--language', 'es']);
  assert.equal(s.status, 0, s.stderr.toString());
  const id = await deposit(CEN, 'consulta@centro.example', [ana]);
  const b = await signIn(ana);
  // the refusal in the reader's language (an explicit choice), the reason code unchanged
  b.jar.set('sp_lang', 'es');
  let r = await b.reply(id, { mode: 'all', to: ['eve@example.org'], subject: 'Re: x', text: 'Hola' });
  assert.equal(r.status, 403, r.text);
  assert.equal(r.data.reason, 'recipient');
  assert.equal(r.data.error, 'el mensaje original no inclu\u00eda esta direcci\u00f3n');
  r = await b.reply(id, { mode: 'sideways', subject: 'Re: x', text: 'Hola' });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.data.field, 'mode');
  assert.match(r.data.error, /debe ser reply, all o forward/);
  b.jar.delete('sp_lang');
  r = await b.reply(id, { mode: 'sideways', subject: 'Re: x', text: 'Hola' });
  assert.match(r.data.error, /must be reply, all or forward/, 'English stays the default');
  // the sealed reply's notification: the organisation's language, whatever the reader's
  r = await b.reply(id, { mode: 'reply', subject: 'Re: Cita', text: 'Gracias.' });
  assert.equal(r.status, 200, r.text);
  const m = sentMail(r.data.id);
  const from = /^From: (.*)$/m.exec(headerBlock(m.text).replace(/\r?\n[ \t]+/g, ' '))[1];
  assert.match(unword(from).replace(/"/g, ''), /^ana@example\.org a trav\u00e9s de Centro <sealpost@localhost>/);
  const parts = [...m.text.matchAll(/Content-Type: text\/(plain|html); charset=utf-8\r?\nContent-Transfer-Encoding: base64\r?\n\r?\n([A-Za-z0-9+/=\r\n]+)/g)]
    .map((x) => Buffer.from(x[2].replace(/\s+/g, ''), 'base64').toString('utf8'));
  assert.match(parts[0], /Ha recibido un mensaje seguro de Centro\./);
  assert.doesNotMatch(parts[0], /You have received/);
});

test('the profile\'s language: chosen on /account, then pages, the API and mails follow it', async () => {
  const b = await signIn(luz);
  let page = await b.req('/account');
  assert.match(page.text, /<html lang="en">/);
  assert.match(page.text, /<select id="pf-lang" name="language"><option value="en" lang="en" selected>English<\/option><option value="es" lang="es">Espa\u00f1ol<\/option><\/select>/);
  assert.equal((await b.req('/api/v1/account/profile')).data.language, 'en');
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)[1];
  const form = { csrf, first_name: 'Luz', last_name: 'Vega', phrase: 'mar y sal', q1: '1', q2: '2', q3: '3',
    a1: 'Rex', a2: 'Oslo', a3: 'Berg' };
  // a language that is not offered is refused and changes nothing
  let r = await b.req('/account/profile', { method: 'POST', form: { ...form, language: 'xx' } });
  assert.equal(r.status, 400, r.text);
  r = await b.req('/api/v1/account/profile', { method: 'POST', json: { first_name: 'Luz', last_name: 'Vega',
    phrase: 'mar y sal', questions: [1, 2, 3], answers: ['a', 'b', 'c'], language: 'de' } });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.data.field, 'language');
  const before = mailsTo(K.outbox, luz).length;
  r = await b.req('/account/profile', { method: 'POST', form: { ...form, language: 'es' } });
  assert.equal(r.status, 200, r.text);
  assert.match(r.text, /<html lang="es">/, 'the answer already in the new language');
  assert.match(r.text, /Su perfil se ha guardado\./);
  assert.equal(b.jar.has('sp_lang'), false, 'no cookie: the account decides');
  page = await b.req('/account');
  assert.match(page.text, /<html lang="es">/);
  assert.match(page.text, /<option value="es" lang="es" selected>/);
  assert.match(page.text, /id="sp-profile-lang">Espa\u00f1ol/);
  assert.match((await b.req('/help')).text, /<html lang="es">/);
  assert.equal((await b.req('/api/v1/me')).data.language, 'es');
  assert.equal((await b.req('/api/v1/account/profile')).data.language, 'es');
  // the notice mail of the change, in the new language
  let mails = [];
  for (let i = 0; i < 200 && mails.length <= before; i++) {
    mails = mailsTo(K.outbox, luz);
    if (mails.length <= before) sleepSync(25);
  }
  assert.ok(mails.length > before, 'a notice mail');
  assert.match(mails[mails.length - 1].body, /se acaba de cambiar el perfil de su cuenta de mensajes seguros/);
  // an explicit choice still wins; the API sets it back
  assert.match((await b.req('/help?lang=en')).text, /<html lang="en">/);
  b.jar.delete('sp_lang');
  r = await b.req('/api/v1/account/profile', { method: 'POST', json: { first_name: 'Luz', last_name: 'Vega',
    phrase: 'mar y sal', questions: [1, 2, 3], answers: ['a', 'b', 'c'], language: 'en' } });
  assert.equal(r.status, 200, r.text);
  assert.equal((await b.req('/api/v1/me')).data.language, 'en');
  assert.match((await b.req('/help')).text, /<html lang="en">/);
});
