// postfix.test.mjs - sealpost-milter behind a real Postfix (Debian's), with
// its own config_directory on loopback ports, delivering to smtp-sink.
// Asserts: [secure] mail and mail with an SSN or a card number in an
// attachment arrive sealed and open to the original bytes; ordinary mail
// arrives byte for byte; with the key server down a secure mail is deferred
// in the queue and, once the key server is back and the queue flushed,
// arrives sealed (never in the clear); with sign_key every envelope is
// format 2, signed with the organisation's key, and opens as such; an
// envelope to an internal address it names arrives unsealed with the marker
// header, and one with an extra internal SMTP recipient it does not name is
// delivered sealed, no key released; the sender's control fields (a
// verification secret among them) never leave; a secure reply the key
// server sealed for an internal address arrives unsealed; bad input is sealed or
// passed with a logged reason and never crashes or hangs the milter.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startKeyd, orgAdd, orgKey, recipientAdd, passwordFile, sealpost, run, tmpDir, makeMail, SANITIZED }
  from './../lib/harness.mjs';
import { startPostfix, startMilter, smtpSend, stripTrace, toLF, waitMilterLog }
  from './postfix/pfx.mjs';

const PW = 'correct horse battery staple';
const pat = 'pat@example.org';
const alice = 'alice@clinic.example';
const bob = 'bob@clinic.example';
let keyd, token, signKey, milter, pfx, work;

before(async () => {
  work = tmpDir('sealpost-pfxtest-');
  keyd = await startKeyd();
  token = orgAdd(keyd.dataDir, 'Example Clinic', 'clinic.example');
  signKey = orgKey(token);
  recipientAdd(keyd.dataDir, pat, PW);
  milter = await startMilter([
    `keyd_url = ${keyd.url}`,
    `keyd_token = ${token}`,
    `sign_key = ${signKey}`,
    'internal_domains = clinic.example',
    'timeout_ms = 5000',
  ], { dir: work });
  pfx = await startPostfix({ milterPort: milter.port,
    extraMain: [`non_smtpd_milters = inet:127.0.0.1:${milter.port}`] });
});

after(async () => {
  await pfx?.stop();
  await milter?.stop();
  await keyd?.stop();
});

const uid = () => crypto.randomUUID().slice(0, 8);

// Send mail through Postfix and return what smtp-sink received for it.
async function deliver(mail, { from = alice, to = [pat] } = {}) {
  const before = pfx.sentCount();
  const r = await smtpSend(pfx.port, from, to, mail);
  assert.equal(r.code, 250, `Postfix did not accept the message: ${r.text}`);
  await pfx.waitDelivered(before + 1, SANITIZED ? 300000 : 60000);
  const id = mail.toString('latin1').match(/^Message-ID: (<[^>]+>)/mi)[1];
  const got = pfx.delivered().filter((d) => d.raw.toString('latin1').includes(id));
  assert.equal(got.length, 1, `exactly one delivered copy of ${id}`);
  return got[0].raw;
}

function openRaw(raw) {
  const f = path.join(work, `got-${uid()}.eml`);
  fs.writeFileSync(f, raw);
  const o = sealpost(['open', '--keyd', keyd.url, '--email', pat, '--password-file', passwordFile(PW), '--raw', f]);
  assert.equal(o.status, 0, `sealpost open failed: ${o.stderr}`);
  // checked against the key server's record as a signed envelope
  assert.doesNotMatch(o.stderr, /unsigned envelope/, 'opened as a signed (format 2) envelope');
  return o.stdout;
}

// The kid of a PEM signing key: base64url of the first 8 bytes of SHA-256
// of the raw 32-byte Ed25519 public key.
function kidOf(pemFile) {
  const pub = crypto.createPublicKey(crypto.createPrivateKey(fs.readFileSync(pemFile)))
    .export({ format: 'der', type: 'spki' }).subarray(-32);
  return crypto.createHash('sha256').update(pub).digest().subarray(0, 8).toString('base64url');
}

// The envelope in a delivered notification: its header (parsed JSON of the
// exact header bytes) and its signature text ('' when there is none).
function envelopeOf(raw) {
  const s = toLF(raw).toString('latin1');
  const h = s.match(/<textarea id="sp-header" name="h" hidden>\n([A-Za-z0-9+/=\n]+)<\/textarea>/);
  assert.ok(h, 'the notification carries securedoc.html with its header');
  const sig = s.match(/<textarea id="sp-sig" name="s" hidden>([^<]*)<\/textarea>/);
  return { header: JSON.parse(Buffer.from(h[1].replace(/\n/g, ''), 'base64').toString('utf8')),
    sig: sig ? sig[1].trim() : '' };
}

function assertSigned(raw) {
  const { header, sig } = envelopeOf(raw);
  assert.equal(header.v, 2, 'format 2 envelope');
  assert.equal(header.kid, kidOf(signKey), 'signed with the organisation key the milter was given');
  assert.match(sig, /^[A-Za-z0-9_-]{86}$/, 'a 64-byte signature in the envelope');
  return header;
}

const envId = (raw) => raw.toString('latin1').match(/^X-Sealpost-Envelope: (\S+)$/m)[1];

function assertSealed(raw, secret) {
  const s = raw.toString('latin1');
  assert.match(s, /^X-Sealpost-Envelope: [A-Za-z0-9_-]{22}$/m, 'notification carries the envelope header');
  assert.match(s, /filename="securedoc\.html"/, 'securedoc.html is attached');
  assert.ok(!s.includes(secret), 'the secret must not travel in the clear');
}

test('a [secure] message arrives sealed and opens to the original bytes', async () => {
  const secret = `lab value ${uid()}`;
  const mail = makeMail({ subject: '[secure] Your results', text: `Hello Pat,\n${secret}\n`,
    messageId: `<sec-${uid()}@clinic.example>` });
  const raw = await deliver(mail);
  assertSealed(raw, secret);
  assert.match(raw.toString('latin1'), /^Subject: Your results$/m, 'keyword removed from the subject');
  const header = assertSigned(raw);
  assert.deepEqual(header.to, [pat]);
  const opened = openRaw(raw);
  // the sealed message is the mail as Postfix held it: its own Received
  // fields first, then the original bytes exactly
  assert.ok(Buffer.compare(stripTrace(opened), mail) === 0, 'opened message equals the original bytes');
  const line = await waitMilterLog(milter, new RegExp(`decision=seal rule=subject-keyword envelope=${envId(raw)} time_ms=\\d+`));
  assert.match(line, /^\S+ sealpost-milter message qid=[0-9A-F]+ decision=seal/);
});

test('a blind copy (an SMTP recipient To: and Cc: do not name) opens, and the envelope does not name it', async () => {
  const kim = 'kim@example.org';
  recipientAdd(keyd.dataDir, kim, PW);
  const secret = `quiet ${uid()}`;
  const plain = makeMail({ subject: '[secure] Plan', text: `${secret}\n`, messageId: `<bcc-${uid()}@clinic.example>` });
  const mail = Buffer.from(plain.toString('latin1').replace('MIME-Version: 1.0\r\n',
    `Bcc: ${kim}\r\nMIME-Version: 1.0\r\n`), 'latin1');
  const raw = await deliver(mail, { to: [pat, kim] });
  assertSealed(raw, secret);
  assert.deepEqual(assertSigned(raw).to, [pat]);
  assert.doesNotMatch(raw.toString('latin1'), /kim@/i, 'the delivered mail names no blind copy');
  const f = path.join(work, `got-${uid()}.eml`);
  fs.writeFileSync(f, raw);
  const o = sealpost(['open', '--keyd', keyd.url, '--email', kim, '--password-file', passwordFile(PW), '--raw', f]);
  assert.equal(o.status, 0, o.stderr.toString());
  assert.ok(Buffer.compare(stripTrace(o.stdout), plain) === 0, 'the blind copy reads the original without Bcc:');
  assert.ok(Buffer.compare(stripTrace(openRaw(raw)), plain) === 0);
});

test('a message with an SSN in an attachment arrives sealed', async () => {
  const csv = Buffer.from('name,ssn,result\r\nPat Doe,536-22-8741,normal\r\n');
  const mail = makeMail({ subject: 'Results', text: 'See attached.\n',
    attachments: [{ name: 'lab.csv', type: 'text/csv', data: csv }],
    messageId: `<ssn-${uid()}@clinic.example>` });
  const raw = await deliver(mail);
  assertSealed(raw, csv.toString('base64').slice(0, 40));
  assert.ok(Buffer.compare(stripTrace(openRaw(raw)), mail) === 0);
  await waitMilterLog(milter, new RegExp(`decision=seal rule=ssn envelope=${envId(raw)} `));
});

function luhnCard(prefix) {
  const d = (prefix + crypto.randomInt(1e11).toString().padStart(11, '0')).slice(0, 15).split('').map(Number);
  let sum = 0;
  for (let i = 0; i < 15; i++) {
    let v = d[14 - i];
    if (i % 2 === 0) { v *= 2; if (v > 9) v -= 9; }
    sum += v;
  }
  return d.join('') + ((10 - (sum % 10)) % 10);
}

test('a message with a card number in an attachment arrives sealed', async () => {
  const card = luhnCard('4556');
  const txt = Buffer.from(`Billing note\ncard ${card.replace(/(\d{4})/g, '$1 ').trim()} exp 12/29\n`);
  const mail = makeMail({ subject: 'Billing', text: 'Attached.\n',
    attachments: [{ name: 'billing.txt', type: 'text/plain', data: txt }],
    messageId: `<card-${uid()}@clinic.example>` });
  const raw = await deliver(mail);
  assertSealed(raw, txt.toString('base64').slice(0, 40));
  await waitMilterLog(milter, new RegExp(`decision=seal rule=card envelope=${envId(raw)} `));
});

test('medical content is sealed with the tag in the notice subject', async () => {
  const mail = makeMail({ subject: 'Follow-up', messageId: `<med-${uid()}@clinic.example>`,
    text: 'Patient diagnosis: diabetes mellitus, hypertension, chemotherapy schedule, ' +
      'oncology referral, biopsy results, insulin dosage.\n' });
  const raw = await deliver(mail);
  assertSealed(raw, 'chemotherapy schedule');
  assert.match(raw.toString('latin1'), /^Subject: \[secure\] Follow-up$/m);
  assert.ok(Buffer.compare(stripTrace(openRaw(raw)), mail) === 0);
  await waitMilterLog(milter, new RegExp(`decision=seal rule=medical envelope=${envId(raw)} `));
});

test('an ordinary message arrives untouched, byte for byte', async () => {
  const mail = makeMail({ subject: 'Lunch on Friday?', text: 'Shall we meet at noon?\n',
    messageId: `<plain-${uid()}@clinic.example>` });
  const from = milter.log.length;
  const raw = await deliver(mail);
  // smtp-sink writes lines with LF; Postfix adds only its Received fields
  assert.ok(Buffer.compare(stripTrace(raw), toLF(mail)) === 0, 'delivered bytes equal the original');
  await waitMilterLog(milter, /decision=pass rule=- envelope=- .*reason="no rule fired"/, { from });
});

test('key server down: the secure message is deferred, then arrives sealed after a flush', async () => {
  const port = keyd.port;
  const dataDir = keyd.dataDir;
  await keyd.stop();
  const secret = `deferred secret ${uid()}`;
  const mid = `<defer-${uid()}@clinic.example>`;
  const mail = makeMail({ subject: '[secure] Test results', text: `${secret}\n`, messageId: mid });
  const sent = pfx.sentCount();
  const from = milter.log.length;
  const r = await smtpSend(pfx.port, alice, [pat], mail);
  assert.equal(r.code, 250, 'the first Postfix stage queues the message');
  await pfx.waitLog(/status=deferred \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 451 4\.3\.0 key server unavailable/);
  const q = pfx.queue();
  assert.match(q, /alice@clinic\.example/, `postqueue -p shows the deferred message:\n${q}`);
  assert.match(q, /key server unavailable/);
  assert.equal(pfx.sentCount(), sent, 'nothing was delivered');
  for (const d of pfx.delivered()) assert.ok(!d.raw.toString('latin1').includes(secret), 'never in the clear');
  await waitMilterLog(milter, /decision=tempfail rule=subject-keyword .*key server unavailable/, { from });

  keyd = await startKeyd({ dataDir, port });
  pfx.flush();
  const got = await pfx.waitDelivered(sent + 1, SANITIZED ? 300000 : 60000);
  const mine = got.filter((d) => d.raw.toString('latin1').includes(mid));
  assert.equal(mine.length, 1, 'delivered exactly once');
  assertSealed(mine[0].raw, secret);
  assert.ok(Buffer.compare(stripTrace(openRaw(mine[0].raw)), mail) === 0, 'nothing lost');
  assert.doesNotMatch(pfx.queue(), /alice@clinic\.example/, 'the queue is empty again');
});

test('sendmail(1) submission with the key server down: kept in the queue, sealed after a flush', async () => {
  const port = keyd.port;
  const dataDir = keyd.dataDir;
  await keyd.stop();
  const secret = `pickup secret ${uid()}`;
  const mid = `<pickup-${uid()}@clinic.example>`;
  const mail = makeMail({ subject: '[secure] from the command line', text: `${secret}\n`, messageId: mid, eol: '\n' });
  const sent = pfx.sentCount();
  const from = milter.log.length;
  const r = run('/usr/sbin/sendmail', ['-C', pfx.conf, '-f', alice, pat], { input: mail, timeout: 30000 });
  assert.equal(r.status, 0, r.stderr);
  await pfx.waitLog(/milter-reject: END-OF-MESSAGE from localhost\[127\.0\.0\.1\]: 4\.3\.0 key server unavailable/);
  await waitMilterLog(milter, /decision=tempfail rule=subject-keyword .*key server unavailable/, { from });
  assert.match(pfx.queue(), /alice@clinic\.example/, 'postqueue -p lists the message');
  assert.equal(pfx.sentCount(), sent, 'nothing was delivered');

  keyd = await startKeyd({ dataDir, port });
  pfx.flush();
  await pfx.waitDelivered(sent + 1, SANITIZED ? 300000 : 60000);
  const mine = pfx.delivered().filter((d) => d.raw.toString('latin1').includes(mid));
  assert.equal(mine.length, 1, 'delivered exactly once');
  assertSealed(mine[0].raw, secret);
  assert.equal(toLF(stripTrace(openRaw(mine[0].raw))).toString('latin1'), mail.toString('latin1'));
});

// An envelope our organisation sealed for internal recipients (To: alice,
// Cc: carol), as it comes back in from outside.  Returns {sealed, id, secret}.
function sealInbound(tag, { cc, from = `Dr Bob <${bob}>`, to = `Dr Alice <${alice}>` } = {}) {
  const secret = `${tag} secret ${uid()}`;
  const mail = makeMail({ from, to, cc, subject: 'Re: Your results',
    text: `Thanks, ${secret}\n`, messageId: `<${tag}-${uid()}@clinic.example>` });
  const inp = path.join(work, `${tag}-${uid()}.eml`);
  const out = inp + '.sealed';
  fs.writeFileSync(inp, mail);
  const s = sealpost(['seal', '--keyd', keyd.url, '--token', token, '-i', inp, '-o', out]);
  assert.equal(s.status, 0, s.stderr);
  const sealed = fs.readFileSync(out);
  assert.ok(!sealed.toString('latin1').includes(secret));
  const id = sealed.toString('latin1').match(/^X-Sealpost-Envelope: (\S+)/m)[1];
  return { mail, sealed, id, secret };
}

const released = (id) => keyd.log.some((l) => /\brelease\b/.test(l) && l.includes(id) && !/refused/.test(l));

test('a sealed message to an internal address it names arrives unsealed with the marker header', async () => {
  const { mail, sealed, id, secret } = sealInbound('reply');
  const raw = await deliver(sealed, { from: pat, to: [alice] });
  const text = raw.toString('latin1');
  assert.ok(text.includes(secret), 'delivered in the clear to the internal user');
  const mark = text.match(/^X-Sealpost-Received-Sealed: (.*)$/m);
  assert.ok(mark, 'marker header present');
  assert.equal(mark[1], `${id}; keyd=${keyd.url}`);
  assert.doesNotMatch(text, /^X-Sealpost-Envelope:/m, 'the notification headers are gone');
  // the original message exactly, plus the marker as the last header field
  const expected = toLF(mail).toString('latin1').replace('\n\n', `\nX-Sealpost-Received-Sealed: ${mark[1]}\n\n`);
  assert.equal(stripTrace(raw).toString('latin1'), expected);
  await waitMilterLog(milter, new RegExp(`decision=unseal rule=inbound envelope=${id}`));
  assert.ok(released(id), `the key server logged the release:\n${keyd.log.join('\n')}`);
});

// A patient's secure reply, sealed by the key server for the clinic's
// doctor, travels through the clinic's Postfix: its milter unseals it with
// the organisation's token (a reply is released to the organisation of the
// recipient's domain) and the doctor reads it in the clear.
test('a secure reply from the portal to an internal address arrives unsealed', async () => {
  const { id } = sealInbound('to-pat', { from: `Dr Alice <${alice}>`, to: pat });
  const jar = new Map();
  const call = async (p, body, csrf) => {
    const r = await fetch(keyd.url + p, { method: 'POST', headers: { 'Content-Type': 'application/json',
      ...(csrf ? { 'X-CSRF-Token': csrf } : {}),
      ...(jar.size ? { Cookie: [...jar].map(([n, v]) => `${n}=${v}`).join('; ') } : {}) },
    body: JSON.stringify(body) });
    for (const c of r.headers.getSetCookie()) {
      const m = c.match(/^([^=]+)=([^;]*)/);
      if (m && m[2] !== '') jar.set(m[1], m[2]);
    }
    return { status: r.status, data: await r.json() };
  };
  const s = await call('/api/v1/session', { email: pat, password: PW });
  assert.equal(s.status, 200, JSON.stringify(s.data));
  const secret = `reply secret ${uid()}`;
  const r = await call(`/api/v1/envelopes/${id}/reply`, { mode: 'reply', subject: 'Re: Your results',
    text: `Thank you. ${secret}\n`, bcc_me: false }, s.data.csrf);
  assert.equal(r.status, 200, JSON.stringify(r.data));
  let file;
  for (let i = 0; i < 200 && !file; i++) {
    file = fs.readdirSync(keyd.outbox).filter((n) => n.endsWith('.eml')).map((n) => path.join(keyd.outbox, n))
      .find((f) => fs.readFileSync(f, 'latin1').includes(`X-Sealpost-Envelope: ${r.data.id}`));
    if (!file) await new Promise((res) => setTimeout(res, 25));
  }
  assert.ok(file, 'the sealed reply is in the key server\'s outbox');
  const sealed = fs.readFileSync(file);
  assert.ok(!sealed.toString('latin1').includes(secret), 'sealed on its way');
  assert.deepEqual(fs.readFileSync(file.replace(/\.eml$/, '.rcpt'), 'utf8').split('\n').filter(Boolean), [alice]);
  const raw = await deliver(sealed, { from: pat, to: [alice] });
  const text = raw.toString('utf8');
  assert.ok(text.includes(secret), 'the doctor reads the reply in the clear');
  assert.match(text, new RegExp(`^X-Sealpost-Received-Sealed: ${r.data.id}; keyd=`, 'm'));
  assert.match(text, /^From: (.*<)?pat@example\.org>?\r?$/m, 'from the patient');
  await waitMilterLog(milter, new RegExp(`decision=unseal rule=inbound envelope=${r.data.id}`));
});

test('an envelope is not unsealed for an internal SMTP recipient it does not name', async () => {
  // addressed to alice; bob (internal too) added as a second SMTP recipient
  const { sealed, id, secret } = sealInbound('extra');
  assert.deepEqual(envelopeOf(sealed).header.to, [alice]);
  const from = milter.log.length;
  const raw = await deliver(sealed, { from: pat, to: [alice, bob] });
  const text = raw.toString('latin1');
  assert.ok(!text.includes(secret), 'bob never gets it in the clear');
  assert.match(text, new RegExp(`^X-Sealpost-Envelope: ${id}$`, 'm'), 'the notification is delivered unchanged');
  assert.doesNotMatch(text, /X-Sealpost-Received-Sealed/);
  assert.ok(Buffer.compare(stripTrace(raw), toLF(sealed)) === 0, 'byte for byte as it was sent');
  await waitMilterLog(milter, new RegExp(`unseal-refused level=warning qid=\\S+ envelope=${id} rcpt=bob@clinic\\.example `),
    { from });
  await waitMilterLog(milter, new RegExp(`decision=pass rule=inbound envelope=${id} .*reason="left sealed: ` +
    'bob@clinic\\.example is not a recipient named in the envelope"'), { from });
  assert.ok(!released(id), 'no key was released for it');
  // to bob alone: the same
  const other = sealInbound('bob-only');
  const raw2 = await deliver(other.sealed, { from: pat, to: [bob] });
  assert.ok(!raw2.toString('latin1').includes(other.secret));
  await waitMilterLog(milter, new RegExp(`unseal-refused level=warning qid=\\S+ envelope=${other.id} rcpt=bob@clinic\\.example `));
  assert.ok(!released(other.id), 'no key released');
});

test('an envelope naming both internal SMTP recipients is unsealed for both (case-folded)', async () => {
  const { sealed, id, secret } = sealInbound('both', { cc: 'Bob <Bob@Clinic.Example>' });
  const raw = await deliver(sealed, { from: pat, to: ['Alice@CLINIC.example', bob] });
  assert.ok(raw.toString('latin1').includes(secret));
  await waitMilterLog(milter, new RegExp(`decision=unseal rule=inbound envelope=${id}`));
});

// Header fields inserted after MIME-Version of a makeMail message.
const withFields = (mail, fields) => Buffer.from(mail.toString('latin1')
  .replace('MIME-Version: 1.0\r\n', `MIME-Version: 1.0\r\n${fields.map((f) => `${f}\r\n`).join('')}`), 'latin1');
const CONTROL = /^X-Sealpost-(Expires|Notify|Verify|Verify-Hint|Level):/mi;

test('the sender\'s control fields never leave: the sealer reads them, the notification does not carry them', async () => {
  const answer = `verify-${uid()}`;
  const hint = `Your hint ${uid()}`;
  const mail = withFields(makeMail({ subject: '[secure] Results with a secret', text: 'the results\n',
    messageId: `<ctl-${uid()}@clinic.example>` }), [
    `X-Sealpost-Verify: ${answer}`, `X-Sealpost-Verify-Hint: ${hint}`, 'X-Sealpost-Level: high',
    'X-Sealpost-Expires: 30d', 'X-Sealpost-Notify: read']);
  const raw = await deliver(mail);
  assertSealed(raw, answer);
  const text = raw.toString('latin1');
  assert.ok(!text.toLowerCase().includes(answer.toLowerCase()), 'the verification secret never leaves, in any case');
  assert.ok(!text.includes(hint), 'nor its hint');
  assert.doesNotMatch(text, CONTROL, 'no control field in the mail that leaves');
  // the sealer did read them
  const header = assertSigned(raw);
  assert.equal(header.verify, true, 'verification required');
  assert.equal(header.level, 'high');
  assert.ok(header.expires > header.created && header.expires <= header.created + 30 * 86400 + 60, 'expiry 30d');
});

test('control fields are removed from mail that passes unsealed', async () => {
  const answer = `plain-verify-${uid()}`;
  const plain = makeMail({ subject: 'Lunch?', text: 'noon?\n', messageId: `<ctlp-${uid()}@clinic.example>` });
  const mail = withFields(plain, [`X-Sealpost-Verify: ${answer}`, 'X-Sealpost-Level: low']);
  const from = milter.log.length;
  const raw = await deliver(mail);
  assert.ok(!raw.toString('latin1').includes(answer), 'the secret is not sent in the clear');
  assert.doesNotMatch(raw.toString('latin1'), CONTROL);
  assert.ok(Buffer.compare(stripTrace(raw), toLF(plain)) === 0, 'everything else byte for byte');
  await waitMilterLog(milter, /notes qid=\S+ notes="2 sender control fields removed \(not sealed\)"/, { from });
});

test('a forged marker header on incoming mail is removed', async () => {
  const mail = Buffer.from(makeMail({ from: pat, to: alice, subject: 'hello', text: 'hi\n',
    messageId: `<forge-${uid()}@example.org>` }).toString('latin1')
    .replace('MIME-Version: 1.0\r\n', 'MIME-Version: 1.0\r\nX-Sealpost-Received-Sealed: fake\r\n'), 'latin1');
  const raw = await deliver(mail, { from: pat, to: [alice] });
  assert.doesNotMatch(raw.toString('latin1'), /X-Sealpost-Received-Sealed/);
});

test('a token the key server refuses defers the mail (never sent in the clear)', async () => {
  const m2 = await startMilter([`keyd_url = ${keyd.url}`, 'keyd_token = spo_not-a-real-token']);
  const p2 = await startPostfix({ milterPort: m2.port });
  try {
    const secret = `token secret ${uid()}`;
    const mail = makeMail({ subject: '[secure] x', text: `${secret}\n`, messageId: `<tok-${uid()}@clinic.example>` });
    const r = await smtpSend(p2.port, alice, [pat], mail);
    assert.equal(r.code, 250);
    await p2.waitLog(/status=deferred .*451 4\.7\.0 secure mail gateway misconfigured/);
    await waitMilterLog(m2, /decision=tempfail rule=subject-keyword .*refused our token/);
    assert.equal(p2.sentCount(), 0);
    assert.match(p2.queue(), /alice@clinic\.example/);
  } finally {
    await p2.stop();
    await m2.stop();
  }
});

test('without sign_key: a warning at start, and an organisation that signs gets its mail deferred, not bounced', async () => {
  const m3 = await startMilter([`keyd_url = ${keyd.url}`, `keyd_token = ${token}`]);
  const p3 = await startPostfix({ milterPort: m3.port });
  try {
    await waitMilterLog(m3, /sealpost-milter start level=warning sign_key=none reason="envelopes are sealed unsigned/);
    assert.match(m3.log.find((l) => / start socket=/.test(l)), / sign_kid=none /);
    const secret = `unsigned secret ${uid()}`;
    const mail = makeMail({ subject: '[secure] x', text: `${secret}\n`, messageId: `<nokey-${uid()}@clinic.example>` });
    const r = await smtpSend(p3.port, alice, [pat], mail);
    assert.equal(r.code, 250);
    await p3.waitLog(/status=deferred .*451 4\.7\.0 secure mail gateway misconfigured/);
    await waitMilterLog(m3, /decision=tempfail rule=subject-keyword .*signs its envelopes.*\(set sign_key\)/);
    assert.equal(p3.sentCount(), 0, 'nothing delivered, in the clear or unsigned');
    assert.match(p3.queue(), /alice@clinic\.example/);
  } finally {
    await p3.stop();
    await m3.stop();
  }
});

// --- bad input ----------------------------------------------------------

async function alive() {
  assert.equal(milter.proc.exitCode, null, 'the milter is still running');
  const mail = makeMail({ subject: 'still here', text: 'ok\n', messageId: `<alive-${uid()}@clinic.example>` });
  const raw = await deliver(mail);
  assert.ok(Buffer.compare(stripTrace(raw), toLF(mail)) === 0);
}

test('malformed MIME is sealed correctly', async () => {
  const mid = `<bad-${uid()}@clinic.example>`;
  const mail = Buffer.from([
    `From: ${alice}`, `To: ${pat}`, 'Subject: [secure] broken', `Message-ID: ${mid}`,
    'Date: Mon, 23 Nov 2026 10:00:00 +0000', 'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="never-closed"', '',
    '--never-closed', 'Content-Type: text/plain', 'Content-Transfer-Encoding: base64', '',
    '!!!not base64 at all!!!', '--never-closed', 'Content-Type: application/x-broken; name=',
    '', 'truncated part', ''].join('\r\n'));
  const raw = await deliver(mail);
  assertSealed(raw, 'not base64 at all');
  assert.ok(Buffer.compare(stripTrace(openRaw(raw)), mail) === 0);
  await alive();
});

test('8-bit header fields: sealed when secure, untouched otherwise', async () => {
  const mk = (subj, mid) => Buffer.concat([Buffer.from(`From: Zoë <${alice}>\r\nTo: ${pat}\r\nSubject: ${subj}\r\n` +
    `Message-ID: ${mid}\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\nCafé body\r\n`, 'utf8')]);
  const sec = mk('[secure] Résultats', `<8bit-s-${uid()}@clinic.example>`);
  const raw = await deliver(sec);
  assertSealed(raw, 'Café body');
  assert.ok(Buffer.compare(stripTrace(openRaw(raw)), sec) === 0);
  const plain = mk('Déjeuner', `<8bit-p-${uid()}@clinic.example>`);
  const raw2 = await deliver(plain);
  assert.ok(Buffer.compare(stripTrace(raw2), toLF(plain)) === 0);
});

test('an empty body is sealed correctly', async () => {
  const mail = Buffer.from(`From: ${alice}\r\nTo: ${pat}\r\nSubject: [secure] nothing\r\n` +
    `Message-ID: <empty-${uid()}@clinic.example>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\n`);
  const raw = await deliver(mail);
  assertSealed(raw, 'no-such-secret');
  // SMTP cannot carry a message that does not end in a line end, and
  // Postfix sends none for an empty body: the headers come back exactly
  assert.ok(Buffer.compare(stripTrace(openRaw(raw)), mail) === 0);
});

test('a message with 500 parts is sealed correctly', async () => {
  const attachments = [];
  for (let i = 0; i < 499; i++) {
    attachments.push({ name: `part-${i}.txt`, type: 'text/plain', data: Buffer.from(`part ${i}\n`) });
  }
  attachments[498].data = Buffer.from('ssn 536-22-8741\n');
  const mail = makeMail({ subject: 'many parts', text: 'see parts\n', attachments,
    messageId: `<parts-${uid()}@clinic.example>` });
  const raw = await deliver(mail);
  assertSealed(raw, 'cGFydCA0OTcK');
  assert.ok(Buffer.compare(stripTrace(openRaw(raw)), mail) === 0);
  await waitMilterLog(milter, new RegExp(`decision=seal rule=ssn envelope=${envId(raw)} `));
});

test('a 50 MB message is sealed within bounded time and opens to the original', async () => {
  const big = crypto.randomBytes(37 * 1024 * 1024);	// ~50 MB once base64-encoded
  const mail = makeMail({ subject: '[secure] scan archive', text: 'the archive\n',
    attachments: [{ name: 'scans.bin', data: big }], messageId: `<big-${uid()}@clinic.example>` });
  assert.ok(mail.length > 50e6);
  const t0 = Date.now();
  const raw = await deliver(mail);
  assertSealed(raw, big.subarray(0, 30).toString('base64'));
  assert.ok(raw.length < mail.length * 1.5, `sealed mail is compact (${raw.length} vs ${mail.length})`);
  assert.ok(Buffer.compare(stripTrace(openRaw(raw)), mail) === 0);
  const line = await waitMilterLog(milter, new RegExp(`decision=seal rule=subject-keyword envelope=${envId(raw)} .*size=5\\d{7} `));
  // bounded memory: the peak resident size stays within a small multiple
  // of the message size (not measurable under AddressSanitizer, whose
  // quarantine and shadow memory dominate)
  const hwm = Number(fs.readFileSync(`/proc/${milter.pid}/status`, 'utf8').match(/^VmHWM:\s+(\d+) kB/m)[1]) * 1024;
  console.log(`milter peak RSS ${(hwm / 1e6).toFixed(0)} MB for a ${(mail.length / 1e6).toFixed(0)} MB message`);
  if (!SANITIZED) assert.ok(hwm < mail.length * 7, `peak RSS ${hwm} for a ${mail.length} byte message`);
  assert.match(line, /time_ms=\d+/);
  assert.ok(Date.now() - t0 < (SANITIZED ? 600000 : 120000));
  await alive();
});

// --- start-up ------------------------------------------------------------

test('a bad configuration stops the start with file:line; -n checks a good one', () => {
  const dir = tmpDir('sealpost-milter-cfg-');
  const bad = path.join(dir, 'bad.conf');
  fs.writeFileSync(bad, `keyd_url = ${keyd.url}\nkeyd_token = x\nsocket = inet:1@127.0.0.1\nseal_everything = yes\n`);
  const bin = path.join(process.env.SEALPOST_BIN || path.join(process.cwd(), 'bin'), 'sealpost-milter');
  let r = run(bin, ['-c', bad], { timeout: 20000 });
  assert.equal(r.status, 2);
  assert.match(r.stderr, new RegExp(`${bad.replace(/[.]/g, '\\.')}:4: unknown key 'seal_everything'`));
  fs.writeFileSync(bad, `keyd_url = ${keyd.url}\nkeyd_token = x\non_keyd_failure = maybe\n`);
  r = run(bin, ['-c', bad, '-n'], { timeout: 20000 });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /:3: on_keyd_failure: 'maybe' is not one of the allowed values/);
  fs.writeFileSync(bad, `keyd_url = ${keyd.url}\nkeyd_token = x\nuser = nobody\npolicy = ${dir}/missing-policy.conf\n`);
  r = run(bin, ['-c', bad, '-n'], { timeout: 20000 });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /policy: .*missing-policy\.conf/);
  const good = path.join(dir, 'good.conf');
  fs.writeFileSync(good, `keyd_url = ${keyd.url}\nkeyd_token = x\nuser = nobody\n`);
  r = run(bin, ['-c', good, '-n'], { timeout: 20000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout.toString(), /configuration ok/);
  // as root without a user to run as: refused
  fs.writeFileSync(good, `keyd_url = ${keyd.url}\nkeyd_token = x\n`);
  r = run(bin, ['-c', good], { timeout: 20000 });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /started as root: set 'user'/);
  // the signing key: checked by -n, a missing or bad one stops the start
  fs.writeFileSync(good, `keyd_url = ${keyd.url}\nkeyd_token = x\nuser = nobody\nsign_key = ${signKey}\n`);
  r = run(bin, ['-c', good, '-n'], { timeout: 20000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout.toString(), new RegExp(`configuration ok \\(\\d+ policy rules, signing key ${kidOf(signKey)}\\)`));
  r = run(bin, ['-c', good, '-n', '--sign-key', `${dir}/missing.pem`], { timeout: 20000 });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /sign_key: signing key .*missing\.pem: No such file or directory/);
  const junk = path.join(dir, 'junk.pem');
  fs.writeFileSync(junk, 'not a key\n', { mode: 0o600 });
  fs.writeFileSync(bad, `keyd_url = ${keyd.url}\nkeyd_token = x\nuser = nobody\nsign_key = ${junk}\n`);
  r = run(bin, ['-c', bad], { timeout: 20000 });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /sign_key: signing key .*junk\.pem: not a PEM private key/);
  fs.writeFileSync(good, `keyd_url = ${keyd.url}\nkeyd_token = x\nuser = nobody\n`);
  r = run(bin, ['-c', good, '-n'], { timeout: 20000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout.toString(), /no sign_key: envelopes unsigned/);
  r = run(bin, ['--help'], { timeout: 20000 });
  assert.equal(r.status, 0);
  assert.match(r.stdout.toString(), /on_keyd_failure/);
  assert.match(r.stdout.toString(), /sign_key/);
  // the defaults, printed, are a configuration file; with the required
  // keys given on the command line it checks good
  r = run(bin, ['--print-defaults'], { timeout: 20000 });
  assert.equal(r.status, 0);
  const defaults = path.join(dir, 'defaults.conf');
  fs.writeFileSync(defaults, r.stdout);
  assert.match(r.stdout.toString(), /^on_keyd_failure = tempfail$/m);
  r = run(bin, ['-c', defaults, '-n', '--keyd-url', keyd.url, '--keyd-token', 'x', '--user', 'nobody'],
    { timeout: 20000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout.toString(), /configuration ok/);
  r = run(bin, ['-c', defaults, '-n', '--keyd-url', keyd.url, '--keyd-token', 'x', '--timeout-ms', '5'],
    { timeout: 20000 });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--timeout-ms: 5 is out of range/);
});

test('the milter runs as the unprivileged user, with a signing key only root can read', () => {
  const st = fs.readFileSync(`/proc/${milter.pid}/status`, 'utf8');
  const uidLine = st.match(/^Uid:\s+(\d+)\s+(\d+)\s+(\d+)/m);
  assert.ok(uidLine && uidLine.slice(1).every((u) => u !== '0'), `not root: ${uidLine && uidLine[0]}`);
  // the key was read before the switch to user (who could not read it)
  const ks = fs.statSync(signKey);
  assert.equal(ks.uid, 0);
  assert.equal(ks.mode & 0o777, 0o600);
  const start = milter.log.find((l) => / start socket=/.test(l));
  assert.match(start, new RegExp(` sign_kid=${kidOf(signKey)} uid=(?!0\\b)\\d+`));
  assert.ok(!milter.log.some((l) => /sign_key=none/.test(l)), 'no unsigned warning');
});
