// nojs.test.mjs - reading without scripts (POST /read): the envelope's
// noscript button posts the envelope and its mail key part; the key server
// says first that this way trusts it with the message, signs the recipient
// in, makes the release and authenticity checks, and shows the text (an
// HTML-only message as text with its lines, no tag), attachments as downloads byte for
// byte; "Forgot your password?" mails the reset link with the proof that
// the page holds the message.  Wrong password, another account, a changed ciphertext byte or a
// changed header: a clear refusal and nothing of the message.  Nothing of
// the message reaches the key server's log.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startKeyd, orgAdd, recipientAdd, sealpost, tmpDir, makeMail, mailsTo, mailedLink, countLinks, sleepSync } from '../lib/harness.mjs';
import { CookieJar } from '../lib/cookiejar.mjs';

const PAT = 'pat@example.org';
const EVE = 'eve@example.org';
const PW = 'Heron quartz window 58';
const EVE_PW = 'Lantern orbit cobalt 93';
const SECRET = 'Potassium 4.1 mmol/L, marker QX-7731';
const SUBJECT = 'Lab results zebra-1187';
const ATT = { name: 'Befund Zürich.pdf', type: 'application/pdf', data: crypto.randomBytes(70000) };

let keyd, token, work, env, htmlEnv;

// The fields the envelope's noscript form posts: h, c, s and mp.
function envelopeFields(file) {
  const html = fs.readFileSync(file, 'utf8');
  const area = (id) => {
    const m = (id === 'sp-payload' ? /<input type="hidden" id="sp-payload" name="c" value="([^"]*)">/ :
      new RegExp(`<textarea id="${id}"[^>]*>([^<]*)</textarea>`)).exec(html);
    return m ? m[1].trim() : undefined;
  };
  const mp = /formaction="[^"]*\/read" name="mp" value="([A-Za-z0-9_-]{43})"/.exec(html);
  assert.ok(mp, 'the envelope has the noscript button with its mail part');
  return { h: area('sp-header'), c: area('sp-payload'), s: area('sp-sig'), mp: mp[1] };
}

function seal(mail, name) {
  const inp = path.join(work, `${name}.eml`);
  const out = path.join(work, `${name}.out.eml`);
  const html = path.join(work, `${name}.html`);
  fs.writeFileSync(inp, mail);
  const r = sealpost(['seal', '--keyd', keyd.url, '--token', token, '-i', inp, '-o', out, '--html', html]);
  assert.equal(r.status, 0, r.stderr.toString());
  return envelopeFields(html);
}

// A browser without scripts, as far as the key server can tell: its
// cookies, and the Origin of its own forms.
function browser() {
  const jar = new CookieJar();
  return {
    jar,
    async post(fields, { fromEnvelope = false, to = '/read' } = {}) {
      const fd = new FormData();
      for (const [k, v] of Object.entries(fields)) if (v !== undefined) fd.append(k, v);
      const headers = fromEnvelope ? { Origin: 'null', 'Sec-Fetch-Site': 'cross-site' } :
        { Origin: keyd.url, 'Sec-Fetch-Site': 'same-origin' };
      Object.assign(headers, jar.headers());
      const res = await fetch(keyd.url + to, { method: 'POST', body: fd, headers, redirect: 'manual' });
      jar.take(res);
      const body = Buffer.from(await res.arrayBuffer());
      return { res, body, text: body.toString('utf8') };
    },
  };
}

// RFC 6238 (HMAC-SHA1, 30 s steps, 6 digits), for an account with an
// authenticator app.
function base32Decode(str) {
  const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0, value = 0;
  const out = [];
  for (const ch of str.toUpperCase().replace(/[\s=]/g, '')) {
    value = (value << 5) | A.indexOf(ch);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}
function totp(secret, step) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(step));
  const h = crypto.createHmac('sha1', secret).update(msg).digest();
  const off = h[h.length - 1] & 0x0f;
  const n = ((h[off] & 0x7f) << 24) | (h[off + 1] << 16) | (h[off + 2] << 8) | h[off + 3];
  return String(n % 1000000).padStart(6, '0');
}
const stepNow = () => Math.floor(Date.now() / 1000 / 30);

const csrfOf = (page) => /name="csrf" value="([^"]+)"/.exec(page)[1];

// Arrive from the envelope, then sign in: the answer of the sign-in step.
async function signIn(fields, email, password) {
  const b = browser();
  const first = await b.post(fields, { fromEnvelope: true });
  assert.equal(first.res.status, 200, first.text);
  const second = await b.post({ ...fields, csrf: csrfOf(first.text), step: 'signin', email, password });
  return { b, first, second };
}

function assertNoMessage(text) {
  assert.ok(!text.includes(SECRET), 'no text of the message');
  assert.ok(!text.includes(SUBJECT), 'no subject of the message');
  assert.ok(!text.includes('Befund'), 'no attachment name');
}

before(async () => {
  keyd = await startKeyd();
  token = orgAdd(keyd.dataDir, 'Example Clinic', 'clinic.example');
  recipientAdd(keyd.dataDir, PAT, PW);
  recipientAdd(keyd.dataDir, EVE, EVE_PW);
  work = tmpDir('sealpost-nojs-');
  env = seal(makeMail({ to: PAT, subject: SUBJECT, text: `Dear Pat,\n${SECRET}\n<b>not a tag</b>\n`,
    attachments: [ATT] }), 'plain');
  const htmlOnly = Buffer.from([
    'From: Dr Alice <alice@clinic.example>', `To: ${PAT}`, 'Subject: Newsletter',
    'Date: Mon, 23 Nov 2026 10:00:00 +0000', 'Message-ID: <nojs-html@clinic.example>', 'MIME-Version: 1.0',
    'Content-Type: text/html; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '',
    '<html><head><title>t</title><style>p{color:red}</style></head><body>',
    '<p>Your <b>appointment</b> is on <i>Friday</i> &amp; bring your card.</p>',
    '<ul><li>Fast from midnight</li><li>Bring your list of medicines</li></ul><div>Dr Alice</div>',
    '<script>alert("owned")</script><img src="http://tracker.example/p.png" alt="">',
    '<a href="javascript:alert(2)">click</a></body></html>', ''].join('\r\n'));
  htmlEnv = seal(htmlOnly, 'html');
});
after(async () => { await keyd?.stop(); });

test('the first page says that this way trusts the key server, before anything is decrypted', async () => {
  const b = browser();
  const { res, text } = await b.post(env, { fromEnvelope: true });
  assert.equal(res.status, 200);
  assert.match(text, /trusts the key server with this message/);
  assert.match(text, /keeps nothing of it/);
  assert.match(text, /name="password"/);
  assert.ok(!/<script/i.test(text), 'no script on the page');
  assert.match(res.headers.get('content-security-policy'), /script-src 'self'/);
  assertNoMessage(text);
  assert.ok(b.jar.has('sp_csrf'), 'the CSRF cookie is set');
  // a form post without the double-submit token is refused
  const bad = await b.post({ ...env, step: 'signin', email: PAT, password: PW });
  assert.equal(bad.res.status, 403);
  assertNoMessage(bad.text);
});

test('the right password reads the text, escaped, under the genuine banner', async () => {
  const { second } = await signIn(env, PAT, PW);
  assert.equal(second.res.status, 200, second.text);
  assert.match(second.text, /Genuine envelope from Example Clinic, signed and checked/);
  assert.ok(second.text.includes(SECRET));
  assert.ok(second.text.includes(SUBJECT));
  assert.ok(second.text.includes('&lt;b&gt;not a tag&lt;/b&gt;'), 'the text is escaped');
  assert.ok(!second.text.includes('<b>not a tag'));
  assert.ok(second.text.includes('Befund Zürich.pdf'), 'the attachment is listed');
  assert.ok(!/<script/i.test(second.text));
  // the audit trail has the release, marked as this path
  const ex = sealpost(['--data-dir', keyd.dataDir, 'audit', 'export', '--format', 'json']);
  assert.equal(ex.status, 0, String(ex.stderr));
  const rel = JSON.parse(ex.stdout.toString()).records
    .filter((x) => x.event === 'release' && x.actor === PAT && x.detail === 'no-script');
  assert.ok(rel.length >= 1, 'audited as released (no-script)');
});

test('the message page signs out without scripts; the message then needs the password again', async () => {
  const { b, second } = await signIn(env, PAT, PW);
  assert.equal(second.res.status, 200, second.text);
  const form = /<form method="post" action="\/account\/signout" id="sp-signout"><input type="hidden" name="csrf" value="([^"]+)">/
    .exec(second.text);
  assert.ok(form, 'the page has a sign-out form');
  assert.match(second.text, /On a computer others use, sign out once you have read it\./);
  // the message again with the session: still readable
  const again = await b.post({ ...env, csrf: csrfOf(second.text), step: 'read' });
  assert.equal(again.res.status, 200, again.text);
  assert.ok(again.text.includes(SECRET));
  const out = await b.post({ csrf: form[1] }, { to: '/account/signout' });
  assert.equal(out.res.status, 200, out.text);
  assert.match(out.text, /You are signed out/);
  // the same repost now asks for the password and shows nothing
  const after = await b.post({ ...env, csrf: csrfOf(second.text), step: 'read' });
  assert.equal(after.res.status, 401, after.text);
  assertNoMessage(after.text);
});

test('a wrong password is refused and shows nothing of the message', async () => {
  const { second } = await signIn(env, PAT, 'not the password at all');
  assert.equal(second.res.status, 401);
  assert.match(second.text, /Wrong email address or password/);
  assertNoMessage(second.text);
});

test('an account the message was not sent to is refused', async () => {
  const { second } = await signIn(env, EVE, EVE_PW);
  assert.equal(second.res.status, 403);
  assert.match(second.text, /was not sent to eve@example\.org/);
  assertNoMessage(second.text);
});

test('a changed ciphertext byte or a changed header is "not genuine", unread', async () => {
  const ct = Buffer.from(env.c.replace(/\s+/g, ''), 'base64');
  ct[Math.floor(ct.length / 2)] ^= 1;
  const r1 = await signIn({ ...env, c: ct.toString('base64') }, PAT, PW);
  assert.equal(r1.second.res.status, 403);
  assert.match(r1.second.text, /This is not a genuine envelope from Example Clinic/);
  // what failed, once, as a reason of its own (the page names the organisation)
  assert.match(r1.second.text, /<p>its content is not the one the organisation signed \(changed/);
  assertNoMessage(r1.second.text);

  const hdr = Buffer.from(env.h.replace(/\s+/g, ''), 'base64').toString('utf8');
  const changed = hdr.replace(/"created":(\d)/, (m, d) => `"created":${(Number(d) + 1) % 10}`);
  assert.notEqual(changed, hdr);
  const r2 = await signIn({ ...env, h: Buffer.from(changed).toString('base64') }, PAT, PW);
  assert.equal(r2.second.res.status, 403);
  assert.match(r2.second.text, /This is not a genuine envelope/);
  assert.match(r2.second.text, /<p>its header is not the one the organisation signed<\/p>/);
  assertNoMessage(r2.second.text);

  // a header that claims another format than the one deposited: the
  // reason alone, without the numbers of the sealer's message
  const o = JSON.parse(hdr);
  assert.equal(o.v, 2);
  o.v = 1;
  delete o.kid;
  delete o.level;
  delete o.verify;
  const v1 = JSON.stringify(o);
  const r3 = await signIn({ ...env, h: Buffer.from(v1).toString('base64') }, PAT, PW);
  assert.equal(r3.second.res.status, 403);
  assert.match(r3.second.text, /This is not a genuine envelope from Example Clinic/);
  assert.match(r3.second.text, /<p>its format is not the one the key server recorded<\/p>/);
  assertNoMessage(r3.second.text);
});

test('an attachment downloads byte for byte, as an attachment with a safe name', async () => {
  const { b, second } = await signIn(env, PAT, PW);
  assert.equal(second.res.status, 200);
  assert.match(second.text, /<button type="submit" name="part" value="1">/);
  const d = await b.post({ ...env, csrf: csrfOf(second.text), step: 'part', part: '1' });
  assert.equal(d.res.status, 200, d.text);
  assert.equal(d.res.headers.get('content-type'), 'application/octet-stream');
  const cd = d.res.headers.get('content-disposition');
  assert.match(cd, /^attachment; filename="Befund Z__rich\.pdf"; filename\*=UTF-8''Befund%20Z%C3%BCrich\.pdf$/);
  assert.equal(d.res.headers.get('cache-control'), 'no-store');
  assert.ok(d.body.equals(ATT.data), 'the exact bytes');
  // no session: the download is refused
  const other = browser();
  const first = await other.post(env, { fromEnvelope: true });
  const n = await other.post({ ...env, csrf: csrfOf(first.text), step: 'part', part: '1' });
  assert.equal(n.res.status, 401);
  assert.ok(!n.body.includes(ATT.data.subarray(0, 64)));
});

test('an HTML-only message shows its text with its lines and no tag of it', async () => {
  const { second } = await signIn(htmlEnv, PAT, PW);
  assert.equal(second.res.status, 200, second.text);
  const body = /<div id="sp-text"[^>]*>([\s\S]*?)<\/div>/.exec(second.text)[1];
  assert.match(body, /Your appointment is on Friday &amp; bring your card\./);
  // paragraphs apart, list items on lines of their own with a bullet
  assert.ok(body.includes('bring your card.\n\n\u2022 Fast from midnight\n\u2022 Bring your list of medicines\n\nDr Alice'),
    JSON.stringify(body));
  assert.ok(!body.includes('<'), 'no tag of the message');
  assert.ok(!second.text.includes('alert('), 'no script of the message');
  assert.ok(!second.text.includes('tracker.example'), 'no remote image');
  assert.match(second.text, /its text only/);
});

test('a message the sender withdrew is refused with its page', async () => {
  const wEnv = seal(makeMail({ to: PAT, subject: SUBJECT, text: `${SECRET}\n` }), 'withdrawn');
  const id = JSON.parse(Buffer.from(wEnv.h.replace(/\s+/g, ''), 'base64').toString('utf8')).id;
  const r = sealpost(['--data-dir', keyd.dataDir, 'retract', id]);
  assert.equal(r.status, 0, String(r.stderr));
  const { second } = await signIn(wEnv, PAT, PW);
  assert.equal(second.res.status, 410);
  assert.match(second.text, /withdrawn by the sender/);
  assertNoMessage(second.text);
});

test('the sender\'s question is asked in the form; a wrong answer is refused, the right one reads', async () => {
  const mail = makeMail({ to: PAT, subject: 'Question first', text: `${SECRET}\n` });
  const withQ = Buffer.concat([Buffer.from('X-Sealpost-Verify: blue heron\r\nX-Sealpost-Verify-Hint: Your favourite bird?\r\n'), mail]);
  const qEnv = seal(withQ, 'question');
  const { b, second } = await signIn(qEnv, PAT, PW);
  assert.equal(second.res.status, 409, second.text);
  assert.match(second.text, /Your favourite bird\?/);
  assert.match(second.text, /5 tries left/);
  assertNoMessage(second.text);
  const wrong = await b.post({ ...qEnv, csrf: csrfOf(second.text), step: 'answer', answer: 'sparrow' });
  assert.equal(wrong.res.status, 403);
  assert.match(wrong.text, /That is not the answer the sender gave/);
  assert.match(wrong.text, /4 tries left/);
  assertNoMessage(wrong.text);
  const right = await b.post({ ...qEnv, csrf: csrfOf(wrong.text), step: 'answer', answer: 'Blue Heron' });
  assert.equal(right.res.status, 200, right.text);
  assert.ok(right.text.includes(SECRET));
});

test('an account with an authenticator app gives its code on the page; a wrong code shows nothing', async () => {
  const TOM = 'tom@example.org';
  const TOM_PW = 'Quiet meadow copper 41';
  recipientAdd(keyd.dataDir, TOM, TOM_PW);
  const tEnv = seal(makeMail({ to: TOM, subject: SUBJECT, text: `${SECRET}\n` }), 'totp');
  // set up the app on the account's own page, with the session of a first read
  const { b, second } = await signIn(tEnv, TOM, TOM_PW);
  assert.equal(second.res.status, 200);
  const sess = await fetch(keyd.url + '/api/v1/session',
    { headers: b.jar.headers() });
  const { csrf } = await sess.json();
  const setup = await b.post({ csrf }, { to: '/account/totp' });
  const secretB32 = /name="secret" value="([A-Z2-7=]+)"/.exec(setup.text)[1];
  const enrol = stepNow();
  const on = await b.post({ csrf, secret: secretB32, code: totp(base32Decode(secretB32), enrol) },
    { to: '/account/totp/confirm' });
  assert.match(on.text, /sp-totp-on/);

  // a new browser: password, then the code
  const c = await signIn(tEnv, TOM, TOM_PW);
  assert.equal(c.second.res.status, 200);
  assert.match(c.second.text, /Code from your authenticator app/);
  assertNoMessage(c.second.text);
  const mfa = /name="mfa" value="([^"]+)"/.exec(c.second.text)[1];
  const valid = new Set([-1, 0, 1].map((d) => totp(base32Decode(secretB32), stepNow() + d)));
  const wrongCode = ['000000', '111111', '222222', '333333'].find((x) => !valid.has(x));
  const wrong = await c.b.post({ ...tEnv, csrf: csrfOf(c.second.text), step: 'code', mfa, code: wrongCode });
  assert.equal(wrong.res.status, 401);
  assert.match(wrong.text, /That code is not right/);
  assertNoMessage(wrong.text);
  const right = await c.b.post({ ...tEnv, csrf: csrfOf(wrong.text), step: 'code', mfa,
    code: totp(base32Decode(secretB32), Math.max(stepNow(), enrol + 1)) });
  assert.equal(right.res.status, 200, right.text);
  assert.ok(right.text.includes(SECRET));
});

test('forgot your password without scripts: the reset link by mail, also after strangers spent the address\'s mails', async () => {
  const FAY = 'fay@example.org';
  recipientAdd(keyd.dataDir, FAY, 'lighthouse amber ledger 7');
  const fay = seal(makeMail({ to: FAY, subject: 'For Fay', text: 'Hello Fay\n' }), 'fay');
  // strangers, without the message, spend the three mails of the hour of
  // Fay's address and Eve's
  const ask = (email) => fetch(`${keyd.url}/api/v1/forgot`, { method: 'POST',
    headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ email }) });
  for (const a of [FAY, EVE]) {
    for (let i = 0; i < 3; i++) assert.equal((await ask(a)).status, 202);
    mailedLink(keyd.outbox, a, 'reset', { skip: 2 });
  }

  const b = browser();
  const first = await b.post(fay, { fromEnvelope: true });
  assert.match(first.text, /<button type="submit" class="linkbtn" name="forgot" value="1" formnovalidate>Forgot your password\? Mail me a link<\/button>/);
  const form = { ...fay, csrf: csrfOf(first.text), step: 'signin', password: '', forgot: '1' };
  // no address, or not one: said, nothing mailed
  for (const email of ['', 'not an address']) {
    const r = await b.post({ ...form, email });
    assert.equal(r.res.status, 400, email);
    assert.match(r.text, /Type the address your secure messages are sent to, then choose &quot;Forgot your password\?&quot; again/);
    assert.match(r.text, /name="password"/);
  }
  // the page holds Fay's message: the link is mailed beyond the three
  const sent = await b.post({ ...form, email: 'Fay@Example.org' });
  assert.equal(sent.res.status, 200, sent.text);
  assert.match(sent.text, /<p class="notice" role="status">If fay@example\.org has an account, we sent a link to it\. It works once, for one hour\.<\/p>/);
  assert.match(sent.text, /come back here and sign in/);
  assert.match(sent.text, /name="email"[^>]*value="fay@example\.org"/, 'the sign-in form again, for after the new password');
  assertNoMessage(sent.text);
  const link = mailedLink(keyd.outbox, FAY, 'reset', { skip: 3 });
  assert.equal((await fetch(link)).status, 200, 'the mailed link opens the reset page');
  assert.ok(keyd.log.some((l) => /\bkeyd forgot .*holder=yes.*page=read/.test(l)), 'the log tells which budget');

  // an address the message does not name proves nothing: the same page,
  // and over its three nothing is mailed; an unknown address, the same page
  const eve = await b.post({ ...form, email: EVE });
  const ghost = await b.post({ ...form, email: 'nobody.here@example.org' });
  for (const [r, a] of [[eve, EVE], [ghost, 'nobody.here@example.org']]) {
    assert.equal(r.res.status, 200);
    assert.match(r.text, new RegExp(`If ${a.replace(/\./g, '\\.')} has an account, we sent a link to it`));
  }
  // a post from another site (the envelope's own origin included) is no
  // form of this page: refused, nothing mailed
  const cross = await b.post({ ...form, email: FAY }, { fromEnvelope: true });
  assert.equal(cross.res.status, 403);
  sleepSync(300);
  assert.equal(countLinks(keyd.outbox, EVE, 'reset'), 3);
  assert.equal(mailsTo(keyd.outbox, 'nobody.here@example.org').length, 0);
  assert.equal(countLinks(keyd.outbox, FAY, 'reset'), 4);
});

test('nothing of the message is in the key server\'s log', () => {
  const log = keyd.log.join('\n');
  assert.match(log, /read-noscript/);
  for (const s of [SECRET, SUBJECT, 'Befund', 'appointment', env.mp, htmlEnv.mp, PW]) {
    assert.ok(!log.includes(s), `the log holds ${s}`);
  }
});
