// realmail.test.mjs - real mail as it comes: `sealpost seal` takes the
// messages of tests/corpus/realmail/ (a leading mbox "From " line, a UTF-8
// byte-order mark, single-label domains, bounces without a From: address,
// undisclosed-recipients with the recipients only in the envelope) and
// `sealpost open --raw` gives every one back byte for byte, the preamble
// included.  Refusals name the field and the value that failed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, startKeyd, orgAdd, recipientAdd, passwordFile, sealpost, tmpDir } from '../lib/harness.mjs';

const CORPUS = path.join(ROOT, 'tests/corpus/realmail');
const PW = 'correct horse battery staple';
let keyd, token, work;

before(async () => {
  keyd = await startKeyd();
  token = orgAdd(keyd.dataDir, 'Example Clinic', 'clinic.example');
  for (const a of ['pat@example.org', 'greg@inbucket', 'guest@localhost']) recipientAdd(keyd.dataDir, a, PW);
  work = tmpDir('sealpost-realmail-');
});
after(async () => { await keyd?.stop(); });

function corpus(name) {
  return fs.readFileSync(path.join(CORPUS, name));
}

function seal(mail, extra = [], tok = token) {
  const inp = path.join(work, `in-${crypto.randomUUID()}.eml`);
  const out = inp.replace('in-', 'out-');
  const html = inp.replace('in-', 'env-').replace(/\.eml$/, '.html');
  fs.writeFileSync(inp, mail);
  const r = sealpost(['seal', '--keyd', keyd.url, '--token', tok, '-i', inp, '-o', out, '--html', html, ...extra]);
  return { ...r, out, html, stderr: r.stderr.toString() };
}

// The envelope header (JSON) of a securedoc.html.
function envHeader(file) {
  const text = fs.readFileSync(file, 'latin1');
  const m = text.match(/<textarea id="sp-header"[^>]*>([^<]*)<\/textarea>/);
  return JSON.parse(Buffer.from(m[1].replace(/\s+/g, ''), 'base64').toString());
}

function openRaw(file, email = 'pat@example.org') {
  return sealpost(['open', '--email', email, '--password-file', passwordFile(PW),
    '--keyd', keyd.url, '--raw', file]);
}

// Seal, check the envelope's sender and recipients, open as reader and
// compare byte for byte.
function roundTrip(mail, { extra = [], reader = 'pat@example.org', from, to } = {}) {
  const s = seal(mail, extra);
  assert.equal(s.status, 0, s.stderr);
  const sealed = fs.readFileSync(s.out, 'latin1');
  assert.match(sealed, /X-Sealpost-Envelope: [A-Za-z0-9_-]{22}/);
  const h = envHeader(s.html);
  if (from) assert.equal(h.from, from);
  for (const a of to || []) assert.ok(h.to.includes(a), `envelope recipient ${a} in ${h.to}`);
  const o = openRaw(s.out, reader);
  assert.equal(o.status, 0, o.stderr.toString());
  assert.ok(Buffer.compare(o.stdout, mail) === 0, 'open --raw must give back the original bytes');
  return { sealed, out: s.out, html: s.html, h };
}

test('a leading mbox "From " line is kept: open gives it back byte for byte', () => {
  const mail = corpus('01-mbox-from-line.eml');
  assert.ok(mail.subarray(0, 5).toString() === 'From ');
  const { sealed } = roundTrip(mail);
  // the notification carries the original headers, not the mbox line
  assert.match(sealed, /^From: Alice Example <alice@clinic\.example>$/m);
  assert.match(sealed, /^Subject: Your appointment on Thursday$/m);
  assert.ok(!/^From alice@clinic\.example Tue/m.test(sealed), 'no mbox line in the notification');
});

test('a UTF-8 byte-order mark before the first header is kept byte for byte', () => {
  const mail = corpus('02-bom-crlf.eml');
  assert.deepEqual([...mail.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
  const { sealed } = roundTrip(mail);
  assert.match(sealed, /^From: "Alice Example" <alice@clinic\.example>\r$/m);
  assert.ok(!sealed.startsWith('\xef\xbb\xbf'), 'the notification starts with its headers');
});

test('a BOM and an mbox line together, with sender controls, seal and open', () => {
  const mail = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]),
    Buffer.from('From alice@clinic.example Tue Dec  1 09:12:44 2026\nX-Sealpost-Notify: read\n'),
    corpus('03-dotless-recipients.eml')]);
  const s = seal(mail);
  assert.equal(s.status, 0, s.stderr);
  const o = openRaw(s.out);
  assert.equal(o.status, 0, o.stderr.toString());
  // the control field is removed from the sealed copy, the rest is kept
  const want = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]),
    Buffer.from('From alice@clinic.example Tue Dec  1 09:12:44 2026\n'), corpus('03-dotless-recipients.eml')]);
  assert.ok(Buffer.compare(o.stdout, want) === 0, 'open --raw gives the message without its control field');
});

test('recipients in single-label domains are sealed and can open', () => {
  const mail = corpus('03-dotless-recipients.eml');
  roundTrip(mail, { reader: 'greg@inbucket', to: ['greg@inbucket', 'guest@localhost', 'ops@fileserver'] });
  roundTrip(mail, { reader: 'guest@localhost' });
  roundTrip(mail, { reader: 'pat@example.org' });
});

test('envelope recipients in single-label domains (--rcpt) are accepted', () => {
  roundTrip(corpus('01-mbox-from-line.eml'), { extra: ['--rcpt', 'greg@inbucket', '--rcpt', 'pat@example.org'],
    reader: 'greg@inbucket' });
});

test('a sender in a single-label domain passes the sealer; only the key server\'s domain rule decides', () => {
  // organisations own full domain names (`org add` refuses "inbucket"), so
  // the deposit of greg@inbucket is refused by the key server's rule that the
  // sender be in one of the organisation's domains, not as a malformed address
  const s = seal(corpus('04-dotless-sender.eml'));
  assert.equal(s.status, 1);
  assert.match(s.stderr, /"from" is not an address in one of this organisation's domains/);
  assert.doesNotMatch(s.stderr, /not an email address/);
  // the same sender as the envelope sender of a bounce: same rule
  const b = seal(corpus('05-bounce-no-from.eml'), ['--from', 'greg@inbucket']);
  assert.equal(b.status, 1);
  assert.match(b.stderr, /"from" is not an address in one of this organisation's domains/);
});

test('a bounce without From: is sealed with the envelope sender (--from)', () => {
  const mail = corpus('05-bounce-no-from.eml');
  const { sealed } = roundTrip(mail, { extra: ['--from', 'postmaster@clinic.example'],
    from: 'postmaster@clinic.example' });
  // the notification mail gets a From: with that sender, once
  assert.equal(sealed.match(/^From: /gm).length, 1);
  assert.match(sealed, /^From: postmaster@clinic\.example$/m);
});

test('a bounce without From: and without an envelope sender is refused, saying so', () => {
  const s = seal(corpus('05-bounce-no-from.eml'));
  assert.equal(s.status, 1);
  assert.match(s.stderr, /no From: and no envelope sender was given \(seal --from ADDR\)/);
  assert.ok(!fs.existsSync(s.out));
});

test('From: with a bare name (MAILER-DAEMON) falls back to the envelope sender', () => {
  const mail = corpus('07-bounce-mailer-daemon.eml');
  roundTrip(mail, { extra: ['--from', 'MAILER-DAEMON@clinic.example'] });
  const s = seal(mail);
  assert.equal(s.status, 1);
  assert.match(s.stderr, /From: 'MAILER-DAEMON' holds no email address/);
});

test('From: wins over the envelope sender when it has an address', () => {
  const s = seal(corpus('01-mbox-from-line.eml'), ['--from', 'other@elsewhere.example']);
  assert.equal(s.status, 0, s.stderr);
  assert.equal(envHeader(s.html).from, 'alice@clinic.example');
  const sealed = fs.readFileSync(s.out, 'latin1');
  assert.equal(sealed.match(/^From: /gm).length, 1);
});

test('To: undisclosed-recipients:; with the recipients in the envelope is sealed', () => {
  const mail = corpus('06-undisclosed.eml');
  roundTrip(mail, { extra: ['--rcpt', 'pat@example.org', '--rcpt', 'guest@localhost'], reader: 'guest@localhost' });
  const s = seal(mail);
  assert.equal(s.status, 1);
  assert.match(s.stderr, /To: 'undisclosed-recipients:;' names no recipient address: give the recipients in the envelope \(seal --rcpt ADDR\)/);
});

test('a To: of more addresses than an envelope takes is sealed when the envelope\'s recipients are given', () => {
  const list = Array.from({ length: 501 }, (_, i) => `member${i}@example.org`).join(', ');
  const mail = Buffer.from(`From: alice@clinic.example\nTo: ${list}\nSubject: newsletter\n` +
    'Date: Tue, 1 Dec 2026 10:00:00 +0000\n\nbody\n');
  // neither is in To:: blind copies, the envelope names nobody
  const { h } = roundTrip(mail, { extra: ['--rcpt', 'pat@example.org', '--rcpt', 'guest@localhost'],
    reader: 'pat@example.org' });
  assert.deepEqual(h.to, []);
  // without them the header's recipients are the envelope's: too many
  const s = seal(mail);
  assert.equal(s.status, 1);
  assert.match(s.stderr, /more than 500 recipients in To: and Cc:/);
});

test('every refusal names the field and the value that failed', () => {
  const base = (hdrs) => Buffer.from(`${hdrs}\nSubject: s\nDate: Tue, 1 Dec 2026 10:00:00 +0000\n\nbody\n`);
  for (const [what, mail, extra, re] of [
    ['To with two @', base('From: alice@clinic.example\nTo: x@@y'), [], /To: 'x@@y' is not an email address/],
    ['Cc only, not an address', base('From: alice@clinic.example\nCc: nobody'), [], /Cc: 'nobody' is not an email address/],
    ['Cc with a bad domain', base('From: alice@clinic.example\nTo: pat@example.org\nCc: Bob <bob@exa_mple.org>'), [],
      /Cc: 'bob@exa_mple\.org' is not an email address: the part after @ is not a domain name/],
    ['From with a bad domain', base('From: Alice <alice@-clinic.example>\nTo: pat@example.org'), [],
      /From: 'alice@-clinic\.example' is not an email address: the part after @ is not a domain name/],
    ['envelope recipient', base('From: alice@clinic.example\nTo: pat@example.org'), ['--rcpt', 'pat@@example.org'],
      /envelope recipient 'pat@@example\.org' is not an email address: the address has more than one @/],
    ['envelope sender', base('To: pat@example.org'), ['--from', 'nobody'],
      /envelope sender 'nobody' is not an email address: the address has no @/],
    ['no recipients at all', base('From: alice@clinic.example'), [], /the message has no recipients \(no To: or Cc:\)/],
  ]) {
    const s = seal(mail, extra);
    assert.equal(s.status, 1, `${what}: ${s.stderr}`);
    assert.match(s.stderr, re, `${what}: ${s.stderr}`);
    assert.ok(!fs.existsSync(s.out), `${what}: no output`);
  }
});

test('an mbox "From " line with nothing after it is not a message', () => {
  const s = seal(Buffer.from('From alice@clinic.example Tue Dec  1 09:12:44 2026\n'));
  assert.equal(s.status, 1);
  assert.match(s.stderr, /empty message/);
});
