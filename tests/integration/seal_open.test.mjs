// seal_open.test.mjs - the real programs end to end: sealpost-keyd on
// loopback, `sealpost seal` and `sealpost open`, registration through the
// HTTP forms and activation from the outbox.  Asserts losslessness (--raw is
// the input byte for byte), size, and the refusals of bad input; signed
// envelopes (format 2) and what `open` refuses: forgeries by a recipient who
// knows the key, re-headed, cut or unsigned copies, another organisation's
// envelope, key servers not trusted; the sender controls of X-Sealpost-*
// fields.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { startKeyd, orgAdd, orgKey, recipientAdd, passwordFile, sealpost, sealpostAsync,
  storeSql, tmpDir, makeMail, activationLink, SANITIZED } from '../lib/harness.mjs';

let keyd, token, work;
let other;	// a second organisation with its own signing key
const PW = 'correct horse battery staple';
const pat = 'pat@example.org';

before(async () => {
  keyd = await startKeyd();
  token = orgAdd(keyd.dataDir, 'Example Clinic', 'clinic.example');
  other = orgAdd(keyd.dataDir, 'Other Org', 'other.example');
  recipientAdd(keyd.dataDir, pat, PW);
  work = tmpDir('sealpost-seal-');
});
after(async () => { await keyd?.stop(); });

function seal(mail, extra = []) {
  const inp = path.join(work, `in-${crypto.randomUUID()}.eml`);
  const out = inp.replace('in-', 'out-');
  fs.writeFileSync(inp, mail);
  const r = sealpost(['seal', '--keyd', keyd.url, '--token', token, '-i', inp, '-o', out, ...extra]);
  return { ...r, out, inp };
}

function openRaw(file, email = pat, pw = PW, extra = []) {
  return sealpost(['open', '--email', email, '--password-file', passwordFile(pw),
    '--keyd', keyd.url, ...extra, file]);
}

function roundTrip(mail) {
  const s = seal(mail);
  assert.equal(s.status, 0, s.stderr);
  const sealed = fs.readFileSync(s.out);
  assert.ok(!sealed.includes(mail.subarray(Math.max(0, mail.length - 200))), 'sealed mail must not hold the plaintext');
  const o = openRaw(s.out, pat, PW, ['--raw']);
  assert.equal(o.status, 0, o.stderr);
  assert.ok(Buffer.compare(o.stdout, mail) === 0, 'open --raw must give back the original bytes');
  return { sealed, out: s.out };
}

test('plain text message round-trips byte for byte', () => {
  roundTrip(makeMail({ text: 'Your lab results: all normal.\nCall us at 555-0100.\n' }));
});

test('LF-only message round-trips and keeps its line ends', () => {
  const { sealed } = roundTrip(makeMail({ eol: '\n', text: 'LF only\n' }));
  assert.ok(!sealed.includes('\r\n'), 'an LF message gets an LF notification');
});

test('HTML with an inline image round-trips', () => {
  const png = crypto.randomBytes(3000);
  roundTrip(makeMail({
    html: '<p>Scan: <img src="cid:scan1@clinic.example"></p>',
    attachments: [{ name: 'scan.png', type: 'image/png', data: png, cid: 'scan1@clinic.example', inline: true }],
  }));
});

test('three attachments with non-ASCII names round-trip and save byte-exact', () => {
  const atts = [
    { name: 'Résumé médical.pdf', type: 'application/pdf', data: crypto.randomBytes(50000) },
    { name: '検査結果.txt', type: 'text/plain', data: Buffer.from('血液検査: 正常\n') },
    { name: 'Zürich Übersicht.xlsx', type: 'application/octet-stream', data: crypto.randomBytes(1234) },
  ];
  const mail = makeMail({ subject: 'Ihre Befunde – vertraulich', attachments: atts });
  const { out } = roundTrip(mail);
  const dir = tmpDir('sealpost-save-');
  const o = openRaw(out, pat, PW, ['--save-dir', dir]);
  assert.equal(o.status, 0, o.stderr);
  const text = o.stdout.toString();
  assert.match(text, /Subject: Ihre Befunde – vertraulich/);
  assert.match(text, /From: .*alice@clinic\.example/);
  const saved = fs.readdirSync(dir).sort();
  assert.equal(saved.length, 3);
  for (const a of atts) {
    assert.ok(saved.includes(a.name), `saved ${a.name} (have ${saved.join(', ')})`);
    assert.ok(Buffer.compare(fs.readFileSync(path.join(dir, a.name)), a.data) === 0, a.name);
  }
});

test('a 20 MB attachment round-trips', { timeout: SANITIZED ? 900000 : 180000 }, () => {
  roundTrip(makeMail({ attachments: [{ name: 'mri.dcm', type: 'application/dicom', data: crypto.randomBytes(20 << 20) }] }));
});

test('a mostly-attachment message seals to at most 1.10 times its size', () => {
  const mail = makeMail({ attachments: [{ name: 'big.bin', type: 'application/octet-stream', data: crypto.randomBytes(10 << 20) }] });
  const s = seal(mail);
  assert.equal(s.status, 0, s.stderr);
  const ratio = fs.statSync(s.out).size / mail.length;
  assert.ok(ratio <= 1.10, `sealed/original = ${ratio.toFixed(3)}`);
  const sealed = fs.readFileSync(s.out, 'latin1');
  assert.match(sealed, /X-Sealpost-Envelope: [A-Za-z0-9_-]{22}/);
  assert.match(sealed, /filename="securedoc.html"/);
  assert.ok(sealed.split(/\r?\n/).every((l) => l.length < 998), 'no line over 998 bytes');
  assert.ok(/^[\x00-\x7f]*$/.test(sealed), 'sealed mail is 7-bit');
});

test('a real message with MIME defects is still sealed losslessly', () => {
  const broken = Buffer.from([
    'From: a@clinic.example', 'To: pat@example.org', 'Subject: broken',
    'Content-Type: multipart/mixed; boundary="XX"', '',
    '--XX', 'Content-Type: text/plain', 'Content-Transfer-Encoding: base64', '',
    'this is not base64 !!!', '--XX', 'Content-Type: application/pdf; name="a.pdf"',
    'Content-Transfer-Encoding: base64', '', 'JVBERi0xLjQK', '(no closing boundary)', '',
  ].join('\r\n'));
  roundTrip(broken);
});

test('seal refuses input that is not a mail message, writing nothing', () => {
  for (const [what, data, re] of [
    ['empty', Buffer.alloc(0), /empty/i],
    ['no header block', Buffer.from('hello world, this is just text\n'), /header/i],
    ['binary garbage', crypto.randomBytes(4096), /header|binary/i],
  ]) {
    const s = seal(data);
    assert.notEqual(s.status, 0, what);
    assert.match(s.stderr, re, `${what}: ${s.stderr}`);
    assert.ok(!fs.existsSync(s.out), `${what}: no output file`);
  }
});

test('seal with an unknown or missing token is refused (401)', () => {
  const inp = path.join(work, 'tok.eml');
  fs.writeFileSync(inp, makeMail());
  const r = sealpost(['seal', '--keyd', keyd.url, '--token', 'spo_forged', '-i', inp, '-o', inp + '.out']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /401/);
  assert.ok(!fs.existsSync(inp + '.out'));
  const r2 = sealpost(['seal', '--keyd', keyd.url, '-i', inp]);
  assert.equal(r2.status, 2);
});

test('seal with the key server down fails temporarily (exit 75), writing nothing', async () => {
  const inp = path.join(work, 'down.eml');
  fs.writeFileSync(inp, makeMail());
  const r = sealpost(['seal', '--keyd', 'http://127.0.0.1:9', '--token', token, '-i', inp, '-o', inp + '.out']);
  assert.equal(r.status, 75, r.stderr);
  assert.match(r.stderr, /key server/);
  assert.ok(!fs.existsSync(inp + '.out'));
});

test('open refuses a wrong password, a stranger, and a tampered envelope', () => {
  const s = seal(makeMail({ text: 'secret text\n' }));
  assert.equal(s.status, 0, s.stderr);
  const wrong = openRaw(s.out, pat, 'not the password at all');
  assert.equal(wrong.status, 1);
  assert.match(wrong.stderr, /401|wrong email or password/);

  recipientAdd(keyd.dataDir, 'eve@example.net', PW);
  const stranger = openRaw(s.out, 'eve@example.net', PW);
  assert.equal(stranger.status, 1);
  assert.match(stranger.stderr, /403/);

  // change one character of the ciphertext inside the envelope
  const sealed = fs.readFileSync(s.out, 'latin1');
  const i = sealed.indexOf('id="sp-payload"');
  const j = sealed.indexOf('\n', sealed.indexOf('\n', i) + 1) + 10;
  const flipped = sealed.slice(0, j) + (sealed[j] === 'A' ? 'B' : 'A') + sealed.slice(j + 1);
  const bad = path.join(work, 'tampered.eml');
  fs.writeFileSync(bad, flipped, 'latin1');
  const t = openRaw(bad);
  assert.equal(t.status, 3, t.stderr);
  assert.match(t.stderr, /not a genuine envelope from Example Clinic/);
  assert.equal(t.stdout.length, 0);
});

test('open of an unknown envelope id is refused (404)', () => {
  const s = seal(makeMail());
  assert.equal(s.status, 0, s.stderr);
  const html = path.join(work, 'forged.html');
  const r = sealpost(['seal', '--keyd', keyd.url, '--token', token, '-i', s.inp, '-o', path.join(work, 'x.eml'), '--html', html]);
  assert.equal(r.status, 0, r.stderr);
  // forge a new id into the header and meta (the key server never issued it)
  let text = fs.readFileSync(html, 'latin1');
  const meta = JSON.parse(text.match(/id="sp-meta">([^<]*)</)[1]);
  const hb64 = text.match(/id="sp-header"[^>]*>([^<]*)</)[1].replace(/\s+/g, '');
  const header = Buffer.from(hb64, 'base64').toString();
  const forgedId = 'AAAAAAAAAAAAAAAAAAAAAA';
  const newHeader = Buffer.from(header.replace(meta.id, forgedId)).toString('base64').replace(/(.{76})/g, '$1\n');
  text = text.replace(/(id="sp-header"[^>]*>)[^<]*</, `$1\n${newHeader}\n<`).replaceAll(meta.id, forgedId);
  fs.writeFileSync(html, text, 'latin1');
  const o = openRaw(html);
  assert.equal(o.status, 1);
  assert.match(o.stderr, /404/);
});

test('register through the HTTP forms, activate from the outbox, then open', async () => {
  const email = 'newpatient@example.org';
  const s = seal(makeMail({ to: email, text: 'Welcome aboard\n' }));
  assert.equal(s.status, 0, s.stderr);
  const pw = 'a long and unusual passphrase 42';

  const page = await fetch(`${keyd.url}/register?email=${encodeURIComponent(email)}`);
  assert.equal(page.status, 200);
  const cookie = page.headers.get('set-cookie').split(';')[0];
  const csrf = (await page.text()).match(/name="csrf" value="([^"]+)"/)[1];
  const form = new URLSearchParams({
    csrf, email, id: '', language: 'en', first_name: 'Pat', last_name: 'Lee',
    password: pw, password2: pw, phrase: 'blue heron at dawn', phrase_enabled: 'on',
    q1: '1', a1: 'Rex', a1c: 'Rex', q2: '2', a2: 'Springfield', a2c: 'Springfield',
    q3: '3', a3: 'Pizza', a3c: 'Pizza',
  });
  const post = await fetch(`${keyd.url}/register`, {
    method: 'POST', body: form, redirect: 'manual',
    headers: { cookie, origin: keyd.url, 'content-type': 'application/x-www-form-urlencoded' },
  });
  const body = await post.text();
  assert.equal(post.status, 200, body.slice(0, 2000));

  // not activated yet: a pending registration is no account, so the
  // password is refused like a wrong one (401), and no key is released
  const early = openRaw(s.out, email, pw);
  assert.equal(early.status, 1);
  assert.match(early.stderr, /401|wrong email or password/);

  // The link opened from the mailbox in another browser (without the
  // registration cookie): it asks for the password chosen at registration.
  const link = activationLink(keyd.outbox, email);
  const ap = await fetch(link, { headers: { cookie } });
  const apText = await ap.text();
  assert.equal(ap.status, 200);
  assert.match(apText, /name="password" type="password"/);
  const acsrf = apText.match(/name="csrf" value="([^"]+)"/)[1];
  const t = new URL(link).searchParams.get('t');
  const act = await fetch(`${keyd.url}/activate`, {
    method: 'POST', body: new URLSearchParams({ csrf: acsrf, t, password: pw }),
    headers: { cookie, origin: keyd.url, 'content-type': 'application/x-www-form-urlencoded' },
  });
  assert.equal(act.status, 200, await act.text());

  const o = openRaw(s.out, email, pw);
  assert.equal(o.status, 0, o.stderr);
  assert.match(o.stdout.toString(), /Welcome aboard/);
});

// --- signed envelopes (format 2) ------------------------------------------

const LABEL = Buffer.from('sealpost envelope v2 signature\n');
const sha256 = (b) => crypto.createHash('sha256').update(b).digest();
const b64url = (b) => Buffer.from(b).toString('base64url');

// Seal mail with the organisation of tok (its signing key is added by the
// harness) and keep securedoc.html too; returns the paths and the id.
function sealHtml(mail, tok = token, extra = []) {
  const inp = path.join(work, `in-${crypto.randomUUID()}.eml`);
  const out = inp.replace('in-', 'out-');
  const html = inp.replace('in-', 'env-').replace(/\.eml$/, '.html');
  fs.writeFileSync(inp, mail);
  const r = sealpost(['seal', '--keyd', keyd.url, '--token', tok, '-i', inp, '-o', out, '--html', html, ...extra]);
  assert.equal(r.status, 0, r.stderr);
  const id = fs.readFileSync(out, 'latin1').match(/X-Sealpost-Envelope: ([A-Za-z0-9_-]{22})/)[1];
  return { inp, out, html, id };
}

const RE = {
  header: /(<textarea id="sp-header"[^>]*>)([^<]*)(<\/textarea>)/,
  meta: /(<script type="application\/json" id="sp-meta">)([^<]*)(<\/script>)/,
  payload: /(<input type="hidden" id="sp-payload" name="c" value=")([^"]*)(">)/,
  sig: /(<textarea id="sp-sig"[^>]*>)([^<]*)(<\/textarea>)/,
};

function readEnvelope(file) {
  const text = fs.readFileSync(file, 'latin1');
  const header = Buffer.from(text.match(RE.header)[2].replace(/\s+/g, ''), 'base64');
  const meta = JSON.parse(text.match(RE.meta)[2]);
  const ct = Buffer.from(text.match(RE.payload)[2].replace(/\s+/g, ''), 'base64');
  const sig = text.match(RE.sig);
  return { text, header, h: JSON.parse(header.toString()), meta, ct, sig: sig ? sig[2].trim() : null };
}

const lines76 = (buf) => buf.toString('base64').replace(/(.{76})/g, '$1\n').replace(/\n?$/, '\n');

// A copy of env's file with some parts replaced (sig null: the element
// removed), written to a new file.
function writeEnvelope(env, { header, meta, ct, sig } = {}) {
  let t = env.text;
  if (header) t = t.replace(RE.header, (_, a, _b, c) => `${a}\n${lines76(header)}${c}`);
  if (meta) t = t.replace(RE.meta, (_, a, _b, c) => a + JSON.stringify(meta) + c);
  if (ct) t = t.replace(RE.payload, (_, a, _b, c) => `${a}\n${lines76(ct)}${c}`);
  if (sig === null) t = t.replace(RE.sig, '');
  else if (sig !== undefined) t = t.replace(RE.sig, (_, a, _b, c) => a + sig + c);
  const f = path.join(work, `forged-${crypto.randomUUID()}.html`);
  fs.writeFileSync(f, t, 'latin1');
  return f;
}

// docs/envelope-format.md sections 1 and 3
function messageKey(version, serverPart, mailPart, id) {
  return Buffer.from(crypto.hkdfSync('sha256', Buffer.concat([serverPart, mailPart]),
    Buffer.from(`sealpost/v${version}`), Buffer.from(`message key ${id}`), 32));
}

function nonce(np, i, last) {
  const n = Buffer.alloc(12);
  np.copy(n, 0);
  n.writeUInt32BE(i, 7);
  n[11] = last ? 1 : 0;
  return n;
}

function encryptStream(key, np, header, pt) {
  const aad = sha256(header), out = [];
  let i = 0, off = 0;
  for (;;) {
    const last = pt.length - off <= 65536;
    const chunk = pt.subarray(off, last ? pt.length : off + 65536);
    const c = crypto.createCipheriv('aes-256-gcm', key, nonce(np, i, last));
    c.setAAD(aad);
    out.push(c.update(chunk), c.final(), c.getAuthTag());
    if (last) break;
    off += 65536;
    i++;
  }
  return Buffer.concat(out);
}

function decryptStream(key, np, header, ct) {
  const aad = sha256(header), out = [];
  let i = 0, off = 0;
  for (;;) {
    const last = ct.length - off <= 65552;
    const chunk = ct.subarray(off, last ? ct.length : off + 65552);
    const d = crypto.createDecipheriv('aes-256-gcm', key, nonce(np, i, last));
    d.setAAD(aad);
    d.setAuthTag(chunk.subarray(chunk.length - 16));
    out.push(d.update(chunk.subarray(0, chunk.length - 16)), d.final());
    if (last) break;
    off += 65552;
    i++;
  }
  return Buffer.concat(out);
}

// What a recipient who opened the envelope holds: the server part (the key
// server released it to them) and the mail part (in the mail).
async function serverPart(id, email = pat, pw = PW) {
  const r = await releaseAs(id, email, pw);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return Buffer.from(r.body.server_part, 'base64url');
}

// A release to a recipient signed in with the JSON log-in.
async function releaseAs(id, email, pw = PW) {
  const s = await fetch(`${keyd.url}/api/v1/session`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: pw }),
  });
  assert.equal(s.status, 200);
  const { session } = await s.json();
  const r = await fetch(`${keyd.url}/api/v1/envelopes/${id}/release`, {
    method: 'POST', headers: { authorization: `Bearer ${session}`, 'content-type': 'application/json' }, body: '{}',
  });
  return { status: r.status, body: await r.json() };
}

async function releaseAsOrg(id, tok = token) {
  const r = await fetch(`${keyd.url}/api/v1/envelopes/${id}/release`, {
    method: 'POST', headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, body: '{}',
  });
  return { status: r.status, body: await r.json() };
}

async function keyOf(env, version = 2) {
  const sp = await serverPart(env.h.id);
  return messageKey(version, sp, Buffer.from(env.meta.mp, 'base64url'), env.h.id);
}

function openHtml(file, extra = []) {
  return sealpost(['open', '--email', pat, '--password-file', passwordFile(PW), '--keyd', keyd.url, ...extra, file]);
}

function assertForged(o, re = /./) {
  assert.equal(o.status, 3, o.stderr);
  assert.match(o.stderr, /this is not a genuine envelope from Example Clinic: /);
  assert.match(o.stderr, re);
  assert.equal(o.stdout.length, 0, 'nothing of the content is printed');
}


test('a signed envelope (format 2) round-trips byte for byte and carries its signature', async () => {
  const mail = makeMail({ text: 'Signed results: all normal.\n' });
  const s = sealHtml(mail);
  const env = readEnvelope(s.html);
  assert.equal(env.h.v, 2);
  assert.deepEqual(Object.keys(env.h), ['v', 'id', 'keyd', 'org', 'from', 'to', 'created', 'expires',
    'alg', 'np', 'kid', 'level', 'verify']);
  // the kid names the organisation's key: base64url of SHA-256(pub)[0..8]
  const pub = crypto.createPublicKey(fs.readFileSync(orgKey(token))).export({ format: 'der', type: 'spki' }).subarray(-32);
  assert.equal(env.h.kid, b64url(sha256(pub).subarray(0, 8)));
  assert.match(env.sig, /^[A-Za-z0-9_-]{86}$/);
  const msg = Buffer.concat([LABEL, sha256(env.header), sha256(env.ct)]);
  assert.ok(crypto.verify(null, msg, crypto.createPublicKey(fs.readFileSync(orgKey(token))),
    Buffer.from(env.sig, 'base64url')), 'the signature covers header and ciphertext');
  // the key server recorded what the sealer signed
  const rel = await releaseAsOrg(s.id);
  assert.equal(rel.status, 200);
  assert.equal(rel.body.format, 2);
  assert.equal(rel.body.header_sha256, sha256(env.header).toString('hex'));
  assert.equal(rel.body.ct_sha256, sha256(env.ct).toString('hex'));
  assert.equal(rel.body.kid, env.h.kid);
  const o = openRaw(s.out, pat, PW, ['--raw']);
  assert.equal(o.status, 0, o.stderr);
  assert.ok(Buffer.compare(o.stdout, mail) === 0);
  assert.doesNotMatch(o.stderr, /unsigned/);
  const h = openHtml(s.html);
  assert.equal(h.status, 0, h.stderr);
  assert.match(h.stdout.toString(), /Signed results: all normal/);
});

test('a recipient who knows the key re-encrypts other content under the same header: refused', async () => {
  const real = sealHtml(makeMail({ text: 'Your appointment is on Monday.\n' }));
  const env = readEnvelope(real.html);
  const key = await keyOf(env);
  const np = Buffer.from(env.h.np, 'base64url');
  // the co-recipient's content: a real container (another message), so the
  // forgery decrypts cleanly and only the signature check can stop it
  const donor = sealHtml(makeMail({ text: 'URGENT: pay the invoice to account 12345 today.\n' }));
  const denv = readEnvelope(donor.html);
  const container = decryptStream(await keyOf(denv), Buffer.from(denv.h.np, 'base64url'), denv.header, denv.ct);
  const forgedCt = encryptStream(key, np, env.header, container);
  assert.ok(decryptStream(key, np, env.header, forgedCt).equals(container), 'the forgery decrypts');
  const f = writeEnvelope(env, { ct: forgedCt });
  assert.match(fs.readFileSync(f, 'latin1'), RE.sig, 'the original signature element is kept');
  const o = openHtml(f);
  assertForged(o, /content/);
  assert.doesNotMatch(o.stderr, /12345/);
  const raw = openHtml(f, ['--raw']);
  assertForged(raw);
});

test('a cut ciphertext stream is refused', async () => {
  const env = readEnvelope(sealHtml(makeMail({ text: 'cut me short\n' })).html);
  assertForged(openHtml(writeEnvelope(env, { ct: env.ct.subarray(0, env.ct.length - 10) })), /content/);
  // a whole chunk dropped from a longer stream, re-encrypted to stay valid
  const big = readEnvelope(sealHtml(makeMail({ attachments: [{ name: 'a.bin', data: crypto.randomBytes(200000) }] })).html);
  const key = await keyOf(big);
  const np = Buffer.from(big.h.np, 'base64url');
  const pt = decryptStream(key, np, big.header, big.ct);
  const shorter = encryptStream(key, np, big.header, pt.subarray(0, 65536 * 2));
  assertForged(openHtml(writeEnvelope(big, { ct: shorter })), /content/);
});

test('a re-headed envelope (a header nobody signed) is refused', async () => {
  const env = readEnvelope(sealHtml(makeMail({ text: 'header test\n' })).html);
  const key = await keyOf(env);
  const np = Buffer.from(env.h.np, 'base64url');
  const pt = decryptStream(key, np, env.header, env.ct);
  for (const change of [{ from: 'ceo@clinic.example' }, { expires: 0, created: env.h.created - 1 },
    { level: 'low' }, { verify: !env.h.verify }]) {
    const h2 = Buffer.from(JSON.stringify({ ...env.h, ...change }));
    const f = writeEnvelope(env, { header: h2, ct: encryptStream(key, np, h2, pt) });
    assertForged(openHtml(f), /header/);
  }
});

test('another organisation signs a copy claiming to be from Example Clinic: refused', async () => {
  const mine = sealHtml(makeMail({ from: 'boss@other.example', text: 'from the other org\n' }), other);
  const env = readEnvelope(mine.html);
  assert.equal(env.h.org, 'Other Org');
  const key = await keyOf(env);
  const np = Buffer.from(env.h.np, 'base64url');
  const pt = decryptStream(key, np, env.header, env.ct);
  const h2 = Buffer.from(JSON.stringify({ ...env.h, org: 'Example Clinic', from: 'alice@clinic.example' }));
  const ct2 = encryptStream(key, np, h2, pt);
  // signed with the other organisation's own, valid key
  const sig = crypto.sign(null, Buffer.concat([LABEL, sha256(h2), sha256(ct2)]),
    crypto.createPrivateKey(fs.readFileSync(orgKey(other))));
  assertForged(openHtml(writeEnvelope(env, { header: h2, ct: ct2, sig: b64url(sig) })), /header/);
  // and the key server will not record such a header for that envelope
  const r = await fetch(`${keyd.url}/api/v1/envelopes/${env.h.id}/seal`, {
    method: 'POST', headers: { authorization: `Bearer ${other}`, 'content-type': 'application/json' },
    body: JSON.stringify({ header: h2.toString('base64'), ct_sha256: sha256(ct2).toString('hex'), sig: b64url(sig) }),
  });
  assert.ok(r.status === 400 || r.status === 409, `seal of a changed header: ${r.status}`);
  // Example Clinic's token cannot release the other organisation's envelope
  assert.equal((await releaseAsOrg(env.h.id)).status, 403);
});

test('a missing or bad signature is refused', () => {
  const env = readEnvelope(sealHtml(makeMail({ text: 'signature test\n' })).html);
  const none = openHtml(writeEnvelope(env, { sig: null }));
  assert.notEqual(none.status, 0, none.stderr);
  assert.match(none.stderr, /signature/);
  assert.equal(none.stdout.length, 0);
  const raw = Buffer.from(env.sig, 'base64url');
  raw[10] ^= 1;
  assertForged(openHtml(writeEnvelope(env, { sig: b64url(raw) })), /signature does not verify/);
  // a valid signature of another envelope of the same organisation
  const env2 = readEnvelope(sealHtml(makeMail({ text: 'another\n' })).html);
  assertForged(openHtml(writeEnvelope(env, { sig: env2.sig })), /signature does not verify/);
});

test('a format 1 copy of a format 2 envelope (re-headed, unsigned) is refused', async () => {
  const env = readEnvelope(sealHtml(makeMail({ text: 'downgrade test\n' })).html);
  const sp = await serverPart(env.h.id);
  const mp = Buffer.from(env.meta.mp, 'base64url');
  const np = Buffer.from(env.h.np, 'base64url');
  const pt = decryptStream(messageKey(2, sp, mp, env.h.id), np, env.header, env.ct);
  const { kid, level, verify, ...rest } = env.h;
  const h1 = Buffer.from(JSON.stringify({ ...rest, v: 1 }));
  const ct1 = encryptStream(messageKey(1, sp, mp, env.h.id), np, h1, pt);
  const f = writeEnvelope(env, { header: h1, meta: { ...env.meta, v: 1 }, ct: ct1, sig: null });
  assertForged(openHtml(f), /format 1/);
});

test('an envelope naming another key server is refused before anything is sent', async () => {
  const seen = [];
  const rec = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => { seen.push({ url: req.url, body }); res.writeHead(200, { 'content-type': 'application/json' }); res.end('{}'); });
  });
  await new Promise((r) => rec.listen(0, '127.0.0.1', r));
  const evil = `http://127.0.0.1:${rec.address().port}`;
  try {
    const env = readEnvelope(sealHtml(makeMail({ text: 'redirect test\n' })).html);
    const h2 = Buffer.from(JSON.stringify({ ...env.h, keyd: evil }));
    const f = writeEnvelope(env, { header: h2, meta: { ...env.meta, keyd: evil } });
    const o = await sealpostAsync(['open', '--email', pat, '--password-file', passwordFile(PW), '--keyd', keyd.url, f]);
    assert.equal(o.status, 4, o.stderr);
    assert.match(o.stderr, new RegExp(`names the key server ${evil}.*not one you trust`));
    const tf = path.join(work, 'trusted-keyd');
    fs.writeFileSync(tf, `# ours\n${keyd.url}\n`);
    const o2 = await sealpostAsync(['open', '--email', pat, '--password-file', passwordFile(PW), '--trusted-keyd-file', tf, f]);
    assert.equal(o2.status, 4, o2.stderr);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(seen, [], 'the other key server saw nothing (and no password)');
  } finally {
    rec.close();
  }
});

test('open needs a trusted key server: none given is refused; a trusted file matches normalised', () => {
  const s = sealHtml(makeMail({ text: 'trust test\n' }));
  if (!fs.existsSync('/etc/sealpost/trusted-keyd')) {
    const o = sealpost(['open', '--email', pat, '--password-file', passwordFile(PW), s.html]);
    assert.equal(o.status, 4, o.stderr);
    assert.match(o.stderr, /--keyd URL/);
    assert.match(o.stderr, /--trusted-keyd-file/);
  }
  const u = new URL(keyd.url);
  const tf = path.join(work, 'trusted-norm');
  fs.writeFileSync(tf, `# key servers we trust\n\n   https://keys.example.org\nHTTP://127.0.0.1:${u.port}/\n`);
  const o = sealpost(['open', '--email', pat, '--password-file', passwordFile(PW), '--trusted-keyd-file', tf, s.html]);
  assert.equal(o.status, 0, o.stderr);
  assert.match(o.stdout.toString(), /trust test/);
  const bad = path.join(work, 'trusted-bad');
  fs.writeFileSync(bad, 'ftp://nope.example\n');
  const b = sealpost(['open', '--email', pat, '--password-file', passwordFile(PW), '--trusted-keyd-file', bad, s.html]);
  assert.equal(b.status, 2, b.stderr);
  assert.match(b.stderr, /line 1/);
});

// --- sender controls --------------------------------------------------------

function mailWith(headers, text = 'controlled\n') {
  const m = makeMail({ text }).toString('latin1');
  return Buffer.from(m.replace('MIME-Version: 1.0\r\n', `${headers.map((h) => h + '\r\n').join('')}MIME-Version: 1.0\r\n`), 'latin1');
}

test('X-Sealpost-* fields reach the deposit and leave the sealed message', async () => {
  const before = Math.floor(Date.now() / 1000);
  const s = sealHtml(mailWith(['X-Sealpost-Expires: 30d', 'X-Sealpost-Notify: read',
    'X-Sealpost-Verify:  Blue  Heron ', 'X-Sealpost-Verify-Hint: Our favourite bird?', 'X-Sealpost-Level: High'],
  'verify me\n'));
  const env = readEnvelope(s.html);
  assert.equal(env.h.level, 'high');
  assert.equal(env.h.verify, true);
  assert.ok(Math.abs(env.h.expires - (before + 30 * 86400)) < 120, `expires ${env.h.expires}`);
  const rel = await releaseAsOrg(s.id);
  assert.equal(rel.status, 200);
  assert.equal(rel.body.expires, env.h.expires);
  assert.equal(rel.body.level, 'high');
  const row = storeSql(keyd.dataDir, `SELECT notify_read, verify_hint, length(verify_hash) > 20 FROM envelopes WHERE id = '${s.id}'`);
  assert.match(row, /^(1|t)\|Our favourite bird\?\|(1|t)$/);
  const hash = storeSql(keyd.dataDir, `SELECT verify_hash FROM envelopes WHERE id = '${s.id}'`);
  assert.match(hash, /^\$argon2id\$/);
  assert.doesNotMatch(hash, /heron/i);
  // the secret never travels in the mail, sealed or not
  assert.doesNotMatch(fs.readFileSync(s.out, 'latin1'), /Heron|X-Sealpost-Verify/i);

  // without an answer: refused, naming the question
  const o = openHtml(s.html);
  assert.equal(o.status, 7, o.stderr);
  assert.match(o.stderr, /verification answer/);
  assert.match(o.stderr, /Our favourite bird\?/);
  assert.equal(o.stdout.length, 0);
  const wrong = openHtml(s.html, ['--verify-answer', 'sparrow']);
  assert.equal(wrong.status, 7, wrong.stderr);
  assert.match(wrong.stderr, /not the answer the sender gave \(\d tries left\)/);
  // normalised: case and inner white space do not matter
  const right = openHtml(s.html, ['--verify-answer', 'blue heron', '--raw']);
  assert.equal(right.status, 0, right.stderr);
  const text = right.stdout.toString();
  assert.match(text, /verify me/);
  assert.doesNotMatch(text, /X-Sealpost-/, 'the control fields are not part of the sealed message');
  assert.ok(Buffer.compare(right.stdout, makeMail({ text: 'verify me\n' })) === 0,
    'the sealed message is the original without its control fields');
});

test('X-Sealpost-Expires takes a day (its end, UTC) or an RFC 5322 date', async () => {
  const y = new Date().getUTCFullYear() + 1;
  const day = sealHtml(mailWith([`X-Sealpost-Expires: ${y}-01-31`]));
  assert.equal(readEnvelope(day.html).h.expires, Date.UTC(y, 0, 31, 23, 59, 59) / 1000);
  assert.equal((await releaseAsOrg(day.id)).body.expires, Date.UTC(y, 0, 31, 23, 59, 59) / 1000);
  const rfc = sealHtml(mailWith([`X-Sealpost-Expires: Tue, 1 Jun ${y} 12:00:00 +0200`]));
  assert.equal(readEnvelope(rfc.html).h.expires, Date.UTC(y, 5, 1, 10, 0, 0) / 1000);
  const notify = sealHtml(mailWith(['X-Sealpost-Notify: none']));
  assert.match(storeSql(keyd.dataDir, `SELECT notify_read FROM envelopes WHERE id = '${notify.id}'`), /^(0|f)$/);
});

test('malformed X-Sealpost-* fields are refused naming field and value, writing nothing', () => {
  for (const [h, re] of [
    ['X-Sealpost-Expires: tomorrow', /X-Sealpost-Expires: tomorrow/],
    ['X-Sealpost-Expires: 2001-01-01', /X-Sealpost-Expires: 2001-01-01: that is in the past/],
    ['X-Sealpost-Expires: 2027-02-30', /X-Sealpost-Expires: 2027-02-30: no such date/],
    ['X-Sealpost-Expires: 0d', /X-Sealpost-Expires: 0d/],
    ['X-Sealpost-Expires: 99999d', /X-Sealpost-Expires: 99999d/],
    ['X-Sealpost-Notify: always', /X-Sealpost-Notify: always/],
    ['X-Sealpost-Level: extreme', /X-Sealpost-Level: extreme/],
    ['X-Sealpost-Verify-Hint: a question alone', /X-Sealpost-Verify-Hint without X-Sealpost-Verify/],
    ['X-Sealpost-Verify:    ', /X-Sealpost-Verify: the value is empty/],
  ]) {
    const s = seal(mailWith([h]));
    assert.equal(s.status, 1, `${h}: ${s.stderr}`);
    assert.match(s.stderr, re, h);
    assert.ok(!fs.existsSync(s.out), `${h}: no output`);
  }
  const twice = seal(mailWith(['X-Sealpost-Level: high', 'X-Sealpost-Level: low']));
  assert.equal(twice.status, 1);
  assert.match(twice.stderr, /X-Sealpost-Level appears more than once/);
});

test('withdrawn and expired envelopes are refused with the reason', async () => {
  const s = sealHtml(makeMail({ text: 'to be withdrawn\n' }));
  const r = await fetch(`${keyd.url}/api/v1/envelopes/${s.id}/retract`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}',
  });
  assert.equal(r.status, 200, await r.text());
  const o = openHtml(s.html);
  assert.equal(o.status, 5, o.stderr);
  assert.match(o.stderr, /withdrawn by the sender/);
  assert.equal(o.stdout.length, 0);
  const e = sealHtml(makeMail({ text: 'to expire\n' }));
  storeSql(keyd.dataDir, `UPDATE envelopes SET expires = 1000 WHERE id = '${e.id}'`);
  const x = openHtml(e.html);
  assert.equal(x.status, 6, x.stderr);
  assert.match(x.stderr, /expired/);
});

test('an organisation with a signing key cannot seal format 1; a wrong key is refused at the seal call', () => {
  const u = seal(makeMail(), ['--unsigned-test']);
  assert.equal(u.status, 1, u.stderr);
  assert.match(u.stderr, /signs its envelopes/);
  assert.ok(!fs.existsSync(u.out));
  const w = seal(makeMail(), ['--sign-key', orgKey(other)]);
  assert.equal(w.status, 1, w.stderr);
  assert.match(w.stderr, /seal: key server answered 400/);
  assert.ok(!fs.existsSync(w.out));
});

test('the key server failing at the second call: temporary failure, nothing written', async () => {
  const calls = [];
  const proxy = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    calls.push(req.url);
    if (req.url.endsWith('/seal')) {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end('{"error":"down for maintenance"}');
      return;
    }
    const r = await fetch(keyd.url + req.url, {
      method: req.method, body: chunks.length ? Buffer.concat(chunks) : undefined,
      headers: { authorization: req.headers.authorization || '', 'content-type': 'application/json' },
    });
    res.writeHead(r.status, { 'content-type': 'application/json' });
    res.end(Buffer.from(await r.arrayBuffer()));
  });
  await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
  try {
    const inp = path.join(work, 'second-call.eml');
    fs.writeFileSync(inp, makeMail());
    const out = inp + '.out';
    const r = await sealpostAsync(['seal', '--keyd', `http://127.0.0.1:${proxy.address().port}`, '--token', token,
      '-i', inp, '-o', out]);
    assert.equal(r.status, 75, r.stderr);
    assert.match(r.stderr, /503/);
    assert.ok(!fs.existsSync(out), 'nothing written');
    assert.deepEqual(calls.map((c) => c.replace(/[A-Za-z0-9_-]{22}/, 'ID')),
      ['/api/v1/envelopes', '/api/v1/envelopes/ID/seal']);
  } finally {
    proxy.close();
  }
});

test('format 1 (an organisation without a signing key) still opens, marked unsigned, after the record checks', async () => {
  const legacyToken = orgAdd(keyd.dataDir, 'Legacy Clinic', 'legacy.example');
  storeSql(keyd.dataDir, "DELETE FROM org_keys WHERE org_id = (SELECT id FROM orgs WHERE name = 'Legacy Clinic')");
  const mail = makeMail({ from: 'doc@legacy.example', text: 'old style\n' });
  const inp = path.join(work, 'legacy.eml');
  fs.writeFileSync(inp, mail);
  const html = path.join(work, 'legacy.html');
  const r = sealpost(['seal', '--keyd', keyd.url, '--token', legacyToken, '--unsigned-test', '-i', inp,
    '-o', inp + '.out', '--html', html]);
  assert.equal(r.status, 0, r.stderr);
  const env = readEnvelope(html);
  assert.equal(env.h.v, 1);
  assert.equal(env.sig, null);
  const o = openHtml(html, ['--raw']);
  assert.equal(o.status, 0, o.stderr);
  assert.match(o.stderr, /unsigned envelope \(older format\)/);
  assert.ok(Buffer.compare(o.stdout, mail) === 0);

  // a recipient re-writes the unsigned header in another organisation's
  // name (it decrypts: the key is theirs to compute); the record says who
  const sp = await serverPart(env.h.id);
  const mp = Buffer.from(env.meta.mp, 'base64url');
  const np = Buffer.from(env.h.np, 'base64url');
  const k1 = messageKey(1, sp, mp, env.h.id);
  const pt = decryptStream(k1, np, env.header, env.ct);
  for (const [change, re] of [[{ org: 'Example Clinic' }, /another organisation/],
    [{ from: 'ceo@legacy.example' }, /another sender/],
    [{ to: [...env.h.to, 'eve@example.net'] }, /other recipients/]]) {
    const h2 = Buffer.from(JSON.stringify({ ...env.h, ...change }));
    const f = writeEnvelope(env, { header: h2, ct: encryptStream(k1, np, h2, pt),
      meta: change.to ? { ...env.meta, to: change.to } : undefined });
    const x = openHtml(f);
    assert.equal(x.status, 3, x.stderr);
    assert.match(x.stderr, /this is not a genuine envelope from /);
    assert.match(x.stderr, re);
    assert.equal(x.stdout.length, 0);
  }
});

// Blind copies: one envelope goes to every SMTP recipient, so it names only
// those the message's To: and Cc: name; the key server keeps the others
// hidden (docs/envelope-format.md section 5, docs/api.md).

test('a blind copy (Bcc) opens, and nothing another recipient holds or is told names it', async () => {
  const kim = 'kim@example.net', lee = 'lee@example.com';
  recipientAdd(keyd.dataDir, kim, PW);
  recipientAdd(keyd.dataDir, lee, PW);
  const mail = mailWith([`Bcc: ${kim},`, ` ${lee}`], 'copied quietly\n');
  const s = sealHtml(mail, token, ['--rcpt', pat, '--rcpt', kim.toUpperCase(), '--rcpt', lee]);
  const env = readEnvelope(s.html);
  assert.deepEqual(env.h.to, [pat], 'the envelope names only To: and Cc:');
  assert.deepEqual(env.meta.to, [pat]);
  for (const f of [s.out, s.html]) {
    assert.doesNotMatch(fs.readFileSync(f, 'latin1'), /kim@|lee@/i, `${f} names no blind copy`);
  }
  assert.equal(storeSql(keyd.dataDir, `SELECT email, hidden FROM envelope_rcpt WHERE envelope_id = '${s.id}' ORDER BY pos`),
    `${pat}|0\n${kim}|1\n${lee}|1`);
  // every reader is told the named recipients only; a blind copy learns it is one
  const asPat = await releaseAs(s.id, pat);
  assert.equal(asPat.status, 200);
  assert.deepEqual(asPat.body.recipients, [pat]);
  assert.equal(asPat.body.bcc, false);
  for (const who of [kim, lee]) {
    const r = await releaseAs(s.id, who);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.recipients, [pat], `${who} is told of no other blind copy`);
    assert.equal(r.body.bcc, true);
  }
  const org = await releaseAsOrg(s.id);
  assert.deepEqual(org.body.recipients, [pat]);
  // both open it; the sealed message is the original without its Bcc: field
  const want = mailWith([], 'copied quietly\n');
  for (const who of [pat, kim]) {
    const o = openRaw(s.out, who, PW, ['--raw']);
    assert.equal(o.status, 0, o.stderr);
    assert.ok(Buffer.compare(o.stdout, want) === 0, `${who} reads the message without Bcc:`);
    // a blind copy is told it is one
    assert.equal(/you received this as a blind copy \(Bcc\)/.test(o.stderr.toString()), who === kim);
  }
  // the sender's own list says who was a blind copy
  const list = await fetch(`${keyd.url}/api/v1/envelopes`, { headers: { authorization: `Bearer ${token}` } });
  const mine = (await list.json()).envelopes.find((e) => e.id === s.id);
  assert.deepEqual(mine.recipients.map((r) => [r.address, r.bcc]), [[pat, false], [kim, true], [lee, true]]);
});

test('every recipient a blind copy (To: undisclosed-recipients:;): the envelope names nobody, each opens', async () => {
  const kim = 'kim@example.net';
  const mail = makeMail({ to: 'undisclosed-recipients:;', text: 'to the list\n' });
  const s = sealHtml(mail, token, ['--rcpt', pat, '--rcpt', kim]);
  const env = readEnvelope(s.html);
  assert.deepEqual(env.h.to, []);
  assert.deepEqual(env.meta.to, []);
  assert.match(env.text, /<dd>Undisclosed recipients<\/dd>/);
  assert.match(env.text, new RegExp(`<li><a href="${keyd.url}/register\\?id=${s.id}" target="_blank">Your email address</a></li>`));
  assert.doesNotMatch(env.text, /kim@|pat@/);
  for (const who of [pat, kim]) {
    const o = openRaw(s.out, who, PW, ['--raw']);
    assert.equal(o.status, 0, o.stderr);
    assert.ok(Buffer.compare(o.stdout, mail) === 0);
    const r = await releaseAs(s.id, who);
    assert.deepEqual(r.body.recipients, []);
    assert.equal(r.body.bcc, true);
  }
});

test('a deposit\'s "bcc" must name its own recipients', async () => {
  const dep = (body) => fetch(`${keyd.url}/api/v1/envelopes`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ from: 'alice@clinic.example', recipients: [pat], format: 2, ...body }),
  });
  for (const [bcc, re] of [[['kim@example.net'], /one of "recipients"/], [['not an address'], /email addresses/],
    ['pat@example.org', /some of the recipients/], [[pat, pat], /some of the recipients/]]) {
    const r = await dep({ bcc });
    assert.equal(r.status, 400);
    const b = await r.json();
    assert.equal(b.field, 'bcc');
    assert.match(b.error, re);
  }
  const ok = await dep({ bcc: [pat.toUpperCase()] });
  assert.equal(ok.status, 201);
  const { id } = await ok.json();
  assert.equal(storeSql(keyd.dataDir, `SELECT hidden FROM envelope_rcpt WHERE envelope_id = '${id}'`), '1');
  assert.match(storeSql(keyd.dataDir, `SELECT detail FROM audit WHERE envelope_id = '${id}' AND event = 'deposit'`), /bcc=1/);
});
