// keyd.test.mjs - sealpost-keyd over HTTP on loopback: the machine API
// (deposit, session, release with every refusal), body limits, security
// headers, CSRF, the register and activate pages with the outbox mail,
// the route table's 404 and 405 answers, static files and the open page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { startKeyd, orgAdd, recipientAdd, readOutbox, activationLink, sealpost,
  passwordFile, storeSql, pgServerSync, PGSQL, BIN, run, tmpDir, freePort, spawnDaemon,
  keydDb } from '../lib/harness.mjs';

let keyd, token, otherToken;
const PW = 'correct horse battery staple';
const pat = 'pat@example.org';

before(async () => {
  keyd = await startKeyd({ args: ['--max-body', '8192'] });
  token = orgAdd(keyd.dataDir, 'Example Clinic', 'clinic.example');
  otherToken = orgAdd(keyd.dataDir, 'Other Bank', 'bank.example');
  recipientAdd(keyd.dataDir, pat, PW);
});
after(async () => { await keyd?.stop(); });

const api = (p, { method = 'POST', body, auth, headers = {} } = {}) => fetch(keyd.url + p, {
  method,
  headers: { ...(auth ? { Authorization: `Bearer ${auth}` } : {}),
    ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
  body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)),
});

async function deposit(extra = {}) {
  const r = await api('/api/v1/envelopes', { auth: token,
    body: { from: 'doc@clinic.example', recipients: ['Pat@Example.org', 'sam@bank.example'], expires: 0, format: 2, ...extra } });
  assert.equal(r.status, 201);
  return r.json();
}

async function login(email, password) {
  const r = await api('/api/v1/session', { body: { email, password } });
  return { status: r.status, body: await r.json(), cookie: r.headers.getSetCookie(),
    retryAfter: r.headers.get('retry-after') };
}

function cookieOf(res, name) {
  for (const c of res.headers.getSetCookie()) {
    const m = c.match(new RegExp(`^${name}=([^;]*)`));
    if (m) return m[1];
  }
  return null;
}

function assertSecurityHeaders(r) {
  const csp = r.headers.get('content-security-policy');
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.match(csp, /form-action 'self'/);
  assert.match(csp, /script-src 'self'/);
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
}

test('healthz answers ok with the security headers', async () => {
  const r = await fetch(keyd.url + '/healthz');
  assert.equal(r.status, 200);
  assert.equal((await r.text()).trim(), 'ok');
  assertSecurityHeaders(r);
  assert.equal(r.headers.get('cache-control'), 'no-store');
});

test('data directory: database and master key with tight modes', () => {
  const st = fs.statSync(path.join(keyd.dataDir, 'keys', 'master-1.key'));
  assert.equal(st.size, 32);
  assert.equal(st.mode & 0o077, 0);
  // the store: keyd.sqlite, or under --db the PostgreSQL database (and no file)
  assert.equal(fs.existsSync(path.join(keyd.dataDir, 'keyd.sqlite')), !PGSQL);
  assert.equal(storeSql(keyd.dataDir, "SELECT count(*) FROM org_domains WHERE domain = 'clinic.example'"), '1');
});

test('deposit: 401 without or with a bad token, 400 bad body, 201 with a good one', async () => {
  let r = await api('/api/v1/envelopes', { body: { from: 'a@clinic.example', recipients: [pat] } });
  assert.equal(r.status, 401);
  assert.ok((await r.json()).error);
  r = await api('/api/v1/envelopes', { auth: 'spo_nope', body: { from: 'a@clinic.example', recipients: [pat] } });
  assert.equal(r.status, 401);
  r = await api('/api/v1/envelopes', { auth: token, body: '{"from":' });
  assert.equal(r.status, 400);
  r = await api('/api/v1/envelopes', { auth: token, body: { from: 'a@clinic.example', recipients: [] } });
  assert.equal(r.status, 400);
  r = await api('/api/v1/envelopes', { auth: token, body: { from: 'a@clinic.example', recipients: ['not an address'] } });
  assert.equal(r.status, 400);
  const d = await deposit({ expires: 4102444800 });
  assert.match(d.id, /^[A-Za-z0-9_-]{22}$/);
  assert.match(d.server_part, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(d.org, 'Example Clinic');
  assert.equal(d.keyd, keyd.url);
  assert.equal(d.expires, 4102444800);
  assert.ok(Math.abs(d.created - Date.now() / 1000) < 60);
  // the sender is kept as parsed (read notices and replies go there), not
  // as written
  r = await api('/api/v1/envelopes', { auth: token, body: { from: '  Doc@Clinic.Example\r\n', recipients: [pat], expires: 0, format: 2 } });
  assert.equal(r.status, 201);
  const messy = (await r.json()).id;
  assert.equal(storeSql(keyd.dataDir, `SELECT sender FROM envelopes WHERE id = '${messy}'`), 'doc@clinic.example');
});

test('413 for a body over --max-body, before any work', async () => {
  const big = JSON.stringify({ from: 'a@clinic.example', recipients: [pat], pad: 'x'.repeat(20000) });
  const r = await api('/api/v1/envelopes', { auth: token, body: big });
  assert.equal(r.status, 413);
  // Also without a token: the limit comes first.
  const r2 = await api('/api/v1/session', { body: big });
  assert.equal(r2.status, 413);
});

test('login: wrong password and unknown account get the same 401', async () => {
  const a = await login(pat, 'wrong password here');
  const b = await login('nobody@example.org', 'wrong password here');
  assert.equal(a.status, 401);
  assert.equal(b.status, 401);
  assert.deepEqual(a.body, b.body);
  assert.deepEqual(a.body, { error: 'wrong email or password' });
  assert.equal(a.cookie.length, 0);
});

test('release: 401, 404, 403, 410 and 200 with the deposited part', async () => {
  const d = await deposit();
  const rel = (id, auth, headers) => api(`/api/v1/envelopes/${id}/release`, { auth, headers });
  assert.equal((await rel(d.id)).status, 401);
  const s = await login(pat, PW);
  assert.equal(s.status, 200);
  assert.match(s.body.session, /^sps_[A-Za-z0-9_-]{22}$/);
  assert.equal(s.body.email, pat);
  assert.ok(s.cookie.some((c) => /^sp_session=sps_/.test(c) && /HttpOnly/.test(c) && /SameSite=Lax/.test(c)));
  assert.equal((await rel('not-an-id', s.body.session)).status, 404);
  assert.equal((await rel('AAAAAAAAAAAAAAAAAAAAAA', s.body.session)).status, 404);
  const ok = await rel(d.id, s.body.session);
  assert.equal(ok.status, 200);
  const j = await ok.json();
  assert.equal(j.server_part, d.server_part);
  assert.equal(j.from, 'doc@clinic.example');
  assert.deepEqual(j.recipients, ['pat@example.org', 'sam@bank.example']);
  assert.equal(j.org, 'Example Clinic');
  // The depositing organisation may release; another one may not, even
  // for a recipient in its domain.
  const o = await rel(d.id, token);
  assert.equal(o.status, 200);
  assert.equal((await o.json()).server_part, d.server_part);
  assert.equal((await rel(d.id, otherToken)).status, 403);
  // Another recipient's envelope: 403.
  const r2 = await api('/api/v1/envelopes', { auth: token, body: { from: 'doc@clinic.example', recipients: ['zoe@example.net'], format: 2 } });
  const d2 = await r2.json();
  assert.equal((await rel(d2.id, s.body.session)).status, 403);
  assert.equal((await rel(d2.id, otherToken)).status, 403);
  // Expired: 410.
  const d3 = await deposit({ expires: 1 });
  const e = await rel(d3.id, s.body.session);
  assert.equal(e.status, 410);
  assert.match((await e.json()).error, /expired/);
});

test('session: cookie needs X-CSRF-Token for release, GET and DELETE', async () => {
  const d = await deposit();
  const s = await login(pat, PW);
  const cookie = `sp_session=${s.body.session}`;
  let r = await api(`/api/v1/envelopes/${d.id}/release`, { headers: { Cookie: cookie } });
  assert.equal(r.status, 403);
  r = await api(`/api/v1/envelopes/${d.id}/release`, { headers: { Cookie: cookie, 'X-CSRF-Token': s.body.csrf } });
  assert.equal(r.status, 200);
  r = await api('/api/v1/session', { method: 'GET', headers: { Cookie: cookie } });
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { email: pat, csrf: s.body.csrf, incomplete: false });
  // A second login makes a new token.
  const s2 = await login(pat, PW);
  assert.notEqual(s2.body.session, s.body.session);
  r = await api('/api/v1/session', { method: 'DELETE', auth: s.body.session });
  assert.equal(r.status, 204);
  r = await api('/api/v1/session', { method: 'GET', auth: s.body.session });
  assert.equal(r.status, 401);
  r = await api(`/api/v1/envelopes/${d.id}/release`, { auth: s.body.session });
  assert.equal(r.status, 401);
  r = await api('/api/v1/session', { method: 'GET', auth: s2.body.session });
  assert.equal(r.status, 200);
});

test('log-in throttling: a lock after repeated failures, the same for unknown addresses', async () => {
  recipientAdd(keyd.dataDir, 'tess@example.org', PW);
  for (const email of ['tess@example.org', 'ghost@example.org']) {
    // --login-free 5 (the default): five wrong passwords are checked, the
    // sixth attempt is refused before any password work, the right one too.
    for (let i = 0; i < 5; i++) assert.equal((await login(email, 'not the password')).status, 401);
    const locked = await login(email, PW);
    assert.equal(locked.status, 429);
    assert.ok(Number(locked.retryAfter) > 0 && Number(locked.retryAfter) <= 30);
    assert.match(locked.body.error, /try again in \d+ seconds/);
    assert.equal(locked.body.signin_link, '/signin-link');
  }
  // Other addresses are not affected.
  assert.equal((await login(pat, PW)).status, 200);
});

test('login from another site is refused', async () => {
  const r = await api('/api/v1/session', { body: { email: pat, password: PW },
    headers: { Origin: 'https://evil.example' } });
  assert.equal(r.status, 403);
});

// --- pages -----------------------------------------------------------------

async function registerForm(email, id = '') {
  const r = await fetch(`${keyd.url}/register?email=${encodeURIComponent(email)}&id=${id}`);
  assert.equal(r.status, 200);
  assertSecurityHeaders(r);
  const html = await r.text();
  const csrf = cookieOf(r, 'sp_csrf');
  assert.ok(csrf);
  assert.ok(html.includes(`name="csrf" value="${csrf}"`));
  return { html, csrf };
}

test('the registration form for a named address offers a way to another (blind copies, aliases)', async () => {
  const id = 'AAAAAAAAAAAAAAAAAAAAAA';
  const { html } = await registerForm('named@example.org', id);
  assert.match(html, /<input id="email" name="email" type="email" value="named@example\.org" readonly /);
  assert.match(html, new RegExp(`<p class="hint" id="email-other" ><a href="/register\\?id=${id}">Not your address\\? Use another</a></p>`));
  // the link's form: nothing filled in, nothing read-only, no such link
  const other = await (await fetch(`${keyd.url}/register?id=${id}`)).text();
  assert.match(other, /<input id="email" name="email" type="email" value=""  autocomplete/);
  assert.match(other, /<p class="hint" id="email-other" hidden>/);
  // an id that is not one is not carried
  const bad = await (await fetch(`${keyd.url}/register?email=named%40example.org&id=%22%3E%3Cx`)).text();
  assert.match(bad, /<a href="\/register">Not your address/);
});

function postForm(p, fields, csrfCookie, headers = {}) {
  return fetch(keyd.url + p, {
    method: 'POST', redirect: 'manual',
    headers: { ...(csrfCookie ? { Cookie: `sp_csrf=${csrfCookie}` } : {}), ...headers },
    body: new URLSearchParams(fields),
  });
}

const goodFields = (email, csrf) => ({
  csrf, email, id: '', language: 'en', first_name: 'Jeanne <b>', last_name: 'D\'Arc & Co',
  password: 'violet trumpet winter', password2: 'violet trumpet winter',
  phrase: 'the owl flies at noon', phrase_enabled: '1',
  q1: '1', a1: 'Rex', a1c: 'rex ', q2: '3', a2: 'Martin', a2c: 'Martin', q3: '5', a3: 'Volvo', a3c: 'Volvo',
});

test('register: form, field errors keep every value, CSRF, mail, activation', async () => {
  const email = 'jeanne@example.org';
  const { html, csrf } = await registerForm(email);
  assert.match(html, /<input id="email" name="email" type="email" value="jeanne@example.org" readonly/);
  for (const f of ['first_name', 'last_name', 'password', 'password2', 'phrase', 'q1', 'a1', 'a1c', 'q2', 'a2', 'a2c', 'q3', 'a3', 'a3c', 'language'])
    assert.ok(html.includes(`name="${f}"`), f);
  assert.ok((html.match(/<option value="\d+"/g) || []).length >= 24, 'at least 8 questions in each list');

  // Missing CSRF: 403, nothing stored.
  let r = await postForm('/register', { ...goodFields(email, '') }, null);
  assert.equal(r.status, 403);
  r = await postForm('/register', goodFields(email, csrf), 'another-token-value-xyz');
  assert.equal(r.status, 403);
  r = await postForm('/register', goodFields(email, csrf), csrf, { Origin: 'https://evil.example' });
  assert.equal(r.status, 403);

  // One wrong field (answer 2 does not match): 400, message beside it,
  // every other value kept, passwords included.
  r = await postForm('/register', { ...goodFields(email, csrf), a2c: 'Martine' }, csrf);
  assert.equal(r.status, 400);
  let page = await r.text();
  assert.match(page, /id="a2c"[^>]*aria-invalid="true"/);
  assert.match(page, /<p class="err" id="a2c-err">The two answers do not match<\/p>/);
  assert.match(page, /id="a1c"[^>]*aria-invalid="false"/);
  assert.ok(page.includes('value="Jeanne &lt;b&gt;"'));
  assert.ok(page.includes('value="D&#39;Arc &amp; Co"'));
  assert.ok(page.includes('value="violet trumpet winter"'));
  assert.ok(page.includes('value="the owl flies at noon"'));
  assert.ok(page.includes('value="Martine"'));
  assert.ok(page.includes('<option value="en" lang="en" selected>'));
  assert.ok(page.includes('<option value="3" selected>'));
  assert.ok(page.includes('name="phrase_enabled" value="1" checked'));
  assert.ok(!page.includes('<b>'));

  // A weak password: message beside it, the password fields emptied,
  // the rest kept; duplicate questions flagged.
  r = await postForm('/register', { ...goodFields(email, csrf), password: 'password1', password2: 'password1', q3: '1' }, csrf);
  assert.equal(r.status, 400);
  page = await r.text();
  assert.match(page, /<p class="err" id="password-err">This password is too common[^<]*<\/p>/);
  assert.match(page, /<p class="err" id="q3-err">Choose three different questions<\/p>/);
  assert.ok(!page.includes('value="password1"'));
  assert.ok(page.includes('value="Rex"'));

  assert.equal(readOutbox(keyd.outbox).filter((m) => m.text.includes(email)).length, 0);

  // Success: a pending registration (not an account yet), its own
  // activation link by mail, and this browser's registration cookie.
  r = await postForm('/register', goodFields(email, csrf), csrf);
  assert.equal(r.status, 200);
  const reg = cookieOf(r, 'sp_reg');
  assert.match(reg, /^[A-Za-z0-9_-]{16,64}$/);
  assert.ok(r.headers.getSetCookie().some((c) => /^sp_reg=/.test(c) && /HttpOnly/.test(c) && /SameSite=Lax/.test(c)));
  page = await r.text();
  assert.match(page, /Check your mail/);
  const link = activationLink(keyd.outbox, email);
  assert.ok(link.startsWith(`${keyd.url}/activate?t=`));
  const mail = readOutbox(keyd.outbox).find((m) => m.text.includes(link));
  assert.match(mail.text, /^To: jeanne@example.org\r$/m);
  assert.ok(!mail.text.includes('violet trumpet'));

  // Not activated yet: the right password gets the same 401 as a wrong
  // one (a pending registration is no account), no key.
  const early = await login(email, 'violet trumpet winter');
  assert.equal(early.status, 401);
  assert.deepEqual(early.body, { error: 'wrong email or password' });

  // GET /activate shows a button and consumes nothing.  Opened in another
  // browser (no sp_reg cookie) it asks for the registration's password;
  // in the registering browser it does not.
  for (let i = 0; i < 2; i++) {
    const g = await fetch(link);
    assert.equal(g.status, 200);
    const gh = await g.text();
    assert.match(gh, /Confirm my address/);
    assert.match(gh, /<form method="post" action="\/activate" class="form">/);
    assert.match(gh, /name="password" type="password"/);
  }
  const t = new URL(link).searchParams.get('t');
  const g = await fetch(link, { headers: { Cookie: `sp_reg=${reg}` } });
  const c2 = cookieOf(g, 'sp_csrf');
  const gh = await g.text();
  assert.match(gh, /Confirm my address/);
  assert.ok(!/name="password"/.test(gh), 'the registering browser is not asked for the password');
  // No CSRF cookie: 403.
  r = await postForm('/activate', { csrf: c2, t }, null, { Cookie: `sp_reg=${reg}` });
  assert.equal(r.status, 403);
  // Another browser without the password, or with a wrong one: 403,
  // nothing activated.
  r = await postForm('/activate', { csrf: c2, t }, c2);
  assert.equal(r.status, 403);
  r = await postForm('/activate', { csrf: c2, t, password: 'not my password at all' }, c2);
  assert.equal(r.status, 403);
  assert.match(await r.text(), /not the password of this registration/);
  assert.equal((await login(email, 'violet trumpet winter')).status, 401);
  // The registering browser: confirmed, and its cookie is cleared.
  r = await postForm('/activate', { csrf: c2, t }, null, { Cookie: `sp_csrf=${c2}; sp_reg=${reg}` });
  assert.equal(r.status, 200);
  assert.match(await r.text(), /is confirmed/);
  assert.ok(r.headers.getSetCookie().some((c) => /^sp_reg=;/.test(c) && /Max-Age=0/.test(c)));
  r = await postForm('/activate', { csrf: c2, t }, null, { Cookie: `sp_csrf=${c2}; sp_reg=${reg}` });
  assert.equal(r.status, 400);
  assert.match(await r.text(), /already used/);
  r = await fetch(`${keyd.url}/activate?t=bogusbogusbogusbogus`);
  assert.equal(r.status, 400);
  assert.ok(!keyd.log.join('\n').includes(t), 'the activation token is not logged');

  // Registering the address again: the same page, a mail to the owner
  // ("already has one"), no second registration.
  const n = readOutbox(keyd.outbox).length;
  r = await postForm('/register', { ...goodFields(email, csrf), first_name: 'Mallory' }, csrf);
  assert.equal(r.status, 200);
  assert.match(await r.text(), /Check your mail/);
  const waitMails = async (count) => {
    for (let i = 0; i < 100 && readOutbox(keyd.outbox).length < count; i++) await sleep(50);
    return readOutbox(keyd.outbox);
  };
  const mails = await waitMails(n + 1);
  assert.equal(mails.length, n + 1);
  assert.match(mails[mails.length - 1].text, /already has one/);
  assert.ok(!/activate\?t=/.test(mails[mails.length - 1].text));
  // At most three account mails to the address an hour, the activation
  // mail among them; the page stays the same.
  for (let i = 0; i < 4; i++) {
    r = await postForm('/register', goodFields(email, csrf), csrf);
    assert.equal(r.status, 200);
    assert.match(await r.text(), /Check your mail/);
  }
  await waitMails(n + 2);
  await sleep(500); // a fourth mail would be queued by now
  assert.equal(readOutbox(keyd.outbox).length, n + 2);
  assert.equal(readOutbox(keyd.outbox).filter((m) => m.text.includes(`To: ${email}`)).length, 3);

  // Activated: log in and release an envelope sent to this address.
  const d = await (await api('/api/v1/envelopes', { auth: token, body: { from: 'doc@clinic.example', recipients: [email], format: 2 } })).json();
  const s = await login(email, 'violet trumpet winter');
  assert.equal(s.status, 200);
  const rel = await api(`/api/v1/envelopes/${d.id}/release`, { auth: s.body.session });
  assert.equal(rel.status, 200);
  assert.equal((await rel.json()).server_part, d.server_part);
});

test('routes: 405 with Allow when a known path does not serve the method, 404 otherwise', async () => {
  const cases = [
    // method, path, status, Allow, JSON error (API) or a page
    ['PUT', '/api/v1/envelopes', 405, 'GET, POST', 'method not allowed'],
    ['PUT', '/api/v1/session', 405, 'GET, POST, DELETE', 'method not allowed'],
    ['GET', '/api/v1/session/mfa', 405, 'POST', 'method not allowed'],
    ['GET', '/api/v1/session/mfa/challenge', 405, 'POST', 'method not allowed'],
    ['GET', '/api/v1/account/passkeys/options', 405, 'POST', 'method not allowed'],
    ['GET', '/api/v1/envelopes/AAAAAAAAAAAAAAAAAAAAAA/release', 405, 'POST', 'method not allowed'],
    ['GET', '/api/v1/envelopes/AAAAAAAAAAAAAAAAAAAAAA', 404, null, 'unknown envelope'],
    ['POST', `/api/v1/envelopes/${'A'.repeat(70)}/release`, 404, null, 'unknown envelope'],
    ['GET', '/api/v1/session/mfaX', 404, null, 'no such API'],
    ['GET', '/api/v2/anything', 404, null, 'no such API'],
    ['POST', '/healthz', 405, 'GET, HEAD', null],
    ['PUT', '/register', 405, 'GET, HEAD, POST', null],
    ['GET', '/signin/second', 405, 'POST', null],
    ['DELETE', '/account', 405, 'GET, HEAD, POST', null],
    ['GET', '/online', 405, 'POST', null],
    ['POST', '/static/portal.css', 405, 'GET, HEAD', null],
    ['GET', '/accounts', 404, null, null],
    ['GET', '/no/such/page', 404, null, null],
  ];
  for (const [method, p, status, allow, error] of cases) {
    const r = await fetch(keyd.url + p, { method });
    const what = `${method} ${p}`;
    assert.equal(r.status, status, what);
    assert.equal(r.headers.get('allow'), allow, what);
    assertSecurityHeaders(r);
    if (error) {
      assert.match(r.headers.get('content-type'), /^application\/json/, what);
      assert.equal((await r.json()).error, error, what);
    } else {
      assert.match(r.headers.get('content-type'), /^text\/html/, what);
      await r.arrayBuffer();
    }
  }
  // HEAD is served wherever GET is, except the session API (GET only)
  assert.equal((await fetch(keyd.url + '/', { method: 'HEAD' })).status, 200);
  const h = await fetch(keyd.url + '/api/v1/session', { method: 'HEAD' });
  assert.equal(h.status, 405);
  assert.equal(h.headers.get('allow'), 'GET, POST, DELETE');
});

test('static files and the open page', async () => {
  let r = await fetch(keyd.url + '/static/portal.css');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/css/);
  assert.match(r.headers.get('cache-control'), /max-age/);
  assertSecurityHeaders(r);
  r = await fetch(keyd.url + '/static/..%2fportal/page.html');
  assert.equal(r.status, 404);
  r = await fetch(keyd.url + '/static/common-passwords.txt');
  assert.equal(r.status, 404);
  r = await fetch(keyd.url + '/open?id=AAAAAAAAAAAAAAAAAAAAAA');
  assert.ok(r.status === 200 || r.status === 503);
  if (r.status === 200) {
    const html = await r.text();
    assert.ok(!html.includes('{{'));
    assertSecurityHeaders(r);
    assert.ok(cookieOf(r, 'sp_csrf'));
    const fd = new FormData();
    fd.append('h', 'eyJ2Ijox\nfQ==');
    fd.append('c', 'QUJD<script>alert(1)</script>REVG');
    r = await fetch(keyd.url + '/online', { method: 'POST', body: fd });
    assert.equal(r.status, 200);
    const page = await r.text();
    assert.ok(!page.includes('<script>alert'));
    assert.ok(page.includes('QUJDscriptalert1/scriptREVG'));
    assert.ok(page.includes('eyJ2Ijox\nfQ=='));
  }
});

test('recipient add refuses a weak password with a clear message', () => {
  const r = sealpost(['--data-dir', keyd.dataDir, 'recipient', 'add', 'weak@example.org',
    '--password-file', passwordFile('password123')]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /too common/);
  const h = sealpost(['--data-dir', keyd.dataDir, 'org', 'add', '--help']);
  assert.equal(h.status, 0);
  assert.match(h.stdout.toString(), /--domain/);
});

test('the log has one line per request and no secrets', () => {
  const text = keyd.log.join('\n');
  assert.match(text, /keyd request method=POST path=\/api\/v1\/envelopes status=201/);
  assert.ok(!text.includes(token));
  assert.ok(!text.includes(PW));
  assert.ok(!/sps_/.test(text));
});

test('two key servers on one data directory share every piece of state', async () => {
  const other = await startKeyd({ dataDir: keyd.dataDir });
  try {
    const d = await deposit();
    const s = await login(pat, PW);
    assert.equal(s.status, 200);
    // The session made by the first server works on the second.
    const r = await fetch(`${other.url}/api/v1/envelopes/${d.id}/release`, {
      method: 'POST', headers: { Authorization: `Bearer ${s.body.session}` } });
    assert.equal(r.status, 200);
    assert.equal((await r.json()).server_part, d.server_part);
    // Logging out on the second ends it on the first.
    const del = await fetch(`${other.url}/api/v1/session`, { method: 'DELETE',
      headers: { Authorization: `Bearer ${s.body.session}` } });
    assert.equal(del.status, 204);
    const r2 = await api(`/api/v1/envelopes/${d.id}/release`, { auth: s.body.session });
    assert.equal(r2.status, 401);
    assert.equal(fs.readdirSync(path.join(keyd.dataDir, 'keys'))
      .filter((f) => /^master-\d+\.key$/.test(f)).length, 1);
  } finally {
    await other.stop();
  }
});

test('the database briefly away: a deposit answers 503 with Retry-After, then works again', {
  skip: !PGSQL && 'a PostgreSQL store only (SEALPOST_TEST_DB=pgsql)' }, async () => {
  const body = { from: 'doc@clinic.example', recipients: [pat], format: 2 };
  const pg = pgServerSync();
  await pg.pause();
  try {
    const r = await api('/api/v1/envelopes', { auth: token, body });
    assert.equal(r.status, 503);
    assert.match(r.headers.get('retry-after') || '', /^\d+$/);
    assert.deepEqual(await r.json(), { error: 'busy, try again' });
  } finally {
    await pg.resume();
  }
  const r = await api('/api/v1/envelopes', { auth: token, body });
  assert.equal(r.status, 201);
  // the log names the server, never a password or the token
  const text = keyd.log.join('\n');
  assert.match(text, /keyd store-error path=\/api\/v1\/envelopes error=.*PostgreSQL at 127\.0\.0\.1/);
  assert.ok(!text.includes(token));
});

test('configuration file: -c FILE runs, -n checks, a bad value names file:line', async () => {
  const keydBin = path.join(BIN, 'sealpost-keyd');
  const dir = tmpDir('sealpost-keyd-conf-');
  const conf = path.join(dir, 'keyd.conf');
  // --print-defaults is a valid file
  let r = run(keydBin, ['--print-defaults']);
  assert.equal(r.status, 0);
  fs.writeFileSync(conf, r.stdout);
  r = run(keydBin, ['-c', conf, '-n', '--data-dir', dir, '--allow-root']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout.toString(), /configuration ok/);
  // a bad proxy in line 4
  fs.writeFileSync(conf, '# test\ndata_dir = ' + dir + '\ntrusted_proxy = 10.0.0.0/8\n' +
    'trusted_proxy = 10.0.0.0/99\n');
  r = run(keydBin, ['-c', conf, '-n']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /keyd\.conf:4: trusted_proxy: '10\.0\.0\.0\/99': want an address/);
  r = run(keydBin, ['--data-dir', dir, '--threads', '0']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--threads: 0 is out of range \(1\.\.256\)/);
  r = run(keydBin, ['--data-dir', dir, '--no-such-option', '1']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown option --no-such-option/);
  // an IPv6 address as the public URL's host: envelopes could not open
  r = run(keydBin, ['-n', '--data-dir', dir, '--allow-root', '--public-url', 'http://[2001:db8::1]:8080']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /public_url: http:\/\/\[2001:db8::1\]:8080: give a host name, not an IPv6 address/);
  // listening on [::1] alone: the public URL is localhost's
  r = run(keydBin, ['-n', '--data-dir', dir, '--allow-root', '--listen', '[::1]:8080']);
  assert.equal(r.status, 0, r.stderr);
  // a key server from a file alone (its store too, under PostgreSQL)
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const data = path.join(dir, 'data');
  const db = keydDb(data);
  fs.writeFileSync(conf, [`data_dir = ${data}`, `listen = 127.0.0.1:${port}`, `public_url = ${url}/`,
    'allow_root = yes', 'trusted_proxy = 127.0.0.2', 'max_envelope = 1M', ...(db ? [`db = ${db}`] : []),
    ''].join('\n'));
  const d = spawnDaemon(keydBin, ['-c', conf], 'KEYD_LOG');
  try {
    let ok = false;
    for (let i = 0; i < 150 && !ok; i++) {
      try {
        ok = (await fetch(url + '/healthz')).ok;
      } catch { await sleep(100); }
    }
    assert.ok(ok, d.log.join('\n'));
    let start;
    for (let i = 0; i < 100 && !(start = d.log.find((l) => /\bkeyd start /.test(l))); i++) await sleep(50);
    assert.match(start, new RegExp(`listen=127\\.0\\.0\\.1:${port} public_url=${url} store=${PGSQL ? 'postgresql' : 'sqlite'}`));
    assert.equal(fs.existsSync(path.join(data, 'keyd.sqlite')), !PGSQL);
    if (db) assert.ok(!d.log.join('\n').includes(db), 'the store URL is not logged');
  } finally {
    await d.stop();
  }
});
