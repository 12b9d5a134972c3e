// seal_open.test.mjs - the real programs end to end: sealpost-keyd on
// loopback, `sealpost seal` and `sealpost open`, registration through the
// HTTP forms and activation from the outbox.  Asserts losslessness (--raw is
// the input byte for byte), size, and the refusals of bad input.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startKeyd, orgAdd, recipientAdd, passwordFile, sealpost, tmpDir, makeMail,
  activationLink, SANITIZED } from '../lib/harness.mjs';

let keyd, token, work;
const PW = 'correct horse battery staple';
const pat = 'pat@example.org';

before(async () => {
  keyd = await startKeyd();
  token = orgAdd(keyd.dataDir, 'Example Clinic', 'clinic.example');
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
  return sealpost(['open', '--email', email, '--password-file', passwordFile(pw), ...extra, file]);
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
  assert.equal(t.status, 1);
  assert.match(t.stderr, /not genuine|damaged/);
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
