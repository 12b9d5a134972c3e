// signup.test.mjs - the short sign-up of the open page's card over real
// HTTP on loopback, with the real outbox: address and password, a 6-digit
// code by mail, a session; the same answer for an address that has an
// account (whose owner gets a mail pointing to forgot-password); wrong,
// spent and expired codes; tries per sign-up; mails per address and
// sign-ups per client limited (with codes of their own for a page that
// holds a message to the address); and the profile the account owes after.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startKeyd, recipientAdd, mailsTo, sleepSync, storeSql, orgAdd, orgKey, makeMail, sealpost,
  tmpDir, PGSQL } from '../lib/harness.mjs';

const PW = 'copper lantern meadow 42';
let K;		// generous limits except the ones under test
let L;		// two sign-ups per client
let seq = 0;

before(async () => {
  [K, L] = await Promise.all([
    startKeyd({ args: ['--login-free-ip', '100000', '--form-free', '100000'] }),
    startKeyd({ args: ['--login-free-ip', '100000', '--form-free', '2'] }),
  ]);
});
after(async () => {
  await Promise.all([K?.stop(), L?.stop()]);
});

const fresh = () => `stranger${++seq}.${process.pid}@example.org`;

async function post(k, p, body, headers = {}) {
  const r = await fetch(k.url + p, { method: 'POST', body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json', ...headers } });
  const text = await r.text();
  return { status: r.status, headers: r.headers, body: text ? JSON.parse(text) : null };
}

async function get(k, p, cookie) {
  const r = await fetch(k.url + p, { headers: cookie ? { Cookie: cookie } : {} });
  return { status: r.status, body: JSON.parse(await r.text()) };
}

const signup = (k, email, extra = {}) => post(k, '/api/v1/signup', { email, password: PW, ...extra });
// s: the answer of a sign-up ({signup, email})
const confirm = (k, s, code, email = s.body.email) => post(k, '/api/v1/signup/confirm', { signup: s.body.signup, email, code });

// The mails to email, waiting (bounded) until there are at least n.
function mails(k, email, n) {
  const until = Date.now() + 5000;
  for (;;) {
    const m = mailsTo(k.outbox, email);
    if (m.length >= n) return m;
    if (Date.now() > until) throw new Error(`${m.length} mails to ${email}, wanted ${n}`);
    sleepSync(25);
  }
}

// The code of the n-th mail to email (1-based).
function codeOf(k, email, n = 1) {
  const m = mails(k, email, n)[n - 1];
  const c = /^ {4}(\d{6})$/m.exec(m.body);
  assert.ok(c, `a code in ${m.body}`);
  return c[1];
}

const wrong = (code) => String((Number(code) + 1) % 1000000).padStart(6, '0');

test('a new address: code by mail, then a session and an account that owes its profile', async () => {
  const email = fresh();
  const s = await signup(K, email.toUpperCase());
  assert.equal(s.status, 202);
  assert.match(s.body.signup, /^spu_[A-Za-z0-9_-]{16,}$/);
  assert.equal(s.body.email, email);
  assert.equal(s.body.sent, `We sent a 6-digit code to ${email}.`);
  const code = codeOf(K, email);
  const mail = mails(K, email, 1)[0];
  assert.match(mail.text, /^Subject: .*code/mi);
  assert.ok(!mail.body.includes(PW), 'the mail never carries the password');
  assert.match(mail.body, /expires in 15 minutes/);
  // before the code: no account, the password kept only as Argon2id
  const pending = storeSql(K.dataDir, `SELECT pw_hash, profile_todo FROM pending WHERE email = '${email}'`);
  assert.match(pending, /^\$argon2id\$.*\|1$/);
  assert.equal((await post(K, '/api/v1/session', { email, password: PW })).status, 401);

  assert.equal((await confirm(K, s, wrong(code))).status, 401);
  const c = await confirm(K, s, `${code.slice(0, 3)} ${code.slice(3)}`);
  assert.equal(c.status, 200);
  assert.equal(c.body.email, email);
  assert.equal(c.body.profile_incomplete, true);
  assert.match(c.body.csrf, /^[A-Za-z0-9_-]{16,}$/);
  const cookie = c.headers.getSetCookie().map((h) => h.split(';')[0]).find((h) => h.startsWith('sp_session='));
  assert.ok(cookie, 'the session cookie is set');
  // the session says the profile is owed, so that a page asks for it
  assert.deepEqual((await get(K, '/api/v1/session', cookie)).body, { email, csrf: c.body.csrf, incomplete: true });
  // the code is spent
  assert.equal((await confirm(K, s, code)).status, 410);

  const p = await get(K, '/api/v1/account/profile', cookie);
  assert.equal(p.status, 200);
  assert.equal(p.body.incomplete, true);
  assert.deepEqual(p.body.missing, ['your name', 'a personal security phrase', 'three security questions']);
  assert.equal(p.body.questions.length, 10);
  const profile = { first_name: 'Robin', last_name: 'Lee', phrase: 'green teapot', phrase_enabled: true,
    questions: [1, 2, 3], answers: ['Rex', 'Lyon', 'Smith'] };
  assert.equal((await post(K, '/api/v1/account/profile', profile, { Cookie: cookie })).status, 403,
    'a change needs the CSRF token');
  const bad = await post(K, '/api/v1/account/profile', { ...profile, questions: [1, 1, 3] },
    { Cookie: cookie, 'X-CSRF-Token': c.body.csrf });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.field, 'questions');
  const done = await post(K, '/api/v1/account/profile', profile, { Cookie: cookie, 'X-CSRF-Token': c.body.csrf });
  assert.equal(done.status, 200);
  assert.equal((await get(K, '/api/v1/account/profile', cookie)).body.incomplete, false);
  assert.equal((await get(K, '/api/v1/session', cookie)).body.incomplete, false);
  assert.equal(storeSql(K.dataDir, `SELECT first_name, phrase, q2, profile_todo FROM accounts WHERE email = '${email}'`),
    'Robin|green teapot|2|0');
  // and the password signs in
  assert.equal((await post(K, '/api/v1/session', { email, password: PW })).status, 200);
});

test('a remembered device\'s session does not finish the profile unconfirmed; the owner hears of the first profile', async () => {
  const email = fresh();
  const s = await signup(K, email);
  assert.equal(s.status, 202);
  assert.equal((await confirm(K, s, codeOf(K, email))).status, 200);
  // a browser remembered with the password; then only its device cookie
  const rem = await post(K, '/api/v1/session', { email, password: PW, remember: true });
  assert.equal(rem.status, 200);
  const device = rem.headers.getSetCookie().map((h) => h.split(';')[0]).find((h) => h.startsWith('sp_device='));
  assert.ok(device);
  const d = await post(K, '/api/v1/session/device', {}, { Cookie: device });
  assert.equal(d.status, 200);
  const cookie = d.headers.getSetCookie().map((h) => h.split(';')[0]).find((h) => h.startsWith('sp_session='));
  // not offered, and refused: the cookie alone does not choose the phrase
  // and the questions a reset will ask
  assert.equal((await get(K, '/api/v1/session', cookie)).body.incomplete, false);
  const profile = { first_name: 'Mal', last_name: 'Lory', phrase: 'attacker phrase', phrase_enabled: true,
    questions: [1, 2, 3], answers: ['a', 'b', 'c'] };
  const r = await post(K, '/api/v1/account/profile', profile, { Cookie: `${cookie}; ${device}`, 'X-CSRF-Token': d.body.csrf });
  assert.equal(r.status, 403);
  assert.equal(r.body.reason, 'reauth');
  assert.equal(storeSql(K.dataDir, `SELECT profile_todo FROM accounts WHERE email = '${email}'`), '1');
  // the owner's own session finishes it, and a mail says so
  const own = rem.headers.getSetCookie().map((h) => h.split(';')[0]).find((h) => h.startsWith('sp_session='));
  const ok = await post(K, '/api/v1/account/profile', { ...profile, phrase: 'my own phrase' },
    { Cookie: own, 'X-CSRF-Token': rem.body.csrf });
  assert.equal(ok.status, 200);
  // (other mails may come first: the code, a notice of the remembered device)
  const notice = () => mailsTo(K.outbox, email).some((m) => /^Subject: Your profile for secure messages was changed/m.test(m.text));
  for (let i = 0; i < 100 && !notice(); i++) sleepSync(50);
  assert.ok(notice(), mailsTo(K.outbox, email).map((m) => m.text.split('\n').find((l) => l.startsWith('Subject:'))).join(' | '));
});

test('an address with an account gets the same answer, and a mail about it', async () => {
  const email = fresh();
  recipientAdd(K.dataDir, email, 'an older password of theirs');
  const known = await signup(K, email);
  const other = await signup(K, fresh());
  assert.equal(known.status, other.status);
  assert.deepEqual(Object.keys(known.body).sort(), Object.keys(other.body).sort());
  assert.equal(known.body.sent, `We sent a 6-digit code to ${email}.`);
  assert.match(known.body.signup, /^spu_[A-Za-z0-9_-]{16,}$/);
  const m = mails(K, email, 1)[0];
  assert.match(m.body, /already has one/);
  assert.match(m.body, new RegExp(`${K.url}/forgot`));
  assert.doesNotMatch(m.body, /^ {4}\d{6}$/m);
  // no code works for it, and the account is untouched
  assert.equal((await confirm(K, known, '123456')).status, 401);
  assert.equal((await post(K, '/api/v1/session', { email, password: PW })).status, 401);
  assert.equal((await post(K, '/api/v1/session', { email, password: 'an older password of theirs' })).status, 200);
});

test('a code works only with its own sign-up, for a few tries, and not after it expires', async () => {
  const a = fresh();
  const b = fresh();
  const sa = await signup(K, a);
  const sb = await signup(K, b);
  const ca = codeOf(K, a);
  // a's code with b's sign-up: wrong
  assert.equal((await confirm(K, sb, ca)).status, 401);
  // five tries a sign-up: four more wrong ones, then even the right code is refused
  for (let i = 0; i < 4; i++) assert.equal((await confirm(K, sb, '000000')).status, 401);
  const locked = await confirm(K, sb, codeOf(K, b));
  assert.equal(locked.status, 429);
  assert.match(locked.body.error, /new code/);
  // a's own sign-up still works with its code
  assert.equal((await confirm(K, sa, ca)).status, 200);
  // a new sign-up for b gets a new code, which works
  const sb2 = await signup(K, b);
  assert.equal((await confirm(K, sb2, codeOf(K, b, 2))).status, 200);

  // expired: the right code after its 15 minutes
  const e = fresh();
  const se = await signup(K, e);
  storeSql(K.dataDir, `UPDATE tokens SET expires = 1000 WHERE email = '${e}'`);
  const ex = await confirm(K, se, codeOf(K, e));
  assert.equal(ex.status, 410);
  assert.match(ex.body.error, /expired/);
  // malformed input is refused by name
  assert.equal((await confirm(K, se, '12345')).body.field, 'code');
  assert.equal((await confirm(K, { body: { signup: 'nonsense', email: e } }, '123456')).body.field, 'signup');
  assert.equal((await confirm(K, se, '123456', 'not an address')).body.field, 'email');
});

test('an address allows ten wrong codes over all its sign-ups, then waits', async () => {
  const v = fresh();
  const s1 = await signup(K, v);
  for (let i = 0; i < 5; i++) assert.equal((await confirm(K, s1, '000000')).status, 401);
  const s2 = await signup(K, v);
  // the code is bound to its address as well: the same handle and code with another address, refused
  assert.equal((await confirm(K, s2, codeOf(K, v, 2), fresh())).status, 401);
  for (let i = 0; i < 4; i++) assert.equal((await confirm(K, s2, '000000')).status, 401);
  const s3 = await signup(K, v);
  assert.equal((await confirm(K, s3, '000000')).status, 401, 'the tenth try');
  const r = await confirm(K, s3, codeOf(K, v, 3));
  assert.equal(r.status, 429);
  assert.match(r.body.error, /this address/);
  assert.ok(r.body.retry_after >= 15 * 60 - 5);
});

test('bad fields, cross-site posts and the limits per address and per client', async () => {
  const email = fresh();
  let r = await post(K, '/api/v1/signup', { email, password: 'short' });
  assert.equal(r.status, 400);
  assert.equal(r.body.field, 'password');
  r = await post(K, '/api/v1/signup', { email, password: PW, password2: PW + 'x' });
  assert.equal(r.body.field, 'password2');
  r = await post(K, '/api/v1/signup', { email: 'not an address', password: PW });
  assert.equal(r.body.field, 'email');
  r = await post(K, '/api/v1/signup', { email, password: PW }, { Origin: 'https://evil.example' });
  assert.equal(r.status, 403);
  assert.equal(mailsTo(K.outbox, email).length, 0);

  // three codes an hour to one address, for a known address as well
  for (let i = 0; i < 3; i++) assert.equal((await signup(K, email)).status, 202);
  r = await signup(K, email);
  assert.equal(r.status, 429);
  assert.ok(r.body.retry_after > 0);
  assert.equal(mails(K, email, 3).length, 3);
  const known = fresh();
  recipientAdd(K.dataDir, known, 'an older password of theirs');
  for (let i = 0; i < 3; i++) await signup(K, known);
  assert.equal((await signup(K, known)).status, 429);

  // sign-ups per client
  assert.equal((await signup(L, fresh())).status, 202);
  assert.equal((await signup(L, fresh())).status, 202);
  assert.equal((await signup(L, fresh())).status, 429);
});

// Seal a mail to the addresses in to with the CLI: the envelope's id and
// the SHA-256 (hex) of its ciphertext, as the open page computes it.
function sealTo(k, token, to, from = undefined, extra = []) {
  const dir = tmpDir('sealpost-signup-');
  const inp = path.join(dir, 'in.eml');
  const out = path.join(dir, 'out.eml');
  fs.writeFileSync(inp, makeMail({ to, from }));
  const r = sealpost(['seal', '--keyd', k.url, '--token', token, '--sign-key', orgKey(token), '-i', inp, '-o', out,
    ...extra]);
  assert.equal(r.status, 0, String(r.stderr));
  const mail = fs.readFileSync(out, 'latin1');
  const ct = Buffer.from(/<input type="hidden" id="sp-payload" name="c" value="([^"]*)">/.exec(mail)[1]
    .replace(/\s/g, ''), 'base64');
  const meta = JSON.parse(/<script type="application\/json" id="sp-meta">([^<]*)<\/script>/.exec(mail)[1]);
  return { id: /X-Sealpost-Envelope: (\S+)/.exec(mail)[1],
    ct: crypto.createHash('sha256').update(ct).digest('hex'), holder: holderTag(meta.mp) };
}

// The holder tag of a mail part (docs/envelope-format.md): what a page
// holding the mail (its file or its link) sends.
const holderTag = (mp) => Buffer.from(crypto.hkdfSync('sha256', Buffer.from(mp, 'base64url'),
  'sealpost/holder', 'holder', 32)).toString('base64url');

test('strangers who spend an address\'s codes do not keep a recipient holding the message from signing up', async () => {
  const token = orgAdd(K.dataDir, 'Signup Clinic', 'clinic.example');
  const pat = fresh();
  const other = fresh();	// not a recipient of the message
  const env = sealTo(K, token, pat);
  // strangers spend the three codes of both addresses
  for (const a of [pat, other]) {
    for (let i = 0; i < 3; i++) assert.equal((await signup(K, a)).status, 202);
    assert.equal((await signup(K, a)).status, 429);
  }
  mails(K, pat, 3);
  // a claim that does not prove the message: still the address's budget
  const zero = '0'.repeat(64);
  for (const extra of [{ id: env.id }, { ct_sha256: env.ct }, { id: env.id, ct_sha256: zero },
    { id: env.id, ct_sha256: env.ct.slice(2) }, { id: env.id, ct_sha256: 'zz' },
    { id: env.id, ct_sha256: 5 }, { id: 'Bad!', ct_sha256: env.ct }]) {
    const r = await signup(K, pat, extra);
    assert.equal(r.status, 429, JSON.stringify(extra));
    assert.equal(r.body.reason, 'api.codes_sent');
  }
  // the proof for an address the message is not for
  assert.equal((await signup(K, other, { id: env.id, ct_sha256: env.ct })).status, 429);
  assert.equal(mailsTo(K.outbox, pat).length, 3);

  // a holder tag that is not this mail's, or for an address the mail is not for
  const otherTag = Buffer.alloc(32, 7).toString('base64url');
  for (const extra of [{ id: env.id, holder: otherTag }, { id: env.id, holder: env.holder.slice(1) },
    { holder: env.holder }, { id: env.id, holder: 5 }]) {
    assert.equal((await signup(K, pat, extra)).status, 429, JSON.stringify(extra));
  }
  assert.equal((await signup(K, other, { id: env.id, holder: env.holder })).status, 429);
  assert.equal(mailsTo(K.outbox, pat).length, 3);

  // the recipient's page holds the envelope: its code is mailed, and opens an account
  const s = await signup(K, pat, { id: env.id, ct_sha256: env.ct });
  assert.equal(s.status, 202, JSON.stringify(s.body));
  const c = await confirm(K, s, codeOf(K, pat, 4));
  assert.equal(c.status, 200, JSON.stringify(c.body));
  assert.equal(c.body.email, pat);
  assert.ok(K.log.some((l) => /\bkeyd signup .*holder=yes/.test(l)), 'the log tells which budget');
  // the mail's link proves it with the holder tag alone; that budget is
  // three an hour as well
  for (let i = 0; i < 2; i++) assert.equal((await signup(K, pat, { id: env.id, holder: env.holder })).status, 202);
  assert.equal((await signup(K, pat, { id: env.id, holder: env.holder })).status, 429);
  assert.equal((await signup(K, pat, { id: env.id, ct_sha256: env.ct })).status, 429);
  mails(K, pat, 6);

  // A blind copy has no budget of its own: the named recipient holds the
  // same mail, and a different answer for a blind copy than for a stranger
  // would tell them that the address is one.
  const named = fresh(), blind = fresh();
  const env2 = sealTo(K, token, named, undefined, ['--rcpt', named, '--rcpt', blind]);
  for (let i = 0; i < 3; i++) assert.equal((await signup(K, blind)).status, 202);
  for (const extra of [{ id: env2.id, holder: env2.holder }, { id: env2.id, ct_sha256: env2.ct }]) {
    assert.equal((await signup(K, blind, extra)).status, 429, JSON.stringify(extra));
  }
  assert.equal((await signup(K, named, { id: env2.id, holder: env2.holder })).status, 202);
});

test('a deposit\'s holder tag: kept with the envelope; malformed ones refused', async () => {
  const token = orgAdd(K.dataDir, 'Holder Clinic', 'holder.example');
  const dep = (holder) => fetch(K.url + '/api/v1/envelopes', { method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({ from: 'doc@holder.example', recipients: ['pat@example.org'], format: 2, holder }) });
  for (const bad of ['', 'abc', Buffer.alloc(31).toString('base64url'), Buffer.alloc(33).toString('base64url'),
    Buffer.alloc(32).toString('base64'), 5, true]) {
    const r = await dep(bad);
    assert.equal(r.status, 400, JSON.stringify(bad));
    assert.equal((await r.json()).field, 'holder');
  }
  const tag = Buffer.alloc(32, 9);
  const r = await dep(tag.toString('base64url'));
  assert.equal(r.status, 201);
  const { id } = await r.json();
  const hex = PGSQL ? "encode(holder, 'hex')" : 'hex(holder)';
  assert.equal(storeSql(K.dataDir, `SELECT ${hex} FROM envelopes WHERE id = '${id}'`).toLowerCase(), tag.toString('hex'));
  const none = await dep(null);
  assert.equal(none.status, 201);
  assert.equal(storeSql(K.dataDir, `SELECT count(*) FROM envelopes WHERE id = '${(await none.json()).id}' AND holder IS NULL`), '1');
  // the sealer sends one
  const env = sealTo(K, orgAdd(K.dataDir, 'Sealer Clinic', 'sealer.example'), 'someone@example.org',
    'Dr Sealer <doc@sealer.example>');
  assert.equal(storeSql(K.dataDir, `SELECT ${hex} FROM envelopes WHERE id = '${env.id}'`).toLowerCase(),
    Buffer.from(env.holder, 'base64url').toString('hex'));
});

// The card's "forgot your password" (POST /api/v1/forgot): the forgot
// page's reset link, with the same proof of the message as the sign-up.
const forgot = (k, email, extra = {}, headers = {}) => post(k, '/api/v1/forgot', { email, ...extra }, headers);
const resets = (k, email) => mailsTo(k.outbox, email).filter((m) => /\/reset\?t=[A-Za-z0-9_-]+/.test(m.body));

test('forgot from the card: the same answer for any address, bad fields, cross-site posts, the limit per client', async () => {
  const known = fresh(), ghost = fresh();
  recipientAdd(K.dataDir, known, 'the password they forgot');
  const a = await forgot(K, known), b = await forgot(K, ghost);
  assert.equal(a.status, 202);
  assert.equal(b.status, 202);
  assert.deepEqual(Object.keys(a.body).sort(), Object.keys(b.body).sort());
  assert.equal(a.body.sent.replace(known, 'X'), b.body.sent.replace(ghost, 'X'));
  mails(K, known, 1);
  assert.equal(resets(K, known).length, 1);
  const link = /(\/reset\?t=[A-Za-z0-9_-]+)/.exec(resets(K, known)[0].body)[1];
  assert.equal((await fetch(K.url + link)).status, 200, 'the mailed link opens the reset page');
  sleepSync(200);
  assert.equal(mailsTo(K.outbox, ghost).length, 0);

  for (const bad of [{ email: 'not an address' }, { email: 5 }, {}]) {
    const r = await post(K, '/api/v1/forgot', bad);
    assert.equal(r.status, 400, JSON.stringify(bad));
    assert.equal(r.body.field, 'email');
  }
  assert.equal((await forgot(K, known, {}, { Origin: 'https://evil.example' })).status, 403);
  assert.equal(resets(K, known).length, 1);
  // requests per client, counted with the forgot page's
  assert.equal((await forgot(L, fresh())).status, 202);
  assert.equal((await forgot(L, fresh())).status, 202);
  assert.equal((await forgot(L, fresh())).status, 429);
});

test('strangers who spend an address\'s mails do not keep a recipient holding the message from resetting', async () => {
  const token = orgAdd(K.dataDir, 'Forgot Clinic', 'forgot.example');
  const pat = fresh(), other = fresh();
  recipientAdd(K.dataDir, pat, 'the password they forgot');
  recipientAdd(K.dataDir, other, 'another password of theirs');
  const env = sealTo(K, token, pat, 'Dr Alice <alice@forgot.example>');
  // strangers spend the three mails of the hour of both addresses
  for (const a of [pat, other]) {
    for (let i = 0; i < 3; i++) assert.equal((await forgot(K, a)).status, 202);
    mails(K, a, 3);
  }
  // more answer the same, and mail nothing: without a proof, with a wrong
  // one, or with this message's proof for an address it is not for
  const otherTag = Buffer.alloc(32, 7).toString('base64url');
  for (const extra of [{}, { id: env.id }, { id: env.id, holder: otherTag }, { holder: env.holder },
    { id: env.id, holder: env.holder.slice(1) }, { id: env.id, ct_sha256: '0'.repeat(64) }, { id: env.id, holder: 5 }]) {
    assert.equal((await forgot(K, pat, extra)).status, 202, JSON.stringify(extra));
  }
  assert.equal((await forgot(K, other, { id: env.id, holder: env.holder })).status, 202);
  sleepSync(300);
  assert.equal(resets(K, pat).length, 3);
  assert.equal(resets(K, other).length, 3);
  // the recipient's page proves it holds the message: the link is mailed
  // and works
  assert.equal((await forgot(K, pat, { id: env.id, holder: env.holder })).status, 202);
  mails(K, pat, 4);
  const link = /(\/reset\?t=[A-Za-z0-9_-]+)/.exec(resets(K, pat)[3].body)[1];
  assert.equal((await fetch(K.url + link)).status, 200);
  assert.ok(K.log.some((l) => /\bkeyd forgot .*holder=yes/.test(l)), 'the log tells which budget');
  // that budget is three an hour too, shared with the sign-up's
  assert.equal((await forgot(K, pat, { id: env.id, ct_sha256: env.ct })).status, 202);
  assert.equal((await signup(K, pat, { id: env.id, holder: env.holder })).status, 202);
  mails(K, pat, 6);
  assert.equal((await forgot(K, pat, { id: env.id, holder: env.holder })).status, 202);
  assert.equal((await signup(K, pat, { id: env.id, holder: env.holder })).status, 429);
  sleepSync(300);
  assert.equal(mailsTo(K.outbox, pat).length, 6);
});
