// remember.test.mjs - remembered devices on a real sealpost-keyd over
// loopback (both store backends, SEALPOST_TEST_DB): the device cookie is
// set only when "remember" was asked for, the phrase endpoint answers only
// a live device cookie, the envelope's level at release (high: a password
// session only; medium: a remembered device's session; low: nobody signed
// in), the audit of how each release was authenticated, and forgetting a
// device or signing out everywhere from the profile.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startKeyd, orgAdd, recipientAdd, storeSql, sealpost, makeMail, tmpDir, mailsTo } from '../lib/harness.mjs';
import { CookieJar } from '../lib/cookiejar.mjs';

const PW = 'correct horse battery staple';
const pat = 'pat@example.org';
const sam = 'sam@example.org';
const PHRASE = 'a heron at dawn';
let K, ORG;

before(async () => {
  K = await startKeyd({ args: ['--login-free', '1000', '--login-free-ip', '100000', '--form-free', '100000'] });
  ORG = orgAdd(K.dataDir, 'Clinic', 'clinic.example');
  recipientAdd(K.dataDir, pat, PW);
  recipientAdd(K.dataDir, sam, PW);
  storeSql(K.dataDir, `UPDATE accounts SET phrase = '${PHRASE}', phrase_enabled = 1 WHERE email = '${pat}'`);
});
after(async () => {
  await K?.stop();
});

// A browser: a cookie jar; JSON calls and same-origin form posts.
class Browser {
  constructor() { this.jar = new CookieJar(); this.setCookies = []; }

  cookie() { return this.jar.header(); }

  async req(p, { method = 'GET', json, form, headers = {} } = {}) {
    const h = { ...(this.jar.size ? { Cookie: this.cookie() } : {}), ...headers };
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
    this.setCookies = this.jar.take(r);
    const text = await r.text();
    let data = null;
    try { data = JSON.parse(text); } catch { /* a page */ }
    return { status: r.status, data, text };
  }

  async signIn(email, remember) {
    const r = await this.req('/api/v1/session', { method: 'POST',
      json: { email, password: PW, ...(remember === undefined ? {} : { remember }) } });
    assert.equal(r.status, 200, r.text);
    this.csrf = r.data.csrf;
    return r;
  }

  release(id) {
    return this.req(`/api/v1/envelopes/${id}/release`, { method: 'POST', json: {},
      headers: this.csrf ? { 'X-CSRF-Token': this.csrf } : {} });
  }

  async deviceSession() {
    const r = await this.req('/api/v1/session/device', { method: 'POST', json: {} });
    if (r.status === 200) this.csrf = r.data.csrf;
    return r;
  }
}

async function deposit(level, recipients = [pat]) {
  const r = await fetch(K.url + '/api/v1/envelopes', { method: 'POST',
    headers: { Authorization: `Bearer ${ORG}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ from: 'doc@clinic.example', recipients, expires: 0, format: 2, level }) });
  const j = await r.json();
  assert.equal(r.status, 201, JSON.stringify(j));
  assert.equal(j.level, level);
  return j.id;
}

// How the release of id was authenticated, from the audit trail.
const releaseAudit = (id) => storeSql(K.dataDir,
  `SELECT coalesce(actor, '-') || ' ' || detail FROM audit WHERE event = 'release' AND envelope_id = '${id}' ORDER BY id`)
  .split('\n').filter(Boolean);

test('the device cookie is set only when remember is ticked, HttpOnly and SameSite=Strict', async () => {
  const plain = new Browser();
  await plain.signIn(pat);
  assert.ok(!plain.jar.has('sp_device'));
  const no = new Browser();
  await no.signIn(pat, false);
  assert.ok(!no.jar.has('sp_device'));

  const b = new Browser();
  await b.signIn(pat, true);
  const c = b.setCookies.find((x) => x.startsWith('sp_device='));
  assert.ok(c, b.setCookies.join('\n'));
  assert.match(c, /HttpOnly/);
  assert.match(c, /SameSite=Strict/);
  assert.match(c, /Max-Age=7776000/);
  assert.match(b.jar.get('sp_device'), /^spd_[A-Za-z0-9_-]{22}$/);
  // remembered again on the same browser: still one device
  const first = b.jar.get('sp_device');
  await b.signIn(pat, true);
  assert.equal(b.jar.get('sp_device'), first);
  // only its hash is kept
  const stored = storeSql(K.dataDir, `SELECT count(*) FROM devices WHERE email = '${pat}'`);
  assert.equal(Number(stored), 1);
  assert.equal(storeSql(K.dataDir, `SELECT agent FROM devices WHERE email = '${pat}'`), 'A browser');
  // the owner is told, once, by mail
  const until = Date.now() + 5000;
  let told = [];
  while (told.length === 0 && Date.now() < until) {
    told = mailsTo(K.outbox, pat).filter((m) => /A remembered device \(A browser\) was added/.test(m.body));
    if (told.length === 0) await new Promise((r) => setTimeout(r, 25));
  }
  assert.equal(told.length, 1);
  // another account remembered on this browser: the first one's device goes
  await b.signIn(sam, true);
  assert.notEqual(b.jar.get('sp_device'), first);
  assert.equal(Number(storeSql(K.dataDir, `SELECT count(*) FROM devices WHERE email = '${pat}'`)), 0);
});

test('the phrase answers only a live device cookie', async () => {
  const b = new Browser();
  await b.signIn(pat, true);
  const p = await b.req('/api/v1/device');
  assert.equal(p.status, 200);
  assert.deepEqual(p.data, { email: pat, phrase: PHRASE });

  // no cookie, a made-up token, a malformed one: nothing
  for (const jar of [new CookieJar(), new CookieJar([['sp_device', 'spd_AAAAAAAAAAAAAAAAAAAAAA']]),
    new CookieJar([['sp_device', 'x']]), new CookieJar([['sp_session', b.jar.get('sp_session')]])]) {
    const o = new Browser();
    o.jar = jar;
    const r = await o.req('/api/v1/device');
    assert.equal(r.status, 404);
    assert.ok(!r.text.includes(PHRASE));
    assert.ok(!r.text.includes(pat));
  }
  // an account without a phrase to show: null
  const s = new Browser();
  await s.signIn(sam, true);
  assert.deepEqual((await s.req('/api/v1/device')).data, { email: sam, phrase: null });
});

test('levels: high needs the password, medium opens with the device, low with nobody', async () => {
  const high = await deposit('high');
  const medium = await deposit('medium');
  const low = await deposit('low');
  const b = new Browser();
  await b.signIn(pat, true);
  const device = b.jar.get('sp_device');

  // a new browser window: only the device cookie
  const d = new Browser();
  d.jar = new CookieJar([['sp_device', device]]);
  const s = await d.deviceSession();
  assert.equal(s.status, 200, s.text);
  assert.equal(s.data.via, 'device');
  assert.equal(s.data.email, pat);
  assert.equal((await d.release(medium)).status, 200);
  const h = await d.release(high);
  assert.equal(h.status, 401);
  assert.equal(h.data.reason, 'password');
  // nor the copy of a high message, nor its verification answer
  for (const [method, p, json] of [['GET', 'copy'], ['GET', 'copy/data'], ['POST', 'verify', { answer: 'x' }]]) {
    const c = await d.req(`/api/v1/envelopes/${high}/${p}`, { method, json,
      headers: method === 'POST' ? { 'X-CSRF-Token': d.csrf } : {} });
    assert.equal(c.status, 401, `${p}: ${c.text}`);
    assert.equal(c.data.reason, 'password', p);
  }
  // the device's session is never a recent password for the profile
  const acc = await d.req('/account');
  assert.equal(acc.status, 200);
  assert.match(acc.text, /Confirm it is you/);

  // the password session opens all three
  for (const id of [high, medium, low]) assert.equal((await b.release(id)).status, 200);

  // nobody: low only; the others as before (401), unknown ids too
  const n = new Browser();
  const rl = await n.release(low);
  assert.equal(rl.status, 200, rl.text);
  assert.equal(typeof rl.data.server_part, 'string');
  assert.equal((await n.release(medium)).status, 401);
  assert.equal((await n.release(high)).status, 401);
  assert.equal((await n.release('AAAAAAAAAAAAAAAAAAAAAA')).status, 401);
  // another site's page gets nothing, even for low
  assert.equal((await n.req(`/api/v1/envelopes/${low}/release`, { method: 'POST', json: {},
    headers: { 'Sec-Fetch-Site': 'cross-site', Origin: 'https://evil.example' } })).status, 401);
  // a device of someone else is no recipient
  const sb = new Browser();
  await sb.signIn(sam, true);
  const sd = new Browser();
  sd.jar = new CookieJar([['sp_device', sb.jar.get('sp_device')]]);
  assert.equal((await sd.deviceSession()).status, 200);
  assert.equal((await sd.release(medium)).status, 403);

  // nobody learns of a retraction of a medium message, but of a low one, as its reader
  const low2 = await deposit('low');
  for (const id of [low2, medium]) {
    const rr = await fetch(`${K.url}/api/v1/envelopes/${id}/retract`, { method: 'POST',
      headers: { Authorization: `Bearer ${ORG}`, 'Content-Type': 'application/json' }, body: '{}' });
    assert.equal(rr.status, 200);
  }
  const gone = await n.release(low2);
  assert.equal(gone.status, 410);
  assert.equal(gone.data.reason, 'retracted');
  assert.equal((await n.release(medium)).status, 401);
  // withdrawn from one of its recipients: nobody must sign in, so that the
  // withdrawn one is refused and the other still reads it
  const low3 = await deposit('low', [pat, sam]);
  const rs = await fetch(`${K.url}/api/v1/envelopes/${low3}/retract`, { method: 'POST',
    headers: { Authorization: `Bearer ${ORG}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ recipient: sam }) });
  assert.equal(rs.status, 200);
  const anon = await n.release(low3);
  assert.equal(anon.status, 401, anon.text);
  assert.ok(anon.data.server_part === undefined);
  const asSam = await sb.release(low3);
  assert.equal(asSam.status, 410);
  assert.equal(asSam.data.reason, 'retracted');
  assert.equal((await b.release(low3)).status, 200);

  // the audit says how each release was authenticated
  assert.deepEqual(releaseAudit(medium), [`${pat} auth=device`, `${pat} auth=password`]);
  assert.deepEqual(releaseAudit(high), [`${pat} auth=password`]);
  assert.deepEqual(releaseAudit(low), [`${pat} auth=password`, '- auth=none']);
  const refused = storeSql(K.dataDir, `SELECT detail FROM audit WHERE event = 'release-refused' AND envelope_id = '${high}'`);
  assert.match(refused, /needs your password/);
});

test('forget a device and sign out everywhere revoke it', async () => {
  const b = new Browser();
  await b.signIn(pat, true);
  const mine = b.jar.get('sp_device');
  const other = new Browser();
  await other.signIn(pat, true);
  const theirs = other.jar.get('sp_device');
  const medium = await deposit('medium');

  // the profile lists them; forgetting needs the password typed recently
  let page = await b.req('/account');
  assert.match(page.text, /Remembered devices/);
  assert.match(page.text, /\(this browser\)/);
  const ids = [...page.text.matchAll(/data-device="(\d+)"/g)].map((m) => m[1]);
  assert.ok(ids.length >= 2);
  const theirId = storeSql(K.dataDir, `SELECT id FROM devices WHERE email = '${pat}' ORDER BY id DESC LIMIT 1`);
  const fresh = await b.req('/account/devices/forget', { method: 'POST', form: { csrf: b.csrf, id: theirId } });
  assert.equal(fresh.status, 200, fresh.text.slice(0, 300));
  assert.match(fresh.text, /The device is forgotten/);
  const o = new Browser();
  o.jar = new CookieJar([['sp_device', theirs]]);
  assert.equal((await o.req('/api/v1/device')).status, 404);
  assert.equal((await o.deviceSession()).status, 401);
  // someone else's device number is not ours to forget
  const s = new Browser();
  await s.signIn(sam, true);
  const samId = storeSql(K.dataDir, `SELECT id FROM devices WHERE email = '${sam}' ORDER BY id DESC LIMIT 1`);
  assert.equal((await b.req('/account/devices/forget', { method: 'POST', form: { csrf: b.csrf, id: samId } })).status, 404);
  assert.equal((await b.req('/account/devices/forget', { method: 'POST', form: { csrf: b.csrf, id: 'x1' } })).status, 404);
  // a device's session cannot forget without the password
  const d = new Browser();
  d.jar = new CookieJar([['sp_device', mine]]);
  await d.deviceSession();
  const stale = await d.req('/account/devices/forget', { method: 'POST', form: { csrf: d.csrf, id: ids[0] } });
  assert.equal(stale.status, 403);
  assert.equal((await d.release(medium)).status, 200);

  // sign out everywhere: every session and every device
  page = await b.req('/account/signout-all', { method: 'POST', form: { csrf: b.csrf } });
  assert.equal(page.status, 200);
  assert.match(page.text, /no device is remembered/);
  assert.ok(!b.jar.has('sp_device'));
  assert.equal(Number(storeSql(K.dataDir, `SELECT count(*) FROM devices WHERE email = '${pat}'`)), 0);
  assert.equal((await d.release(medium)).status, 401);
  const again = new Browser();
  again.jar = new CookieJar([['sp_device', mine]]);
  assert.equal((await again.req('/api/v1/device')).status, 404);
  assert.equal((await again.deviceSession()).status, 401);
  // the other account is untouched
  assert.equal((await s.req('/api/v1/device')).status, 200);
});

test('DELETE /api/v1/device forgets this browser; a new password forgets every device', async () => {
  const b = new Browser();
  await b.signIn(sam, true);
  const tok = b.jar.get('sp_device');
  const r = await b.req('/api/v1/device', { method: 'DELETE' });
  assert.equal(r.status, 204);
  assert.ok(!b.jar.has('sp_device'));
  const o = new Browser();
  o.jar = new CookieJar([['sp_device', tok]]);
  assert.equal((await o.req('/api/v1/device')).status, 404);

  await b.signIn(sam, true);
  assert.ok(Number(storeSql(K.dataDir, `SELECT count(*) FROM devices WHERE email = '${sam}'`)) >= 1);
  const re = await b.req('/account/reauth', { method: 'POST', form: { csrf: b.csrf, password: PW } });
  assert.equal(re.status, 200);
  const np = 'another long password 9';
  const ch = await b.req('/account/password', { method: 'POST', form: { csrf: b.csrf, password: np, password2: np } });
  assert.equal(ch.status, 200, ch.text.slice(0, 400));
  assert.equal(Number(storeSql(K.dataDir, `SELECT count(*) FROM devices WHERE email = '${sam}'`)), 0);
});

test('the notice mail and the envelope link to help and to the forgotten password; /help answers', async () => {
  const dir = tmpDir('sealpost-remember-');
  const inFile = path.join(dir, 'in.eml');
  const outFile = path.join(dir, 'out.eml');
  const html = path.join(dir, 'securedoc.html');
  fs.writeFileSync(inFile, Buffer.concat([Buffer.from('X-Sealpost-Level: low\r\n'), makeMail({ to: pat })]));
  const r = sealpost(['seal', '--keyd', K.url, '--token', ORG, '-i', inFile, '-o', outFile, '--html', html]);
  assert.equal(r.status, 0, String(r.stderr));
  const mail = fs.readFileSync(outFile, 'utf8');
  const parts = [...mail.matchAll(/Content-Type: text\/(plain|html); charset=utf-8\r?\nContent-Transfer-Encoding: base64\r?\n\r?\n([A-Za-z0-9+/=\r\n]+)/g)]
    .map((m) => [m[1], Buffer.from(m[2].replace(/\s/g, ''), 'base64').toString('utf8')]);
  const text = parts.find(([k]) => k === 'plain')?.[1] || '';
  const htm = parts.find(([k]) => k === 'html')?.[1] || '';
  assert.ok(text.includes(`Help: ${K.url}/help`), text);
  assert.ok(text.includes(`Forgot your password? ${K.url}/forgot`), text);
  assert.ok(htm.includes(`<a href="${K.url}/help">`), htm);
  assert.ok(htm.includes(`<a href="${K.url}/forgot">`), htm);
  const env = fs.readFileSync(html, 'utf8');
  assert.ok(env.includes(`href="${K.url}/help"`));
  assert.ok(env.includes(`href="${K.url}/forgot"`));
  assert.match(env, /Security: low &#8212; it opens without a password/);
  // the low envelope releases to nobody
  const id = /id="sp-meta">[^<]*"id":"([A-Za-z0-9_-]{22})"/.exec(env)?.[1] ||
    storeSql(K.dataDir, "SELECT id FROM envelopes WHERE level = 'low' ORDER BY created DESC LIMIT 1");
  assert.equal((await new Browser().release(id)).status, 200);

  const h = await new Browser().req('/help');
  assert.equal(h.status, 200);
  assert.match(h.text, /If this is not your phrase, do not type your password/);
  assert.match(h.text, /href="\/forgot"/);
  assert.match(h.text, /whoever holds the mail can read it/);
});

test('behind HTTPS the device cookie is __Host- and Secure', async () => {
  const H = await startKeyd({ args: ['--public-url', 'https://keys.example.test'] });
  try {
    recipientAdd(H.dataDir, pat, PW);
    const r = await fetch(H.url + '/api/v1/session', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: pat, password: PW, remember: true }) });
    assert.equal(r.status, 200);
    const c = r.headers.getSetCookie().find((x) => x.startsWith('__Host-sp_device='));
    assert.ok(c, r.headers.getSetCookie().join('\n'));
    assert.match(c, /; Secure/);
    assert.match(c, /Path=\//);
    assert.match(c, /SameSite=Strict/);
  } finally {
    await H.stop();
  }
});

// ---- the profile on /account ------------------------------------------------

const ria = 'ria@example.org';
const formCsrf = (html) => /name="csrf" value="([^"]+)"/.exec(html)[1];
const profileRow = () => storeSql(K.dataDir,
  `SELECT first_name, last_name, phrase, phrase_enabled, q1, q2, q3, a1 FROM accounts WHERE email = '${ria}'`);

test('the profile: changed with a fresh password, kept without answers, a notice mail after; a device session must confirm first', async () => {
  recipientAdd(K.dataDir, ria, PW);
  const b = new Browser();
  await b.signIn(ria, true);
  let page = await b.req('/account');
  assert.equal(page.status, 200);
  assert.match(page.text, /<h2 id="profile-h">Profile<\/h2>/);
  assert.match(page.text, /name="first_name"/, 'the form, with the password fresh');
  const before = profileRow().split('|');
  const mailsBefore = mailsTo(K.outbox, ria).length;
  // Names, phrase (not shown) and the first questions with their answers.
  let r = await b.req('/account/profile', { method: 'POST', form: { csrf: formCsrf(page.text),
    first_name: 'Samira', last_name: 'Okafor', phrase: 'lanterns on the river', q1: '1', q2: '2', q3: '3',
    a1: 'Biscuit', a2: 'Lagos', a3: 'Adeyemi' } });
  assert.equal(r.status, 200, r.text);
  assert.match(r.text, /Your profile is saved/);
  let row = profileRow().split('|');
  assert.deepEqual(row.slice(0, 7), ['Samira', 'Okafor', 'lanterns on the river', '0', '1', '2', '3'], 'unticked: the phrase is not shown');
  assert.notEqual(row[7], before[7], 'an answer hash');
  const first = row;
  const mails = mailsTo(K.outbox, ria);
  assert.equal(mails.length, mailsBefore + 1);
  assert.match(mails.at(-1).text, /Subject: Your profile for secure messages was changed/);
  // The three answers left empty keep the questions; another question
  // without its answers is refused, saying what to do.
  page = await b.req('/account');
  assert.match(page.text, /id="sp-profile-name">Samira Okafor</);
  r = await b.req('/account/profile', { method: 'POST', form: { csrf: formCsrf(page.text),
    first_name: 'Samira', last_name: 'Okafor-Lane', phrase: 'lanterns on the river', phrase_enabled: '1',
    q1: '1', q2: '2', q3: '3', a1: '', a2: '', a3: '' } });
  assert.equal(r.status, 200, r.text);
  row = profileRow().split('|');
  assert.deepEqual(row.slice(1, 4), ['Okafor-Lane', 'lanterns on the river', '1']);
  assert.deepEqual(row.slice(4), first.slice(4), 'questions and answers kept');
  r = await b.req('/account/profile', { method: 'POST', form: { csrf: formCsrf(page.text),
    first_name: 'Samira', last_name: 'Okafor', phrase: 'lanterns on the river', q1: '4', q2: '2', q3: '3' } });
  assert.equal(r.status, 400);
  assert.match(r.text, /Answer 1: type the three answers to change your questions/);
  r = await b.req('/account/profile', { method: 'POST', form: { csrf: formCsrf(page.text),
    first_name: 'Samira', last_name: 'Okafor', phrase: 'lanterns on the river', phrase_enabled: '1',
    q1: '2', q2: '2', q3: '3', a1: 'one', a2: 'two', a3: 'three' } });
  assert.equal(r.status, 400);
  assert.match(r.text, /Security questions: choose three different questions/);
  r = await b.req('/account/profile', { method: 'POST', form: { csrf: formCsrf(page.text),
    first_name: ' ', last_name: 'Okafor', phrase: 'x', q1: '1', q2: '2', q3: '3' } });
  assert.equal(r.status, 400);
  assert.match(r.text, /First name: is required/);
  r = await b.req('/account/profile', { method: 'POST', form: { csrf: formCsrf(page.text),
    first_name: 'Samira', last_name: 'Okafor', phrase: 'lanterns on the river', phrase_enabled: '1',
    q1: '4', q2: '5', q3: '6', a1: 'Harbour Street', a2: 'Biscuit', a3: 'Lagos' } });
  assert.equal(r.status, 200, r.text);
  row = profileRow().split('|');
  assert.deepEqual(row.slice(3, 7), ['1', '4', '5', '6']);
  assert.notEqual(row[7], first[7], 'a new answer hash');
  // Without the CSRF token: refused, nothing changed.
  r = await b.req('/account/profile', { method: 'POST', form: { first_name: 'Mallory', last_name: 'X', phrase: 'y' } });
  assert.ok(r.status === 403 || r.status === 400, `${r.status}`);
  assert.equal(profileRow().split('|')[0], 'Samira');

  // A remembered device's session has not typed the password: the page
  // asks for it first, and the API refuses as well.
  const d = new Browser();
  d.jar.set('sp_device', b.jar.get('sp_device'));
  assert.equal((await d.deviceSession()).status, 200);
  page = await d.req('/account');
  assert.doesNotMatch(page.text, /name="first_name"/);
  assert.match(page.text, /To change them, confirm your password above/);
  r = await d.req('/account/profile', { method: 'POST', form: { csrf: formCsrf(page.text),
    first_name: 'Mallory', last_name: 'X', phrase: 'y', q1: '1', q2: '2', q3: '3' } });
  assert.equal(r.status, 403);
  assert.match(r.text, /Confirm your password first/);
  r = await d.req('/api/v1/account/profile', { method: 'POST', headers: { 'X-CSRF-Token': d.csrf },
    json: { first_name: 'Mallory', last_name: 'X', phrase: 'y', questions: [1, 2, 3], answers: ['a', 'b', 'c'] } });
  assert.equal(r.status, 403);
  assert.equal(r.data.reason, 'reauth');
  assert.equal(profileRow().split('|')[0], 'Samira', 'nothing changed');
});

test('a remembered device buys no endless password guesses: its sessions\' confirmations count against the address', async () => {
  const T = await startKeyd({ args: ['--login-free', '3', '--login-free-ip', '100000', '--form-free', '100000'] });
  try {
    recipientAdd(T.dataDir, pat, PW);
    const rem = await fetch(T.url + '/api/v1/session', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: pat, password: PW, remember: true }) });
    assert.equal(rem.status, 200);
    const cookieOf = (res, name) => res.headers.getSetCookie().map((h) => h.split(';')[0]).find((h) => h.startsWith(`${name}=`));
    const device = cookieOf(rem, 'sp_device');
    // a new session from the cookie for every try, as a thief would
    const guess = async (password) => {
      const d = await fetch(T.url + '/api/v1/session/device', { method: 'POST',
        headers: { 'Content-Type': 'application/json', Cookie: device }, body: '{}' });
      assert.equal(d.status, 200);
      const { csrf } = await d.json();
      const r = await fetch(T.url + '/account/reauth', { method: 'POST', redirect: 'manual',
        headers: { Cookie: `${cookieOf(d, 'sp_session')}; ${device}`, Origin: T.url,
          'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ csrf, password }).toString() });
      await r.text();
      return r.status;
    };
    const seen = [];
    for (let i = 0; i < 5; i++) seen.push(await guess(`wrong guess number ${i}`));
    assert.deepEqual(seen, [401, 401, 401, 429, 429]);
    // locked: the right password too, here and at the log-in
    assert.equal(await guess(PW), 429);
    const login = await fetch(T.url + '/api/v1/session', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: pat, password: PW }) });
    assert.equal(login.status, 429);
  } finally {
    await T.stop();
  }
});

test('the server-rendered sign-in remembers the device only with its box ticked', async () => {
  for (const tick of [false, true]) {
    const b = new Browser();
    const page = await b.req('/signin');
    assert.match(page.text, /name="remember"/);
    const r = await b.req('/signin', { method: 'POST', form: { csrf: formCsrf(page.text), email: pat, password: PW,
      next: '/account', ...(tick ? { remember: '1' } : {}) } });
    assert.equal(r.status, 303, r.text);
    assert.ok(b.jar.has('sp_session'));
    assert.equal(b.jar.has('sp_device'), tick, `remember ${tick}`);
  }
});
