// sender.test.mjs - the open page for every sender control, in a real
// browser: a co-recipient's forgery (new content re-encrypted under the
// message key of a signed envelope) is refused and shows nothing; an
// untouched envelope is genuine; retraction of the whole envelope and of one
// recipient, and its undoing; the sender's verification question (wrong
// answer, right answer, lock after too many); expiry; the organisation's
// branding in the page's bar; a format 1 envelope marked unsigned.
// Screenshots of each state go to the test's temporary directory (kept
// with KEEP_TMP=1; the path is printed at the end).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { makeMail, recipientAdd, orgAdd, sealpost, storeSql } from '../lib/harness.mjs';
import { launch, keydWithOrg, seal, clickOpen, submitLogin, makePng, poll, TIMEOUT } from './browser-lib.mjs';

const PW_A = 'Kestrel window orchard 31';
const PW_B = 'Granite ferry lullaby 58';
const A = 'ana@example.net';
const B = 'ben@example.com';
const SENDER = 'alice@clinic.example';
const GENUINE = /Genuine envelope from Example Clinic, signed and checked/;

let browser, ctx, shots;
before(async () => {
  browser = await launch();
  ctx = await keydWithOrg();
  shots = path.join(ctx.dir, 'screenshots');
  fs.mkdirSync(shots, { recursive: true });
  recipientAdd(ctx.keyd.dataDir, A, PW_A);
  recipientAdd(ctx.keyd.dataDir, B, PW_B);
});
after(async () => {
  await browser?.close();
  await ctx?.keyd.stop();
  if (shots) process.stderr.write(`# screenshots: ${shots}\n`);
});

async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
}

// A test mail with sender-control headers (X-Sealpost-...) in front.
function mailWith(headers, fields) {
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  return Buffer.concat([Buffer.from(extra, 'utf8'), makeMail({ from: `Dr Alice <${SENDER}>`, ...fields })]);
}

// An element of the envelope: the payload is a hidden input's value, the
// others textareas.  [1] the opening, [2] the content, [3] the end.
const TA = (id) => (id === 'sp-payload' ? /(<input type="hidden" id="sp-payload" name="c" value=")([^"]*)(">)/ :
  new RegExp(`(<textarea id="${id}"[^>]*>)([\\s\\S]*?)(</textarea>)`));

// The parts of an envelope file.
function readEnvelope(file) {
  const html = fs.readFileSync(file, 'latin1');
  const part = (id, optional) => {
    const m = TA(id).exec(html);
    assert.ok(m || optional, `the envelope has ${id}`);
    return m ? m[2].replace(/\s+/g, '') : '';
  };
  const meta = JSON.parse(/<script type="application\/json" id="sp-meta">([\s\S]*?)<\/script>/.exec(html)[1]);
  return { html, meta, id: meta.id, header: Buffer.from(part('sp-header'), 'base64'),
    ct: Buffer.from(part('sp-payload'), 'base64'), sig: part('sp-sig', true) };
}

function b64lines(buf) {
  return buf.toString('base64').replace(/.{76}/g, '$&\n').replace(/\n?$/, '\n');
}

const api = (p, { method = 'POST', body, auth } = {}) => fetch(ctx.keyd.url + p, {
  method,
  headers: { ...(auth ? { Authorization: `Bearer ${auth}` } : {}), ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
  body: body === undefined ? undefined : JSON.stringify(body),
});

async function orgCall(id, verb, body = {}) {
  const r = await api(`/api/v1/envelopes/${id}/${verb}`, { auth: ctx.token, body });
  assert.equal(r.status, 200, `${verb}: ${await r.text()}`);
}

// The message key as a recipient computes it: the server part from the
// release API with the recipient's own session, the mail part from the
// envelope (docs/envelope-format.md section 1, format 2 salt).
async function messageKey(env, email, password) {
  const s = await api('/api/v1/session', { body: { email, password } });
  assert.equal(s.status, 200);
  const session = (await s.json()).session;
  const r = await api(`/api/v1/envelopes/${env.id}/release`, { auth: session });
  assert.equal(r.status, 200);
  const rel = await r.json();
  assert.equal(rel.format, 2);
  const ikm = Buffer.concat([Buffer.from(rel.server_part, 'base64url'), Buffer.from(env.meta.mp, 'base64url')]);
  return Buffer.from(crypto.hkdfSync('sha256', ikm, 'sealpost/v2', `message key ${env.id}`, 32));
}

const CHUNK = 65536;
function nonce(np, i, last) {
  const n = Buffer.alloc(12);
  np.copy(n, 0);
  n.writeUInt32BE(i, 7);
  n[11] = last ? 1 : 0;
  return n;
}

// The STREAM of docs/envelope-format.md section 3, both ways.
function encryptStream(key, np, headerBytes, pt) {
  const ad = crypto.createHash('sha256').update(headerBytes).digest();
  const n = Math.max(1, Math.ceil(pt.length / CHUNK));
  const out = [];
  for (let i = 0; i < n; i++) {
    const c = crypto.createCipheriv('aes-256-gcm', key, nonce(np, i, i === n - 1));
    c.setAAD(ad);
    out.push(c.update(pt.subarray(i * CHUNK, (i + 1) * CHUNK)), c.final(), c.getAuthTag());
  }
  return Buffer.concat(out);
}

function decryptStream(key, np, headerBytes, ct) {
  const ad = crypto.createHash('sha256').update(headerBytes).digest();
  const sealed = CHUNK + 16;
  const n = Math.max(1, Math.ceil(ct.length / sealed));
  const out = [];
  for (let i = 0; i < n; i++) {
    const piece = ct.subarray(i * sealed, Math.min((i + 1) * sealed, ct.length));
    const d = crypto.createDecipheriv('aes-256-gcm', key, nonce(np, i, i === n - 1));
    d.setAAD(ad);
    d.setAuthTag(piece.subarray(piece.length - 16));
    out.push(d.update(piece.subarray(0, piece.length - 16)), d.final());
  }
  return Buffer.concat(out);
}

// A container (docs/envelope-format.md section 5) with one text body.
function container(subject, text) {
  const body = Buffer.from(text, 'utf8');
  const manifest = Buffer.from(JSON.stringify({ blobs: [{ off: 0, len: body.length, z: 0 }],
    headers: { from: `Dr Alice <${SENDER}>`, to: `${A}, ${B}`, subject }, text: 0, html: null, parts: [], raw: [] }));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(manifest.length);
  return Buffer.concat([Buffer.from('SPC1'), len, manifest, body]);
}

// Sign in on the open page if it asks (it does not when the window's
// context already has a session).
async function signIn(popup, email, password) {
  const any = popup.locator('#sp-login:not([hidden]), #sp-verdict:not([hidden]), #sp-verify:not([hidden]), #sp-message:not([hidden])');
  await any.first().waitFor({ state: 'visible', timeout: TIMEOUT });
  if (await popup.locator('#sp-login').isVisible()) {
    const err = await submitLogin(popup, email, password);
    if (err !== null) throw new Error(`sign-in refused: ${err}`);
  }
}

// A new window context for one recipient; the envelope file opened there
// and Open clicked; signed in.  Returns {context, page, popup}.
async function openAs(file, email, password, context) {
  context = context || await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  await page.goto(pathToFileURL(file).href);
  const popup = await clickOpen(page);
  await signIn(popup, email, password);
  return { context, page, popup };
}

// What the open page ends on: the verdict card or the sender's question.
async function outcome(popup) {
  const v = popup.locator('#sp-verdict:not([hidden]), #sp-verify:not([hidden])');
  await v.first().waitFor({ state: 'visible', timeout: TIMEOUT });
  if (await popup.locator('#sp-verify').isVisible()) return 'verify';
  const text = (await popup.textContent('#sp-verdict')).replace(/\s+/g, ' ').trim();
  const kind = await popup.getAttribute('#sp-verdict', 'class');
  return { text, kind };
}

// Nothing of the message anywhere in the page, its frames or its markup.
async function assertNothingShown(popup, ...secrets) {
  assert.ok(await popup.locator('#sp-message').isHidden(), 'no message card');
  assert.equal(await popup.locator('#sp-body').evaluate((e) => e.childElementCount), 0);
  assert.equal(popup.frames().length, 1, 'no message frame');
  const dom = await popup.content();
  for (const s of secrets) assert.ok(!dom.includes(s), `"${s}" is not in the page`);
}

function sealTwo(subject, text, name, headers = {}) {
  return seal(ctx, mailWith(headers, { to: `${A}, ${B}`, subject, text }), name);
}

test('a co-recipient\'s forgery under the same header is refused and shows nothing', { timeout: TIMEOUT * 6 }, async () => {
  const ORIGINAL = 'Your appointment is on Tuesday at 10:00.';
  const FORGED = 'URGENT: pay the outstanding invoice to IBAN XX00 FORGED 0000 today.';
  const file = sealTwo('Appointment', `${ORIGINAL}\n`, 'forge-src.html');
  const env = readEnvelope(file);
  assert.match(env.sig, /^[A-Za-z0-9_-]{86}$/, 'a signed (format 2) envelope');
  const hdr = JSON.parse(env.header.toString('utf8'));
  assert.equal(hdr.v, 2);
  const np = Buffer.from(hdr.np, 'base64url');

  // Recipient A has everything a reader has, and so the message key.
  const key = await messageKey(env, A, PW_A);
  assert.ok(decryptStream(key, np, env.header, env.ct).includes(Buffer.from(ORIGINAL)), 'A reads the original');
  // New content under the same header and key: it authenticates like the
  // original (what a format 1 reader accepted), only the signature and the
  // key server's digest of the ciphertext can tell.
  const forgedCt = encryptStream(key, np, env.header, container('Appointment', `${FORGED}\n`));
  assert.ok(decryptStream(key, np, env.header, forgedCt).includes(Buffer.from(FORGED)));
  const m = TA('sp-payload').exec(env.html);
  const forged = path.join(ctx.dir, 'forged.html');
  fs.writeFileSync(forged, env.html.replace(m[0], `${m[1]}\n${b64lines(forgedCt)}${m[3]}`), 'latin1');
  assert.equal(readEnvelope(forged).sig, env.sig, 'the signature element is kept');

  // Recipient B opens the forgery.
  const b = await openAs(forged, B, PW_B);
  const o = await outcome(b.popup);
  assert.match(o.text, /This is not a genuine envelope from Example Clinic/);
  assert.match(o.text, /Do not act on it/);
  assert.match(o.text, /contact the sender by a route you already know/);
  assert.match(o.kind, /\bbad\b/);
  // Refused for what changed: the ciphertext the sender sealed and signed.
  assert.match(await b.popup.textContent('#sp-verdict details'), /the message is not the one the sender sealed/);
  assert.doesNotMatch(await b.popup.textContent('#sp-verdict details'), /header/);
  await assertNothingShown(b.popup, FORGED, 'IBAN', 'FORGED', ORIGINAL);
  assert.doesNotMatch(await b.popup.textContent('#sp-top'), /Example Clinic/, 'no branding on a forgery');
  await shot(b.popup, 'forged');

  // The same forgery through the open-online form (the signature travels
  // as the form's field s).
  const page = await b.context.newPage();
  await page.goto(pathToFileURL(forged).href);
  const [online] = await Promise.all([page.waitForEvent('popup', { timeout: TIMEOUT }), page.click('#sp-online')]);
  await online.waitForLoadState('domcontentloaded');
  assert.equal(new URL(online.url()).pathname, '/online');
  const o2 = await outcome(online);
  assert.match(o2.text, /This is not a genuine envelope from Example Clinic/);
  await assertNothingShown(online, FORGED, 'IBAN');
  await shot(online, 'forged-online');

  // The untouched envelope, in the same window: genuine, with its content.
  const good = await openAs(file, B, PW_B, b.context);
  const g = await outcome(good.popup);
  assert.match(g.text, GENUINE);
  assert.match(await good.popup.textContent('#sp-body'), new RegExp(ORIGINAL));
  assert.doesNotMatch(await good.popup.content(), /FORGED/);
  await shot(good.popup, 'genuine');

  // And through the open-online form.
  const page2 = await b.context.newPage();
  await page2.goto(pathToFileURL(file).href);
  const [online2] = await Promise.all([page2.waitForEvent('popup', { timeout: TIMEOUT }), page2.click('#sp-online')]);
  await online2.waitForLoadState('domcontentloaded');
  assert.match((await outcome(online2)).text, GENUINE);
  assert.match(await online2.textContent('#sp-body'), new RegExp(ORIGINAL));
  await b.context.close();
});

test('a signature from another envelope or a missing one is refused', { timeout: TIMEOUT * 4 }, async () => {
  const one = readEnvelope(sealTwo('One', 'First secret text.\n', 'sig-one.html'));
  const twoFile = sealTwo('Two', 'Second secret text.\n', 'sig-two.html');
  const two = readEnvelope(twoFile);
  const m = TA('sp-sig').exec(two.html);
  const swapped = path.join(ctx.dir, 'sig-swapped.html');
  fs.writeFileSync(swapped, two.html.replace(m[0], `${m[1]}${one.sig}${m[3]}`), 'latin1');
  const b = await openAs(swapped, B, PW_B);
  assert.match((await outcome(b.popup)).text, /This is not a genuine envelope from Example Clinic/);
  await assertNothingShown(b.popup, 'Second secret text');
  const stripped = path.join(ctx.dir, 'sig-stripped.html');
  fs.writeFileSync(stripped, two.html.replace(m[0], ''), 'latin1');
  const c = await openAs(stripped, B, PW_B, b.context);
  assert.match((await outcome(c.popup)).text, /This is not a genuine envelope from Example Clinic/);
  await assertNothingShown(c.popup, 'Second secret text');
  await b.context.close();
});

test('retraction: withdrawn in the browser, open again after un-retraction', { timeout: TIMEOUT * 6 }, async () => {
  const file = sealTwo('Contract draft', 'Clause 7 changes.\n', 'retract.html');
  const { id } = readEnvelope(file);
  await orgCall(id, 'retract');
  const b = await openAs(file, B, PW_B);
  const o = await outcome(b.popup);
  assert.match(o.text, /This message was withdrawn by the sender/);
  assert.match(o.text, /ask the sender/);
  assert.ok(o.text.includes(SENDER), 'the sender\'s address as the envelope names it');
  assert.match(o.kind, /\bgone\b/);
  await assertNothingShown(b.popup, 'Clause 7');
  await shot(b.popup, 'withdrawn');

  await orgCall(id, 'unretract');
  // Open again from the same envelope window, as a person would.
  await b.popup.close();
  const again = await clickOpen(b.page);
  await signIn(again, B, PW_B);
  assert.match((await outcome(again)).text, GENUINE);
  assert.match(await again.textContent('#sp-body'), /Clause 7 changes/);
  await b.context.close();
});

test('retraction for one recipient: that one sees withdrawn, the other reads', { timeout: TIMEOUT * 6 }, async () => {
  const file = sealTwo('Board minutes', 'Minutes of the meeting.\n', 'retract-one.html');
  const { id } = readEnvelope(file);
  await orgCall(id, 'retract', { recipient: A });
  const a = await openAs(file, A, PW_A);
  assert.match((await outcome(a.popup)).text, /This message was withdrawn by the sender/);
  await assertNothingShown(a.popup, 'Minutes of the meeting');
  await shot(a.popup, 'withdrawn-one');
  await a.context.close();
  const b = await openAs(file, B, PW_B);
  assert.match((await outcome(b.popup)).text, GENUINE);
  assert.match(await b.popup.textContent('#sp-body'), /Minutes of the meeting/);
  await b.context.close();
});

test('expired: the expired page with the next step', { timeout: TIMEOUT * 4 }, async () => {
  const file = sealTwo('Old offer', 'This offer ran out.\n', 'expired.html');
  const { id } = readEnvelope(file);
  storeSql(ctx.keyd.dataDir, `UPDATE envelopes SET expires = 1 WHERE id = '${id}'`);
  const b = await openAs(file, B, PW_B);
  const o = await outcome(b.popup);
  assert.match(o.text, /This message has expired/);
  assert.match(o.text, /ask the sender/);
  assert.ok(o.text.includes(SENDER));
  await assertNothingShown(b.popup, 'This offer ran out');
  await shot(b.popup, 'expired');
  await b.context.close();
});

const SECRET = 'Heron 42';
const HINT = 'Which bird did we see at the lake, and the room number?';

test('verification secret: the question, a wrong answer, then the right one opens', { timeout: TIMEOUT * 6 }, async () => {
  const file = sealTwo('Lab results', 'Your results are normal.\n', 'verify.html',
    { 'X-Sealpost-Verify': SECRET, 'X-Sealpost-Verify-Hint': HINT });
  const b = await openAs(file, B, PW_B);
  assert.equal(await outcome(b.popup), 'verify');
  const p = b.popup;
  assert.equal((await p.textContent('#sp-verify-hint')).trim(), HINT);
  const field = p.getByLabel('Your answer');
  assert.equal(await field.count(), 1, 'the answer field has a label');
  assert.match(await p.textContent('#sp-verify-tries'), /5 tries left/);
  assert.ok(await p.locator('#sp-message').isHidden());
  await shot(p, 'verify-question');

  await field.fill('Sparrow 7');
  await p.click('#sp-verify-submit');
  const err = p.locator('#sp-verify-error:not([hidden])');
  await err.waitFor({ timeout: TIMEOUT });
  assert.match(await err.textContent(), /not the answer the sender gave/);
  assert.match(await err.textContent(), /4 tries left/);
  assert.ok(await p.locator('#sp-message').isHidden());
  await shot(p, 'verify-wrong');

  await field.fill(SECRET);
  await p.click('#sp-verify-submit');
  await p.locator('#sp-verify').waitFor({ state: 'hidden', timeout: TIMEOUT });
  assert.match((await outcome(p)).text, GENUINE);
  assert.match(await p.textContent('#sp-body'), /Your results are normal/);
  await shot(p, 'verify-opened');
  await b.context.close();

  // Once answered, the same recipient opens without the question again.
  const again = await openAs(file, B, PW_B);
  assert.match((await outcome(again.popup)).text, GENUINE);
  await again.context.close();
});

test('verification secret: too many wrong answers lock it and say the sender was told', { timeout: TIMEOUT * 8 }, async () => {
  const file = sealTwo('Locked results', 'Never to be seen.\n', 'verify-lock.html',
    { 'X-Sealpost-Verify': SECRET, 'X-Sealpost-Verify-Hint': HINT });
  const a = await openAs(file, A, PW_A);
  assert.equal(await outcome(a.popup), 'verify');
  const p = a.popup;
  for (let i = 0; i < 10 && await p.locator('#sp-verify').isVisible(); i++) {
    await p.getByLabel('Your answer').fill(`wrong ${i}`);
    await p.click('#sp-verify-submit');
    await p.locator('#sp-verify-error:not([hidden]), #sp-verdict:not([hidden])').first().waitFor({ timeout: TIMEOUT });
    await p.waitForFunction(() => !document.getElementById('sp-verify-submit').disabled || !document.getElementById('sp-verdict').hidden);
  }
  const o = await outcome(p);
  assert.match(o.text, /too many wrong answers/i);
  assert.match(o.text, /the sender has been told/);
  await assertNothingShown(p, 'Never to be seen');
  await shot(p, 'verify-locked');
  await a.context.close();
  // Opening again: still locked, no question.
  const again = await openAs(file, A, PW_A);
  assert.match((await outcome(again.popup)).text, /too many wrong answers/i);
  await again.context.close();
});

test('branding: the organisation\'s name, colour and logo in the page\'s bar', { timeout: TIMEOUT * 4 }, async () => {
  const bankToken = orgAdd(ctx.keyd.dataDir, 'Harbour Bank', 'bank.example');
  const logo = path.join(ctx.dir, 'logo.png');
  fs.writeFileSync(logo, makePng(40, 40, [250, 200, 20]));
  const r = sealpost(['--data-dir', ctx.keyd.dataDir, 'org', 'set', 'Harbour Bank', '--display', 'Harbour Bank plc',
    '--colour', '#7a1f5c', '--logo', logo]);
  assert.equal(r.status, 0, r.stderr?.toString());
  const file = seal({ ...ctx, token: bankToken }, makeMail({ from: 'Teller <teller@bank.example>', to: B,
    subject: 'Statement', text: 'Your statement is ready.\n' }), 'brand.html');
  const b = await openAs(file, B, PW_B);
  assert.match((await outcome(b.popup)).text, /Genuine envelope from Harbour Bank plc, signed and checked/);
  const top = b.popup.locator('#sp-top');
  assert.equal((await b.popup.textContent('#sp-brand-name')).trim(), 'Harbour Bank plc');
  assert.equal(await top.evaluate((e) => getComputedStyle(e).backgroundColor), 'rgb(122, 31, 92)');
  assert.equal(await top.evaluate((e) => getComputedStyle(e).color), 'rgb(255, 255, 255)', 'light text on a dark colour');
  const img = b.popup.locator('#sp-brand-logo');
  assert.ok(await img.isVisible());
  const src = await img.evaluate((e) => e.src);
  assert.equal(new URL(src).origin, ctx.keyd.url, 'the logo comes from the key server');
  assert.equal(await poll(() => img.evaluate((e) => (e.complete ? e.naturalWidth : null))), 40, 'the logo loads');
  assert.equal(await img.getAttribute('alt'), 'Harbour Bank plc logo');
  await shot(b.popup, 'branded');
  await b.context.close();
});

test('a format 1 envelope opens marked unsigned (older format)', { timeout: TIMEOUT * 4 }, async () => {
  // An organisation without a live signing key may still deposit format 1.
  const oldToken = orgAdd(ctx.keyd.dataDir, 'Old Sealer Ltd', 'old.example');
  const list = sealpost(['--data-dir', ctx.keyd.dataDir, 'org', 'key', 'list', 'Old Sealer Ltd']);
  assert.equal(list.status, 0, list.stderr?.toString());
  const kid = /^([A-Za-z0-9_-]{11})\s/m.exec(list.stdout.toString())[1];
  const ret = sealpost(['--data-dir', ctx.keyd.dataDir, 'org', 'key', 'retire', 'Old Sealer Ltd', kid]);
  assert.equal(ret.status, 0, ret.stderr?.toString());
  const inFile = path.join(ctx.dir, 'v1.in.eml');
  const html = path.join(ctx.dir, 'v1.html');
  fs.writeFileSync(inFile, makeMail({ from: 'Clerk <clerk@old.example>', to: B, subject: 'Old style', text: 'Sealed the old way.\n' }));
  const s = sealpost(['seal', '--keyd', ctx.keyd.url, '--token', oldToken, '--unsigned-test', '-i', inFile,
    '-o', path.join(ctx.dir, 'v1.out.eml'), '--html', html]);
  assert.equal(s.status, 0, s.stderr?.toString());
  const v1 = readEnvelope(html);
  assert.equal(JSON.parse(v1.header.toString('utf8')).v, 1);
  assert.equal(v1.sig, '', 'no signature element');
  const b = await openAs(html, B, PW_B);
  const o = await outcome(b.popup);
  assert.match(o.text, /Envelope from Old Sealer Ltd: unsigned \(older format\)/);
  assert.doesNotMatch(o.text, /Genuine envelope/);
  assert.match(o.kind, /\bunsigned\b/);
  assert.match(await b.popup.textContent('#sp-body'), /Sealed the old way/);
  await shot(b.popup, 'unsigned');
  await b.context.close();
});
