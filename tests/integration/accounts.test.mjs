// accounts.test.mjs - the key server's account lifecycle over real HTTP on
// loopback, through the real forms (with the CSRF cookie) and the real
// outbox: pending registrations and the takeover they prevent, answers that
// do not tell whether an address has an account (same page, same time),
// atomic log-in throttling per address and per client (also behind a
// trusted proxy), the mailed sign-in link, forgot/reset, resend, the
// administrator's unlock and reset, malformed fields, connection limits and
// HSTS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startKeyd, spawnDaemon, freePort, tmpDir, recipientAdd, sealpost, mailsTo,
  mailedLink, activationLink, countLinks, keydDbArgs, storeSql, BIN, SANITIZED, TEST_DB, PGSQL } from '../lib/harness.mjs';
import { CookieJar } from '../lib/cookiejar.mjs';

const PW = 'correct horse battery staple';

// The key servers of this file; each test uses the one whose limits it needs.
let K;	// general: --login-free 5, generous client and form limits
let T;	// timing: no lock gets in the way of 20 samples
const extra = [];

before(async () => {
  K = await startKeyd({ args: ['--login-free', '5', '--login-free-ip', '100000', '--form-free', '100000'] });
  T = await startKeyd({ args: ['--login-free', '1000', '--login-free-ip', '100000', '--form-free', '100000'] });
});
after(async () => {
  for (const k of [K, T, ...extra]) await k?.stop();
});

async function keydWith(args) {
  const k = await startKeyd({ args });
  extra.push(k);
  return k;
}

// A browser: a cookie jar, same-origin form posts with the CSRF token of
// its sp_csrf cookie (fetched from a real page first).
class Browser {
  constructor(k) { this.k = k; this.jar = new CookieJar(); }

  cookie() { return this.jar.header(); }

  take(res) { this.jar.take(res); }

  async req(p, init = {}) {
    const url = p.startsWith('http') ? p : this.k.url + p;
    const r = await fetch(url, { redirect: 'manual', ...init,
      headers: { ...(this.jar.size ? { Cookie: this.cookie() } : {}), ...(init.headers || {}) } });
    this.take(r);
    return { status: r.status, headers: r.headers, text: await r.text() };
  }

  get(p) { return this.req(p); }

  // fields: an object, or an already url-encoded string (for raw bytes)
  async post(p, fields) {
    if (!this.jar.has('sp_csrf')) {
      const g = await this.get('/register');
      assert.equal(g.status, 200);
      assert.ok(g.text.includes(`name="csrf" value="${this.jar.get('sp_csrf')}"`));
    }
    const csrf = this.jar.get('sp_csrf');
    const body = typeof fields === 'string' ? `csrf=${csrf}&${fields}`
      : new URLSearchParams({ csrf, ...fields }).toString();
    return this.req(p, { method: 'POST', body,
      headers: { Origin: this.k.url, 'Content-Type': 'application/x-www-form-urlencoded' } });
  }
}

const regFields = (email, password, more = {}) => ({
  email, id: '', language: 'en', first_name: 'Robin', last_name: 'Ames',
  password, password2: password, phrase: 'a heron at dawn', phrase_enabled: '1',
  q1: '1', a1: 'Rex', a1c: 'Rex', q2: '3', a2: 'Martin', a2c: 'Martin', q3: '5', a3: 'Volvo', a3c: 'Volvo',
  ...more,
});

async function register(k, email, password, browser = new Browser(k)) {
  const r = await browser.post('/register', regFields(email, password));
  assert.equal(r.status, 200, (r.text.match(/<p class="err" id="[^"]+">[^<]+/g) || [r.text.slice(0, 500)]).join('\n'));
  assert.match(r.text, /Check your mail/);
  return browser;
}

// Open an activation link in a browser that did not register (the mailbox
// on another device): it asks for the registration's password.
async function activateElsewhere(k, link, password) {
  const b = new Browser(k);
  const g = await b.get(link);
  assert.equal(g.status, 200, g.text.slice(0, 500));
  assert.match(g.text, /name="password" type="password"/);
  const t = new URL(link).searchParams.get('t');
  return b.post('/activate', password === undefined ? { t } : { t, password });
}

async function login(k, email, password, headers = {}) {
  const r = await fetch(k.url + '/api/v1/session', { method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify({ email, password }) });
  return { status: r.status, body: await r.json(), headers: r.headers };
}

async function sessionOk(k, session) {
  const r = await fetch(k.url + '/api/v1/session', { headers: { Authorization: `Bearer ${session}` } });
  await r.text();
  return r.status;
}

// Wait a moment for the mail thread, then the mails to email.
async function settledMails(k, email, ms = 400) {
  await sleep(ms);
  return mailsTo(k.outbox, email);
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2; };

// --- pending registrations ---------------------------------------------------

test('registrations of one address mail at most three links an hour and push out none', async () => {
  const email = 'flooded@example.org';
  const first = await register(K, email, 'the real owner 12345');
  const link = activationLink(K.outbox, email);
  // strangers, each from a browser of its own, register the same address
  for (let i = 0; i < 4; i++) await register(K, email, `a stranger's try ${i} 1`);
  await sleep(300);
  assert.equal(countLinks(K.outbox, email, 'activate'), 3, 'three mails, the rest neither kept nor sent');
  // the owner's link, opened in the owner's browser, still confirms
  const r = await first.post('/activate', { t: new URL(link).searchParams.get('t') });
  assert.equal(r.status, 200, r.text.slice(0, 300));
  assert.equal((await login(K, email, 'the real owner 12345')).status, 200);
});

test('takeover: an attacker registering first cannot keep or confirm the address', async () => {
  const victim = 'vic@example.org';
  const attackerPw = 'attacker owns this one 1';
  const victimPw = 'my own secret phrase 2';
  const attacker = await register(K, victim, attackerPw);
  assert.ok(attacker.jar.get('sp_reg'));
  const attackerLink = activationLink(K.outbox, victim);
  await register(K, victim, victimPw);
  const victimLink = activationLink(K.outbox, victim, { skip: 1 });
  assert.notEqual(victimLink, attackerLink);

  // Neither pending registration is an account yet.
  assert.equal((await login(K, victim, attackerPw)).status, 401);
  assert.equal((await login(K, victim, victimPw)).status, 401);

  // The victim clicks the attacker's link and types her own password:
  // refused, nothing activated.
  let r = await activateElsewhere(K, attackerLink, victimPw);
  assert.equal(r.status, 403);
  assert.match(r.text, /not the password of this registration/);
  assert.equal((await login(K, victim, attackerPw)).status, 401);
  assert.equal((await login(K, victim, victimPw)).status, 401);

  // The victim's own (newest) link with her password: her registration
  // becomes the account.
  r = await activateElsewhere(K, victimLink, victimPw);
  assert.equal(r.status, 200, r.text.slice(0, 500));
  assert.match(r.text, /is confirmed/);
  assert.equal((await login(K, victim, victimPw)).status, 200);
  assert.equal((await login(K, victim, attackerPw)).status, 401);

  // The attacker's registration is gone: its link cannot be used any more.
  const g = await new Browser(K).get(attackerLink);
  assert.equal(g.status, 400);
  assert.match(g.text, /cannot be used/);
  // not even from the attacker's own browser (its registration cookie)
  r = await attacker.post('/activate', { t: new URL(attackerLink).searchParams.get('t') });
  assert.equal(r.status, 400);
  assert.equal((await login(K, victim, victimPw)).status, 200);
  assert.equal((await login(K, victim, attackerPw)).status, 401);
});

// --- the answers tell nothing ------------------------------------------------

test('registration, log-in, forgot and resend answer the same for an existing and an unknown address', async () => {
  const known = 'known@example.org';
  const pending = 'pending@example.org';
  recipientAdd(T.dataDir, known, PW);
  await register(T, pending, 'still waiting for it 7');
  activationLink(T.outbox, pending);
  const same = (a, b, addrA, addrB, what) => {
    assert.equal(a.status, b.status, what);
    assert.equal(a.text.replaceAll(addrA, 'ADDR'), b.text.replaceAll(addrB, 'ADDR'), what);
    const names = (x) => x.headers.getSetCookie().map((c) => c.split('=')[0]).sort();
    assert.deepEqual(names(a), names(b), what);
  };
  const b = new Browser(T);
  same(await b.post('/register', regFields(known, 'some new password 9')),
    await b.post('/register', regFields('unknown1@example.org', 'some new password 9')),
    known, 'unknown1@example.org', 'register');
  const la = await login(T, known, 'not the password');
  const lb = await login(T, 'unknown1@example.org', 'not the password');
  assert.equal(la.status, 401);
  assert.equal(lb.status, 401);
  assert.deepEqual(la.body, lb.body);
  same(await b.post('/forgot', { email: known }), await b.post('/forgot', { email: 'unknown2@example.org' }),
    known, 'unknown2@example.org', 'forgot');
  same(await b.post('/resend', { email: pending }), await b.post('/resend', { email: 'unknown3@example.org' }),
    pending, 'unknown3@example.org', 'resend');
});

// A measurement of time, not of memory: under the sanitizers (whose
// instrumentation changes every request's time) the paths it drives are
// still run by the test above, and the measurement itself is left to the
// plain builds.
test('registration, log-in, forgot and resend take the same time for an existing and an unknown address',
  { timeout: 300000, skip: SANITIZED && 'a timing measurement; the sanitizer run covers these paths above' }, async (t) => {
  const known = 'timed@example.org';
  const pending = 'timed-pending@example.org';
  recipientAdd(T.dataDir, known, PW);
  await register(T, pending, 'still waiting for it 8');
  const b = new Browser(T);
  await b.get('/register');
  const time = async (f) => { const t0 = performance.now(); const r = await f(); assert.ok(r.status < 500, `status ${r.status}`); return performance.now() - t0; };
  const N = 20;
  const cases = {
    register: [(i) => b.post('/register', regFields(known, 'some new password 9')),
      (i) => b.post('/register', regFields(`new-${i}@example.org`, 'some new password 9'))],
    login: [() => login(T, known, 'not the password'), (i) => login(T, `ghost-${i}@example.org`, 'not the password')],
    forgot: [() => b.post('/forgot', { email: known }), (i) => b.post('/forgot', { email: `ghost-${i}@example.org` })],
    resend: [() => b.post('/resend', { email: pending }), (i) => b.post('/resend', { email: `ghost-${i}@example.org` })],
  };
  // One round: N interleaved samples of each, their medians.
  const round = async (existing, unknown, tag) => {
    const a = [], u = [];
    for (let i = 0; i < N; i++) {
      // interleaved, and the order alternates, so drift hits both alike
      if (i % 2) { a.push(await time(() => existing(`${tag}-${i}`))); u.push(await time(() => unknown(`${tag}-${i}`))); }
      else { u.push(await time(() => unknown(`${tag}-${i}`))); a.push(await time(() => existing(`${tag}-${i}`))); }
    }
    return [median(a), median(u)];
  };
  // Registration and log-in are bound by Argon2 time, the same whichever
  // store is behind: on PostgreSQL only forgot and resend, whose few
  // milliseconds are the store's, are measured again.
  const measured = TEST_DB === 'pgsql' ? ['forgot', 'resend'] : Object.keys(cases);
  for (const [what, [existing, unknown]] of Object.entries(cases)) {
    if (!measured.includes(what)) { t.diagnostic(`${what}: measured on SQLite only`); continue; }
    await existing('w'); await unknown('w'); // warm up
    // Registration and log-in spend Argon2 time either way, so the medians
    // must be within 25%.  Forgot and resend do one small store transaction
    // (mail leaves through the queue): a request takes a millisecond or
    // two, where 25% is below the noise of the machine, so a difference
    // under 3 ms passes too (far less than any difference an account
    // lookup with a synchronous mail would make).  The machine is shared:
    // a burst of other work can skew one round, so up to three rounds are
    // measured; a real difference (a lookup, a synchronous mail) shows in
    // every round and fails all three.
    const floor = what === 'forgot' || what === 'resend' ? 3 : 0;
    let ok = false, ma = 0, mu = 0;
    for (let r = 0; r < 3 && !ok; r++) {
      [ma, mu] = await round(existing, unknown, `${what}${r}`);
      const d = Math.abs(ma - mu);
      ok = d < 0.25 * Math.max(ma, mu) || d < floor;
      t.diagnostic(`${what} round ${r + 1}: median existing ${ma.toFixed(2)} ms, unknown ${mu.toFixed(2)} ms`);
    }
    assert.ok(ok, `${what}: median existing ${ma.toFixed(2)} ms, unknown ${mu.toFixed(2)} ms`);
  }
});

// --- throttling --------------------------------------------------------------

test('16 parallel wrong passwords for one address: exactly --login-free 5 are checked', async () => {
  const email = 'para@example.org';
  recipientAdd(K.dataDir, email, PW);
  const rs = await Promise.all(Array.from({ length: 16 }, () => login(K, email, 'not the password')));
  const counts = { 401: 0, 429: 0, 503: 0 };
  for (const r of rs) counts[r.status] = (counts[r.status] || 0) + 1;
  // five pass the lock and are checked (401); on a loaded machine one may
  // be answered "busy, try again" (503) when no password worker came free
  // in time, and gives its attempt back; the rest are refused by the lock
  assert.equal(Object.values(counts).reduce((a, b) => a + b), 16, JSON.stringify(counts));
  assert.ok(counts[401] <= 5 && counts[401] + counts[503] >= 5, JSON.stringify(counts));
  assert.ok(counts[429] >= 10, JSON.stringify(counts));
  for (const r of rs.filter((x) => x.status === 429)) {
    assert.ok(Number(r.headers.get('retry-after')) > 0);
    assert.equal(r.body.signin_link, '/signin-link');
  }
  // Locked: the right password is refused too.
  const right = await login(K, email, PW);
  assert.equal(right.status, 429);
  // Each refusal on the locked address is in the audit trail (global chain).
  const ex = sealpost(['--data-dir', K.dataDir, 'audit', 'export', '--format', 'json']);
  assert.equal(ex.status, 0, String(ex.stderr));
  const locked = JSON.parse(ex.stdout.toString()).records
    .filter((x) => x.event === 'login-locked' && x.actor === email);
  assert.equal(locked.length, counts[429] + 1);
  assert.ok(locked.every((x) => x.chain === 0 && /^locked until \d+$/.test(x.detail)));
});

// One request over a raw socket (repeated header lines, which fetch joins);
// the answer's status code.
function rawStatus(port, lines, body) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.write([...lines, `Content-Length: ${Buffer.byteLength(body)}`, '', body].join('\r\n'));
    });
    let data = '';
    s.setTimeout(10000, () => { s.destroy(); reject(new Error('no answer')); });
    s.on('data', (d) => { data += d; });
    s.on('error', reject);
    s.on('close', () => {
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
      if (m) resolve(Number(m[1])); else reject(new Error(`bad answer: ${data.slice(0, 200)}`));
    });
  });
}

test('behind a trusted proxy the forwarded client is throttled; without one the headers are ignored', async () => {
  const P = await keydWith(['--trusted-proxy', '127.0.0.1', '--login-free-ip', '3']);
  let n = 0;
  const wrong = (k, headers) => login(k, `someone-${n++}@example.org`, 'not the password', headers);
  const xff = (a) => ({ 'X-Forwarded-For': a });
  for (let i = 0; i < 3; i++) assert.equal((await wrong(P, xff('203.0.113.7'))).status, 401);
  assert.equal((await wrong(P, xff('203.0.113.7'))).status, 429);
  // the client's own claim left of the proxy's entry does not help it
  assert.equal((await wrong(P, xff('10.9.9.9, 203.0.113.7'))).status, 429);
  // another forwarded client, and the proxy itself, are not locked
  assert.equal((await wrong(P, xff('198.51.100.9'))).status, 401);
  assert.equal((await wrong(P, {})).status, 401);
  // the RFC 7239 form names the same client
  assert.equal((await wrong(P, { Forwarded: 'for=203.0.113.7;proto=http' })).status, 429);
  for (let i = 0; i < 3; i++) assert.equal((await wrong(P, { Forwarded: 'for="[2001:db8::5]:4711"' })).status, 401);
  assert.equal((await wrong(P, { Forwarded: 'for="[2001:db8::5]"' })).status, 429);
  assert.equal((await wrong(P, { Forwarded: 'for=198.51.100.10' })).status, 401);
  // an IPv6 client counts by its /64: a fresh address of the same network
  // each time does not help it; another network is not locked
  for (let i = 1; i <= 3; i++) assert.equal((await wrong(P, xff(`2001:db8:1:3::${i}`))).status, 401);
  assert.equal((await wrong(P, xff('2001:db8:1:3:ffff:1:2:3'))).status, 429);
  assert.equal((await wrong(P, xff('2001:db8:1:4::1'))).status, 401);
  // A proxy that adds its own X-Forwarded-For line after the client's: the
  // client's line does not let the locked client pick a fresh address.
  const raw = await rawStatus(P.port, [
    'POST /api/v1/session HTTP/1.1', 'Host: x', 'Content-Type: application/json',
    'X-Forwarded-For: 198.51.100.77', 'X-Forwarded-For: 203.0.113.7', 'Connection: close'],
  JSON.stringify({ email: `someone-${n++}@example.org`, password: 'not the password' }));
  assert.equal(raw, 429);

  // No --trusted-proxy: the lock follows the TCP peer whatever the headers say.
  const N = await keydWith(['--login-free-ip', '3']);
  for (let i = 0; i < 3; i++) assert.equal((await wrong(N, xff(`192.0.2.${i + 1}`))).status, 401);
  assert.equal((await wrong(N, xff('192.0.2.99'))).status, 429);
  assert.equal((await wrong(N, { Forwarded: 'for=192.0.2.100' })).status, 429);
  assert.equal((await wrong(N, {})).status, 429);
});

test('a locked-out client signs in with the mailed link, once', async () => {
  const S = await keydWith(['--login-free-ip', '2']);
  const email = 'sam@example.org';
  recipientAdd(S.dataDir, email, PW);
  assert.equal((await login(S, 'x1@example.org', 'nope nope')).status, 401);
  assert.equal((await login(S, 'x2@example.org', 'nope nope')).status, 401);
  const locked = await login(S, email, PW);
  assert.equal(locked.status, 429);
  assert.equal(locked.body.signin_link, '/signin-link');

  const b = new Browser(S);
  const r = await b.post('/signin-link', { email });
  assert.equal(r.status, 200);
  assert.match(r.text, /Check your mail/);
  const link = mailedLink(S.outbox, email, 'signin');
  assert.ok(link.startsWith(`${S.url}/signin?t=`));
  const t = new URL(link).searchParams.get('t');
  const g = await b.get(link);
  assert.equal(g.status, 200);
  assert.ok(g.text.includes(`name="t" value="${t}"`));
  assert.match(g.text, /value="sam@example.org"/);

  const s = await b.post('/signin', { t, email, password: PW, next: '/account' });
  assert.equal(s.status, 303, s.text.slice(0, 500));
  assert.equal(s.headers.get('location'), '/account');
  const session = b.jar.get('sp_session');
  assert.match(session, /^sps_/);
  const who = await fetch(S.url + '/api/v1/session', { headers: { Cookie: `sp_session=${session}` } });
  assert.equal(who.status, 200);
  assert.equal((await who.json()).email, email);

  // The link works once: the page refuses it, and the client lock applies again.
  assert.equal((await new Browser(S).get(link)).status, 400);
  const again = await new Browser(S).post('/signin', { t, email, password: PW, next: '/account' });
  assert.equal(again.status, 429);
});

test('strangers who lock an address by guessing do not lock its owner out: a mailed link and a signed-in confirmation still work', async () => {
  const S = await keydWith(['--login-free', '2', '--login-free-ip', '100000', '--form-free', '100000']);
  const email = 'owner@example.org';
  recipientAdd(S.dataDir, email, PW);
  const home = new Browser(S);
  assert.equal((await home.post('/signin', { email, password: PW, next: '/account' })).status, 303);
  const lockOut = async () => {
    for (let i = 0; i < 4; i++) await login(S, email, 'a wrong guess 123');
    assert.equal((await login(S, email, PW)).status, 429, 'the address is locked');
  };
  await lockOut();
  // on another computer: a mailed sign-in link and the password
  const b = new Browser(S);
  assert.equal((await b.post('/signin-link', { email })).status, 200);
  const t = new URL(mailedLink(S.outbox, email, 'signin')).searchParams.get('t');
  const s = await b.post('/signin', { t, email, password: PW, next: '/account' });
  assert.equal(s.status, 303, s.text.slice(0, 300));
  // the owner is in: the address's lock is gone
  assert.equal((await login(S, email, PW)).status, 200);
  // locked again: the owner signed in at home still confirms it is them
  await lockOut();
  const acct = await home.get('/account');
  const csrf = /name="csrf" value="([^"]+)"/.exec(acct.text)[1];
  const re = await home.req('/account/reauth', { method: 'POST',
    body: new URLSearchParams({ csrf, password: PW }).toString(),
    headers: { Origin: S.url, 'Content-Type': 'application/x-www-form-urlencoded' } });
  assert.equal(re.status, 200, re.text.slice(0, 300));
  // a link's own tries are few: wrong passwords on it lock that link
  assert.equal((await b.post('/signin-link', { email })).status, 200);
  const t2 = new URL(mailedLink(S.outbox, email, 'signin', { skip: 1 })).searchParams.get('t');
  assert.notEqual(t2, t);
  const guesses = [];
  for (let i = 0; i < 4; i++) guesses.push((await new Browser(S).post('/signin', { t: t2, email, password: 'wrong again 42', next: '/account' })).status);
  assert.equal(guesses[guesses.length - 1], 429, guesses.join(' '));
});

// --- forgot, reset, resend -----------------------------------------------------

test('forgot and reset over HTTP: the answers decide, every session ends, a notice is mailed, the link works once', async () => {
  const email = 'reset-me@example.org';
  const oldPw = 'the old password 123';
  const newPw = 'a brand new password 456';
  const b = await register(K, email, oldPw);
  const link = activationLink(K.outbox, email);
  const act = await b.post('/activate', { t: new URL(link).searchParams.get('t') });
  assert.equal(act.status, 200);
  const s1 = await login(K, email, oldPw);
  assert.equal(s1.status, 200);

  const f = await new Browser(K).post('/forgot', { email });
  assert.equal(f.status, 200);
  const resetLink = mailedLink(K.outbox, email, 'reset');
  assert.ok(resetLink.startsWith(`${K.url}/reset?t=`));
  const t = new URL(resetLink).searchParams.get('t');
  // a second link, asked for before the reset (say by whoever reads the
  // mailbox too), dies with the new password
  assert.equal((await new Browser(K).post('/forgot', { email })).status, 200);
  mailedLink(K.outbox, email, 'reset', { skip: 1 });
  const otherLink = mailsTo(K.outbox, email).flatMap((m) => m.body.match(/https?:\/\/\S+\/reset\?t=[\w-]+/g) || [])
    .find((l) => l !== resetLink);
  assert.ok(otherLink);
  const rb = new Browser(K);
  const g = await rb.get(resetLink);
  assert.equal(g.status, 200);
  assert.match(g.text, /What was the name of your first pet\?/);

  // Wrong answers: 400, the password stays.
  let r = await rb.post('/reset', { t, a1: 'Rex', a2: 'Martin', a3: 'Saab', password: newPw, password2: newPw });
  assert.equal(r.status, 400);
  assert.match(r.text, /answers do not match/);
  assert.equal((await login(K, email, newPw)).status, 401);
  const s2 = await login(K, email, oldPw);
  assert.equal(s2.status, 200);

  // Right answers (case and spaces do not matter) and a new password.
  r = await rb.post('/reset', { t, a1: ' rex ', a2: 'MARTIN', a3: 'Volvo', password: newPw, password2: newPw });
  assert.equal(r.status, 200, r.text.slice(0, 500));
  assert.match(r.text, /new password is set/);
  assert.equal((await login(K, email, oldPw)).status, 401);
  assert.equal((await login(K, email, newPw)).status, 200);
  assert.equal(await sessionOk(K, s1.body.session), 401);
  assert.equal(await sessionOk(K, s2.body.session), 401);
  let notice = [];
  for (let i = 0; i < 50 && notice.length === 0; i++) {
    notice = mailsTo(K.outbox, email).filter((m) => /^Subject: .*password .*was changed/mi.test(m.text));
    if (!notice.length) await sleep(100);
  }
  assert.equal(notice.length, 1);

  // The link works once; the other link no longer works either.
  assert.equal((await new Browser(K).get(resetLink)).status, 400);
  const ob = new Browser(K);
  assert.equal((await ob.get(otherLink)).status, 400);
  r = await ob.post('/reset', { t: new URL(otherLink).searchParams.get('t'), a1: 'Rex', a2: 'Martin', a3: 'Volvo',
    password: 'taken back password 000', password2: 'taken back password 000' });
  assert.equal(r.status, 400);
  r = await rb.post('/reset', { t, a1: 'Rex', a2: 'Martin', a3: 'Volvo', password: 'yet another password 789', password2: 'yet another password 789' });
  assert.equal(r.status, 400);
  assert.equal((await login(K, email, newPw)).status, 200);
});

// A refused mail moves into the store's queue, sealed under a key that
// only the key holder can unwrap; it survives the key server's crash and
// goes out from the next start; `sealpost mailq` shows it and --flush
// makes it due at once.
test('a mail the outbox cannot take is kept sealed in the store, and sent after a crash and restart', async () => {
  const args = ['--login-free', '5', '--login-free-ip', '100000', '--form-free', '100000'];
  const k = await keydWith(args);
  const email = 'later@example.org';
  const b = await register(k, email, 'wait for the outbox 42');
  const act = await b.post('/activate', { t: new URL(activationLink(k.outbox, email)).searchParams.get('t') });
  assert.equal(act.status, 200);
  const kept = () => k.log.some((l) => /\bkeyd mail-kept\b.*\btries=1\b/.test(l));
  // the outbox cannot be written: a file where its directory was
  const aside = k.outbox + '.aside';
  fs.renameSync(k.outbox, aside);
  fs.writeFileSync(k.outbox, 'not a directory\n');
  try {
    assert.equal((await new Browser(k).post('/forgot', { email })).status, 200);
    for (let i = 0; i < 100 && !kept(); i++) await sleep(50);
    assert.ok(k.log.some((l) => /\bkeyd mail-failed\b.*\btries=1\b/.test(l)), 'the refusal is logged with its count');
    assert.ok(kept(), 'the refused mail moves into the store');
    // in the store, sealed: neither the address nor the link in the clear
    const rows = storeSql(k.dataDir, PGSQL ? "SELECT tries, encode(sealed, 'hex') FROM mailq"
      : 'SELECT tries, hex(sealed) FROM mailq').split('\n');
    assert.equal(rows.length, 1, rows.join('\n'));
    const [tries, hex] = rows[0].split('|');
    assert.equal(tries, '1');
    const sealed = Buffer.from(hex.trim(), 'hex');
    assert.ok(sealed.length > 200, `sealed mail of ${sealed.length} bytes`);
    for (const clear of [email, '/reset?t=', 'later@']) assert.ok(!sealed.includes(clear), `"${clear}" in the clear`);
    // the key server dies before the next try; its key holder follows
    const exited = new Promise((r) => k.proc.once('exit', r));
    k.proc.kill('SIGKILL');
    await exited;
    for (let i = 0; i < 100; i++) {
      try { process.kill(k.keyholderPid, 0); } catch { break; }
      await sleep(50);
    }
  } finally {
    fs.rmSync(k.outbox);
    fs.renameSync(aside, k.outbox);
  }
  // the operator's view: reference, tries, next try; nothing of the mail
  let q = sealpost(['--data-dir', k.dataDir, 'mailq']);
  assert.equal(q.status, 0, String(q.stderr));
  const out = q.stdout.toString();
  assert.match(out, /^[\w-]{22} {2}tries 1 {2}next try \d{4}-\d\d-\d\dT[\d:]+Z {2}held until -\n1 mail queued\n$/);
  assert.ok(!out.includes(email));
  // the MTA is back: --flush makes it due now, so the next start sends it
  // at once instead of 5 s after the refusal
  q = sealpost(['--data-dir', k.dataDir, 'mailq', '--flush']);
  assert.equal(q.status, 0, String(q.stderr));
  assert.match(q.stdout.toString(), /1 mail queued; 1 made due now\n$/);
  // rows forged in the database (not sealed by a key server), one with an
  // empty key, are never sent: dropped as ones that cannot be opened, and
  // the queue goes on
  const junk = crypto.randomBytes(60).toString('hex');
  const wrapped = crypto.randomBytes(60).toString('hex');
  const forge = (ref, w, b) => storeSql(k.dataDir, PGSQL
    ? `INSERT INTO mailq VALUES ('${ref}', 0, 0, 0, 1, '\\x${w}', '\\x${b}')`
    : `INSERT INTO mailq VALUES ('${ref}', 0, 0, 0, 1, X'${w}', X'${b}')`);
  forge('forgedAAAAAAAAAAAAAAAA', wrapped, junk);
  forge('forgedBBBBBBBBBBBBBBBB', '', junk);
  // two mails sealed here as a key server seals them (docs/keyd.md, "The
  // mail queue"), with the master key: one whose link expired ten seconds
  // ago is dropped, the other is sent
  const master = fs.readFileSync(path.join(k.dataDir, 'keys', 'master-1.key'));
  const gcm = (key, aad, pt) => {
    const nonce = crypto.randomBytes(12);
    const c = crypto.createCipheriv('aes-256-gcm', key, nonce);
    c.setAAD(Buffer.from(aad));
    return Buffer.concat([nonce, c.update(pt), c.final(), c.getAuthTag()]).toString('hex');
  };
  const craft = (ref, to, stale) => {
    const mkey = crypto.randomBytes(32);
    forge(ref, gcm(master, `mailq:${ref}`, mkey),
      gcm(mkey, `mailq:${ref}`, Buffer.from(`${to}\0Crafted\0${stale}\0A crafted body.\n`)));
  };
  craft('craftedOKAAAAAAAAAAAAA', 'crafted@example.org', 0);
  craft('craftedOLDAAAAAAAAAAAA', 'stale@example.org', Math.floor(Date.now() / 1000) - 10);
  // started again on the same data: the mail goes out, on its second try
  const k2 = await startKeyd({ dataDir: k.dataDir, args, port: k.port });
  extra.push(k2);
  let mails = [];
  for (let i = 0; i < 300 && mails.length === 0; i++) {
    mails = mailsTo(k2.outbox, email).filter((m) => /\/reset\?t=/.test(m.body));
    if (!mails.length) await sleep(100);
  }
  assert.equal(mails.length, 1, 'the reset mail arrives after the restart');
  // its log line follows the mail file (the transport answers first)
  const sent = () => k2.log.some((l) => /\bkeyd mail-sent\b.*\btries=2\b/.test(l));
  for (let i = 0; i < 100 && !sent(); i++) await sleep(50);
  assert.ok(sent(), k2.log.join('\n'));
  for (let i = 0; i < 50 && storeSql(k2.dataDir, 'SELECT count(*) FROM mailq') !== '0'; i++) await sleep(100);
  assert.equal(storeSql(k2.dataDir, 'SELECT count(*) FROM mailq'), '0', 'sent: gone from the store');
  // each drop is logged before its row goes, but the log reaches this
  // process through a pipe that the store's synchronous reads do not drain
  const dropped = () => k2.log.filter((l) => /\bkeyd mail-dropped\b/.test(l));
  for (let i = 0; i < 100 && dropped().length < 3; i++) await sleep(50);
  assert.deepEqual(dropped().map((l) => /\bref=(\S+) reason=(\S+)/.exec(l)?.slice(1).join(' ')).sort(),
    ['craftedOLDAAAAAAAAAAAA expired', 'forgedAAAAAAAAAAAAAAAA "cannot', 'forgedBBBBBBBBBBBBBBBB "cannot'],
    'only the expired and the forged rows are dropped');
  assert.equal(mailsTo(k2.outbox, 'stale@example.org').length, 0);
  const crafted = mailsTo(k2.outbox, 'crafted@example.org');
  assert.equal(crafted.length, 1, 'a mail sealed as documented is sent');
  assert.match(crafted[0].body, /A crafted body\./);
  // and the link of the real one works
  const link = mails[0].body.match(/https?:\/\/\S+\/reset\?t=[\w-]+/);
  assert.ok(link, mails[0].body);
  assert.equal((await new Browser(k2).get(link[0])).status, 200);
});

test('resend mails a new activation link for a pending registration, nothing for an unknown address', async () => {
  const email = 'again@example.org';
  const pw = 'waiting for the mail 31';
  await register(K, email, pw);
  activationLink(K.outbox, email);
  const before = countLinks(K.outbox, email, 'activate');
  const r = await new Browser(K).post('/resend', { email });
  assert.equal(r.status, 200);
  const link = activationLink(K.outbox, email, { skip: before });
  const a = await activateElsewhere(K, link, pw);
  assert.equal(a.status, 200, a.text.slice(0, 500));
  assert.equal((await login(K, email, pw)).status, 200);

  const unknown = 'never-registered@example.org';
  const u = await new Browser(K).post('/resend', { email: unknown });
  assert.equal(u.status, 200);
  assert.equal((await settledMails(K, unknown, 600)).length, 0);
});

// --- the administrator's verbs ---------------------------------------------------

// `recipient unlock` and `recipient reset` come with the command-line work
// merged from the main branch; until they are in this tree the test is
// skipped (it runs as soon as `sealpost recipient --help` lists them).
const cliHelp = sealpost(['recipient', '--help']).stdout.toString();
const hasAdminVerbs = /recipient unlock/.test(cliHelp) && /recipient reset/.test(cliHelp);

test('CLI: recipient unlock lifts a lock, recipient reset mails a working link and ends sessions',
  { skip: hasAdminVerbs ? false : 'sealpost recipient unlock/reset not in this tree yet' }, async () => {
    const email = 'admin-help@example.org';
    recipientAdd(K.dataDir, email, PW);
    for (let i = 0; i < 5; i++) assert.equal((await login(K, email, 'not the password')).status, 401);
    assert.equal((await login(K, email, PW)).status, 429);
    let c = sealpost(['--data-dir', K.dataDir, 'recipient', 'unlock', email]);
    assert.equal(c.status, 0, c.stderr);
    const s = await login(K, email, PW);
    assert.equal(s.status, 200);
    // a browser that remembers this account
    const rem = await fetch(K.url + '/api/v1/session', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email, password: PW, remember: true }) });
    assert.equal(rem.status, 200);
    const device = rem.headers.getSetCookie().map((x) => /^sp_device=([^;]+)/.exec(x)).find(Boolean)?.[1];
    assert.ok(device, 'a device cookie');
    const deviceSession = () => fetch(K.url + '/api/v1/session/device', { method: 'POST',
      headers: { 'Content-Type': 'application/json', Cookie: `sp_device=${device}` }, body: '{}' });
    assert.equal((await deviceSession()).status, 200);

    c = sealpost(['--data-dir', K.dataDir, 'recipient', 'reset', email, '--public-url', K.url]);
    assert.equal(c.status, 0, c.stderr);
    assert.equal(await sessionOk(K, s.body.session), 401);
    // the remembered device is forgotten too: its cookie makes no session
    assert.equal((await deviceSession()).status, 401);
    const link = mailedLink(path.join(K.dataDir, 'outbox'), email, 'reset');
    assert.ok(link.startsWith(`${K.url}/reset?t=`));
    const b = new Browser(K);
    assert.equal((await b.get(link)).status, 200);
    const newPw = 'chosen after the reset 55';
    const r = await b.post('/reset', { t: new URL(link).searchParams.get('t'), password: newPw, password2: newPw });
    assert.equal(r.status, 200, r.text.slice(0, 500));
    assert.equal((await login(K, email, newPw)).status, 200);
    assert.equal((await login(K, email, PW)).status, 401);
    c = sealpost(['--data-dir', K.dataDir, 'recipient', 'reset', 'nobody-here@example.org', '--public-url', K.url]);
    assert.notEqual(c.status, 0);
  });

// --- malformed fields --------------------------------------------------------------

test('every malformed field gets a 400 that names it', async () => {
  const raw = (body) => fetch(K.url + '/api/v1/session', { method: 'POST',
    headers: { 'Content-Type': 'application/json' }, body });
  const field = async (r) => { const j = await r.json(); return [r.status, j.field, typeof j.error]; };
  const badUtf8 = Buffer.concat([Buffer.from('{"email":"a'), Buffer.from([0xff, 0xfe]),
    Buffer.from('b@x.org","password":"whatever it is"}')]);
  assert.deepEqual(await field(await raw(badUtf8)), [400, 'email', 'string']);
  const badPw = Buffer.concat([Buffer.from('{"email":"a@x.org","password":"who'), Buffer.from([0xc3]),
    Buffer.from('ever"}')]);
  assert.deepEqual(await field(await raw(badPw)), [400, 'password', 'string']);
  assert.deepEqual(await field(await raw(JSON.stringify({ email: 'a\u0000b@x.org', password: PW }))), [400, 'email', 'string']);
  assert.deepEqual(await field(await raw(JSON.stringify({ email: 'a@x.org', password: 'right\u0000wrong' }))), [400, 'password', 'string']);
  assert.deepEqual(await field(await raw(JSON.stringify({ email: 5, password: PW }))), [400, 'email', 'string']);
  assert.deepEqual(await field(await raw(JSON.stringify({ email: ['a@x.org'], password: PW }))), [400, 'email', 'string']);
  assert.deepEqual(await field(await raw(JSON.stringify({ email: 'a@x.org', password: 'é'.repeat(513) }))), [400, 'password', 'string']);

  // The register form: the message beside the field, nothing registered.
  const b = new Browser(K);
  const base = (email, skip) => Object.entries(regFields(email, 'violet trumpet winter'))
    .filter(([k]) => k !== skip).map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
  const beside = (r, name) => {
    assert.equal(r.status, 400, `${name}: ${r.text.slice(0, 300)}`);
    assert.match(r.text, new RegExp(`id="${name}"[^>]*aria-invalid="true"`), name);
    assert.match(r.text, new RegExp(`<p class="err" id="${name}-err">[^<]+</p>`), name);
    const others = [...r.text.matchAll(/<p class="err" id="([a-z0-9_]+)-err">[^<]+<\/p>/g)].map((m) => m[1]);
    assert.deepEqual(others, [name]);
  };
  const cases = [
    ['first_name', 'bad1@example.org', 'first_name=A%00B'],
    ['email', null, 'email=a%FFb%40example.org'],
    ['first_name', 'bad2@example.org', 'first_name=A%E2%80%AEB'],
    ['last_name', 'bad3@example.org', `last_name=${'x'.repeat(5000)}`],
    ['phrase', 'bad4@example.org', 'phrase=owl%00at+noon'],
  ];
  for (const [name, email, f] of cases) {
    const body = `${base(email || 'unused@example.org', name)}&${f}`;
    beside(await b.post('/register', body), name);
  }
  await sleep(400);
  for (const [, email] of cases) if (email) assert.equal(mailsTo(K.outbox, email).length, 0, email);

  // The mail-request pages.
  for (const p of ['/forgot', '/resend', '/signin-link']) {
    for (const e of ['not-an-address', 'a%00b@example.org', 'a%FF@example.org']) {
      const r = await b.post(p, `email=${e}`);
      assert.equal(r.status, 400, `${p} ${e}`);
      assert.match(r.text, /<p class="err" id="email-err">[^<]+<\/p>/, `${p} ${e}`);
    }
  }
  // Any other form: a NUL or an overlong field is refused, named.
  const pw = await b.post('/signin', `email=a%40example.org&password=right%00wrong`);
  assert.equal(pw.status, 400);
  assert.match(pw.text, /password/);
  const long = await b.post('/signin', `email=a%40example.org&password=${'p'.repeat(5000)}`);
  assert.equal(long.status, 400);
  assert.match(long.text, /password/);
});

// --- connections and headers -------------------------------------------------------

// Our own healthz (no keep-alive pool: every request has its connection,
// closed after the answer, so only the sockets the test opens are counted).
function healthz(port, localAddress) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/healthz', agent: false, localAddress, timeout: 3000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('timeout', () => { req.destroy(); resolve('timeout'); });
    req.on('error', (e) => resolve(e.code || 'error'));
  });
}

function connectIdle(port, localAddress) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress }, () => resolve(s));
    s.on('error', reject);
  });
}

// Connect, send a request and see whether anything answers before the
// server closes the connection.
function tryRequest(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const t0 = Date.now();
    let data = '';
    const timer = setTimeout(() => { s.destroy(); resolve({ data, closed: false }); }, 3000);
    s.on('connect', () => s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', () => {}));
    s.on('data', (d) => { data += d; });
    s.on('error', () => {});
    s.on('close', () => { clearTimeout(timer); resolve({ data, closed: true, ms: Date.now() - t0 }); });
  });
}

test('connection limits: one client cannot hold more than --max-connections-per-client', async () => {
  const dataDir = tmpDir('sealpost-keyd-');
  const port = await freePort();
  const d = spawnDaemon(path.join(BIN, 'sealpost-keyd'), ['--data-dir', dataDir, ...keydDbArgs(dataDir),
    '--listen', `127.0.0.1:${port}`,
    '--max-connections-per-client', '4', '--allow-root'], 'KEYD_LOG');
  extra.push(d);
  for (let i = 0; i < (SANITIZED ? 600 : 150) && (await healthz(port)) !== 200; i++) await sleep(100);
  assert.equal(await healthz(port), 200);
  const idle = [];
  for (let i = 0; i < 4; i++) idle.push(await connectIdle(port));
  // A connection is counted when the server accepts it, a moment after the
  // client sees it open (longer on a busy machine; the sanitizer build is
  // many times slower): a fifth that came first is served, so a few tries.
  let fifth;
  for (let i = 0; i < 8; i++) {
    await sleep(SANITIZED ? 3000 : 200);
    fifth = await tryRequest(port);
    if (fifth.closed && !/^HTTP\/1\.1 200/.test(fifth.data)) break;
  }
  assert.ok(fifth.closed, 'the fifth connection is closed');
  assert.ok(fifth.ms < 2000, `closed after ${fifth.ms} ms`);
  assert.ok(!/^HTTP\/1\.1 200/.test(fifth.data), 'and gets no answer');
  // another client address is served
  assert.equal(await healthz(port, '127.0.0.2'), 200);
  for (const s of idle) s.destroy();
  let st;
  for (let i = 0; i < 40 && (st = await healthz(port)) !== 200; i++) await sleep(50);
  assert.equal(st, 200);
  assert.ok(d.log.some((l) => /connection-refused/.test(l) && /client-limit/.test(l)));
});

test('HSTS on every answer when the public URL is https, never over plain http', async () => {
  const H = await keydWith(['--public-url', 'https://keys.example.test', '--max-body', '8192']);
  const answers = async (k) => {
    const rs = [
      await fetch(k.url + '/healthz'),
      await fetch(k.url + '/register'),
      await fetch(k.url + '/no/such/page'),
      await fetch(k.url + '/api/v1/session'),
      await fetch(k.url + '/register', { method: 'POST', body: new URLSearchParams({ email: 'a@b.org' }) }),
      await fetch(k.url + '/api/v1/session', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: 'x'.repeat(20000) }),
    ];
    for (const r of rs) await r.arrayBuffer();
    return rs;
  };
  const hs = await answers(H);
  assert.deepEqual(hs.map((r) => r.status), [200, 200, 404, 401, 403, 413]);
  for (const r of hs) assert.equal(r.headers.get('strict-transport-security'), 'max-age=31536000', r.url);
  // the https public URL also makes the cookies Secure
  assert.ok(hs[1].headers.getSetCookie().every((c) => /; Secure/.test(c)));
  for (const r of await answers(K)) assert.equal(r.headers.get('strict-transport-security'), null, r.url);
});

test('password checks run on workers: a key server with one HTTP thread answers at once while sign-ins are checked', async () => {
  const S = await keydWith(['--threads', '1', '--login-free', '1000', '--login-free-ip', '1000']);
  const email = 'wk@example.org';
  recipientAdd(S.dataDir, email, PW);
  const browsers = [];
  for (let i = 0; i < 4; i++) {
    const b = new Browser(S);
    assert.equal((await b.get('/register')).status, 200);	// its CSRF cookie
    browsers.push(b);
  }
  // four sign-ins (an Argon2id check each), and while they are checked,
  // /healthz three times over: each answered before the first sign-in is
  let firstSignin = Infinity;
  const signins = browsers.map((b, i) => b.post('/signin',
    { email, password: i === 0 ? PW : 'not the password at all', next: '/account' })
    .then((r) => { firstSignin = Math.min(firstSignin, performance.now()); return r; }));
  let lastHealth = 0;
  for (let i = 0; i < 3; i++) {
    const h = await fetch(S.url + '/healthz');
    assert.equal(h.status, 200);
    await h.text();
    lastHealth = performance.now();
  }
  const answers = await Promise.all(signins);
  assert.ok(lastHealth < firstSignin,
    `/healthz waited for a password check (${(lastHealth - firstSignin).toFixed(1)} ms after the first sign-in)`);
  // the answers themselves are the usual ones
  assert.equal(answers[0].status, 303, answers[0].text.slice(0, 300));
  assert.equal(answers[0].headers.get('location'), '/account');
  for (const r of answers.slice(1)) {
    assert.equal(r.status, 401, r.text.slice(0, 300));
    assert.match(r.text, /password/i);
  }
});
