// accounts.test.mjs - getting back in and second factors, in a real
// browser against the real key server: a forgotten password reset by the
// mailed link and the security answers (which ends the old sessions), an
// authenticator app (TOTP codes computed here, RFC 6238) with its recovery
// codes, and passkeys through Chromium's virtual authenticator, on the
// server-rendered sign-in and on the open page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { makeMail, recipientAdd, mailedLink, mailsTo, activationLink, startKeyd, orgAdd, freePort, tmpDir, storeSql, PGSQL } from '../lib/harness.mjs';
import { launch, keydWithOrg, seal, clickOpen, submitLogin, verdictText, screenshots, axe, poll, SECOND_STEP, TIMEOUT } from './browser-lib.mjs';

let browser, ctx;
before(async () => {
  browser = await launch();
  ctx = await keydWithOrg();
});
after(async () => {
  await browser?.close();
  await ctx?.keyd.stop();
});

const url = (p, base = ctx.keyd.url) => base + p;

// ---- TOTP (RFC 6238: HMAC-SHA1, 30 s steps, 6 digits) -----------------------

function base32Decode(s) {
  const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const clean = s.toUpperCase().replace(/[\s=]/g, '');
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of clean) {
    const v = A.indexOf(ch);
    if (v < 0) throw new Error(`not base32: ${ch}`);
    value = (value << 5) | v;
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

// The RFC's own test vector, so a wrong helper cannot pass by agreeing
// with itself: secret "12345678901234567890", T = 59 s -> 94287082 (8
// digits), whose last six are 287082.
test('the test TOTP helper matches RFC 6238', () => {
  const secret = Buffer.from('12345678901234567890');
  assert.equal(totp(secret, 1), '287082');
  assert.deepEqual(base32Decode('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'), secret);
});

// ---- pages ----------------------------------------------------------------

// Submit the form holding `button` and wait for the next page.
async function submit(page, button) {
  await Promise.all([page.waitForEvent('load', { timeout: TIMEOUT }), button.click()]);
}

function pageText(page) {
  return page.textContent('main').then((t) => t.replace(/\s+/g, ' ').trim());
}

// Sign in on /signin; retried while the key server says it is busy.
async function signIn(page, email, password, base) {
  for (let i = 0; i < 6; i++) {
    await page.goto(url('/signin', base));
    await page.fill('#email', email);
    await page.fill('#password', password);
    await submit(page, page.locator('form[action="/signin"] button[type=submit]'));
    if (!/busy/i.test(await page.title())) return;
    await page.waitForTimeout(500 * (i + 1));
  }
  throw new Error('the key server stayed busy');
}

async function signOut(page, base) {
  await page.goto(url('/account', base));
  await submit(page, page.getByRole('button', { name: 'Sign out', exact: true }));
  assert.match(await page.title(), /signed out/i);
}

// On /account: confirm the password when the page asks for it.
async function confirmIfAsked(page, password) {
  const re = page.locator('#reauth-password');
  if (await re.count()) {
    await re.fill(password);
    await submit(page, page.locator('form[action="/account/reauth"] button[type=submit]'));
  }
}

const secondStepSubmit = (page) => page.locator('form[action="/signin/second"] button[type=submit]');

// ---- forgot password --------------------------------------------------------

test('forgot password: mailed link and security answers; old sessions end', { timeout: TIMEOUT * 8 }, async () => {
  const EMAIL = 'robin@example.org';
  const OLD = 'Copper kettle sings 42';
  const NEW = 'Violet tram over hills 7';
  const ANSWERS = ['Biscuit', 'Porto', 'Mr Adeyemi'];

  // Register with three security questions on the real form, confirm.
  const a = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const pa = await a.newPage();
  await pa.goto(url(`/register?email=${encodeURIComponent(EMAIL)}`));
  await pa.fill('[name=first_name]', 'Robin');
  await pa.fill('[name=last_name]', 'Okoro');
  await pa.fill('[name=password]', OLD);
  await pa.fill('[name=password2]', OLD);
  await pa.fill('[name=phrase]', 'Green door on Elm Street');
  for (const [i, answer] of ANSWERS.entries()) {
    const q = pa.locator(`[name=q${i + 1}]`);
    const values = await q.locator('option').evaluateAll((os) => os.map((o) => o.value).filter(Boolean));
    await q.selectOption(values[i]);
    await pa.fill(`[name=a${i + 1}]`, answer);
    await pa.fill(`[name=a${i + 1}c]`, answer);
  }
  await submit(pa, pa.locator('form [type=submit]').last());
  assert.match(await pageText(pa), /check your mail|we sent a mail/i);
  await pa.goto(activationLink(ctx.keyd.outbox, EMAIL));
  await submit(pa, pa.getByRole('button', { name: /confirm my address/i }));
  assert.match(await pageText(pa), /is confirmed/);

  // Signed in in browser A.
  await signIn(pa, EMAIL, OLD);
  assert.equal(new URL(pa.url()).pathname, '/account');
  assert.equal((await pa.textContent('#sp-account-email')).trim(), EMAIL);

  // Browser B: forgot, the mailed link, the answers, a new password.
  const b = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const pb = await b.newPage();
  await pb.goto(url('/signin'));
  await screenshots(pb, 'signin');
  await submit(pb, pb.getByRole('link', { name: /forgot your password/i }));
  assert.equal(new URL(pb.url()).pathname, '/forgot');
  await screenshots(pb, 'forgot');
  await pb.fill('#email', EMAIL);
  await submit(pb, pb.getByRole('button', { name: /send me a link/i }));
  assert.match(await pageText(pb), /If robin@example\.org has an account, we sent a link to it/);
  await screenshots(pb, 'forgot-sent');
  const link = mailedLink(ctx.keyd.outbox, EMAIL, 'reset');
  assert.equal(new URL(link).origin, ctx.keyd.url);
  await pb.goto(link);
  assert.match(await pageText(pb), /Choose a new password for robin@example\.org/);
  assert.equal(await pb.locator('input[id^=a]').count(), 3, 'the three security questions');
  await screenshots(pb, 'reset');

  // One wrong answer: refused, nothing changes.
  const fillReset = async (answers) => {
    for (const [i, ans] of answers.entries()) await pb.fill(`#a${i + 1}`, ans);
    await pb.fill('#password', NEW);
    await pb.fill('#password2', NEW);
    await submit(pb, pb.getByRole('button', { name: /set my new password/i }));
  };
  await fillReset([ANSWERS[0], 'Lisbon', ANSWERS[2]]);
  assert.match(await pageText(pb), /One or more answers do not match/);
  await screenshots(pb, 'reset-wrong-answer');
  // The right answers (case and spaces do not matter).
  await fillReset([ANSWERS[0].toUpperCase(), ` ${ANSWERS[1]} `, ANSWERS[2]]);
  assert.match(await pb.title(), /password is changed/i);
  assert.match(await pageText(pb), /every browser that was signed in to robin@example\.org is signed out/);
  await screenshots(pb, 'reset-done');

  // The link works once.
  await pb.goto(link);
  assert.match(await pageText(pb), /already used or has expired/);

  // Browser A's session is gone.
  await pa.goto(url('/account'));
  assert.equal(new URL(pa.url()).pathname, '/signin');

  // The old password fails, the new one works.
  await signIn(pb, EMAIL, OLD);
  assert.match(await pageText(pb), /Wrong email address or password/);
  assert.equal(new URL(pb.url()).pathname, '/signin');
  await signIn(pb, EMAIL, NEW);
  assert.equal(new URL(pb.url()).pathname, '/account');
  assert.equal((await pb.textContent('#sp-account-email')).trim(), EMAIL);
  await a.close();
  await b.close();
});

// ---- authenticator app ------------------------------------------------------

test('authenticator app: set up, sign in with a code, recovery codes work once', { timeout: TIMEOUT * 8 }, async () => {
  const EMAIL = 'kim@example.org';
  const PASSWORD = 'Saffron lighthouse 2024 dusk';
  recipientAdd(ctx.keyd.dataDir, EMAIL, PASSWORD);
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();

  await signIn(page, EMAIL, PASSWORD);
  assert.equal(new URL(page.url()).pathname, '/account');
  await confirmIfAsked(page, PASSWORD);
  assert.match(await page.textContent('#sp-totp-state'), /^Off/);
  await screenshots(page, 'account');

  // Set up: the key is shown as text beside the QR code.
  await submit(page, page.locator('#sp-totp-add'));
  const secretText = (await page.textContent('#sp-totp-secret')).trim();
  assert.match(secretText, /^[A-Z2-7]+=*$/);
  assert.equal(await page.locator('.qr svg').count(), 1, 'a QR code');
  await screenshots(page, 'totp-setup');
  const secret = base32Decode(secretText);

  // A wrong code first: the set-up page comes back with the same key.
  const enrolStep = stepNow();
  const valid = new Set([-1, 0, 1].map((d) => totp(secret, enrolStep + d)));
  const wrong = ['000000', '111111', '222222', '333333'].find((c) => !valid.has(c));
  await page.fill('#code', wrong);
  await submit(page, page.getByRole('button', { name: 'Turn on' }));
  assert.match(await pageText(page), /That code is not right/);
  assert.equal((await page.textContent('#sp-totp-secret')).trim(), secretText);

  await page.fill('#code', totp(secret, enrolStep));
  await submit(page, page.getByRole('button', { name: 'Turn on' }));
  assert.match(await page.textContent('#sp-totp-on'), /authenticator app is set up/);
  const codes = (await page.locator('#sp-recovery-codes code').allTextContents()).map((c) => c.trim());
  assert.equal(codes.length, 10);
  assert.equal(new Set(codes).size, 10);
  // Stored as Argon2id salted per account (totp.h), not as the SHA-256 of
  // the code, which a stolen database gave up for at most 2^50 hashes.
  const hex = PGSQL ? "encode(hash, 'hex')" : 'lower(hex(hash))';
  const stored = storeSql(ctx.keyd.dataDir, `SELECT ${hex} FROM recovery_codes WHERE email = '${EMAIL}'`).split('\n');
  assert.equal(stored.length, 10);
  const sha = (c) => crypto.createHash('sha256').update(`recovery:${EMAIL}:${c.replace(/-/g, '')}`).digest('hex');
  for (const c of codes) assert.ok(!stored.includes(sha(c)), `code ${codes.indexOf(c)} stored as its SHA-256`);
  await screenshots(page, 'totp-recovery-codes');
  await page.goto(url('/account'));
  assert.match(await page.textContent('#sp-totp-state'), /^On/);
  assert.match(await page.textContent('#sp-recovery-left'), /^10 unused recovery codes left/);

  // Sign out; signing in now asks for a code.
  await signOut(page);
  await signIn(page, EMAIL, PASSWORD);
  assert.equal(new URL(page.url()).pathname, '/signin');
  assert.match(await page.title(), /second step/);
  assert.equal(await page.locator('#code').count(), 1);
  assert.equal(await page.locator('#sp-passkey').count(), 0, 'no passkey button without a passkey');
  await screenshots(page, 'signin-second-totp');

  // Nothing typed: the same step asks again.
  await submit(page, secondStepSubmit(page));
  assert.match(await pageText(page), /Enter the code from your authenticator app/);
  assert.equal(await page.locator('#code').count(), 1);

  // A wrong code is refused.
  const s0 = stepNow();
  const valid2 = new Set([-1, 0, 1].map((d) => totp(secret, s0 + d)));
  await page.fill('#code', ['000000', '111111', '222222', '333333'].find((c) => !valid2.has(c)));
  await submit(page, secondStepSubmit(page));
  assert.match(await pageText(page), /That code is not right/);
  assert.equal(new URL(page.url()).pathname, '/signin/second');
  await page.goto(url('/account'));
  assert.equal(new URL(page.url()).pathname, '/signin', 'still signed out');

  // The right code: a step after the one used at set-up, within the window.
  await signIn(page, EMAIL, PASSWORD);
  await page.fill('#code', totp(secret, Math.max(stepNow(), enrolStep + 1)));
  await submit(page, secondStepSubmit(page));
  assert.equal(new URL(page.url()).pathname, '/account');
  assert.equal((await page.textContent('#sp-account-email')).trim(), EMAIL);

  // A recovery code instead of the app: works once.
  await signOut(page);
  await signIn(page, EMAIL, PASSWORD);
  await page.getByText('Use a recovery code instead').click();
  await page.fill('#recovery', codes[3]);
  await submit(page, secondStepSubmit(page));
  assert.equal(new URL(page.url()).pathname, '/account');
  assert.match(await page.textContent('#sp-recovery-left'), /^9 unused recovery codes left/);
  await signOut(page);
  await signIn(page, EMAIL, PASSWORD);
  await page.getByText('Use a recovery code instead').click();
  await page.fill('#recovery', codes[3]);
  await submit(page, secondStepSubmit(page));
  assert.equal(new URL(page.url()).pathname, '/signin/second');
  assert.match(await pageText(page), /not right/);
  // Another one still works (the failed try did not use up the step).
  await page.getByText('Use a recovery code instead').click();
  await page.fill('#recovery', codes[4].toUpperCase());
  await submit(page, secondStepSubmit(page));
  assert.equal(new URL(page.url()).pathname, '/account');

  // A code made before, stored in the SHA-256 form: still works, once.
  const old = 'k7m2-p9q4-rs';
  const oldHash = sha(old);
  storeSql(ctx.keyd.dataDir, `INSERT INTO recovery_codes(email, hash, used) VALUES ('${EMAIL}', ` +
    (PGSQL ? `decode('${oldHash}', 'hex')` : `X'${oldHash}'`) + ', 0)');
  for (const [attempt, want] of [[1, '/account'], [2, '/signin/second']]) {
    await signOut(page);
    await signIn(page, EMAIL, PASSWORD);
    await page.getByText('Use a recovery code instead').click();
    await page.fill('#recovery', old);
    await submit(page, secondStepSubmit(page));
    assert.equal(new URL(page.url()).pathname, want, `the old code, try ${attempt}`);
  }
  await context.close();
});

// ---- passkeys ---------------------------------------------------------------

const AUTHENTICATOR = { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true };

async function virtualAuthenticator(context, page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', { options: AUTHENTICATOR });
  return { cdp, authenticatorId };
}

// Chromium refuses an IP address as a WebAuthn relying party ("SecurityError:
// This is an invalid domain.", also for http://127.0.0.1 pages), so the
// passkey test has its own key server whose public URL names localhost
// (still listening on 127.0.0.1 only).
async function keydOnLocalhost() {
  const port = await freePort();
  const keyd = await startKeyd({ port, args: ['--public-url', `http://localhost:${port}`] });
  keyd.url = `http://localhost:${port}`;
  const token = orgAdd(keyd.dataDir, 'Example Clinic', 'clinic.example');
  return { keyd, token, dir: tmpDir('sealpost-browser-') };
}

test('passkeys: add one on the security page, sign in with it here and on the open page', { timeout: TIMEOUT * 10 }, async (t) => {
  const EMAIL = 'lee@example.org';
  const PASSWORD = 'Marble owl river 3 tides';
  const lctx = await keydOnLocalhost();
  const base = lctx.keyd.url;
  recipientAdd(lctx.keyd.dataDir, EMAIL, PASSWORD);
  t.after(() => lctx.keyd.stop());
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  const va = await virtualAuthenticator(context, page);

  await signIn(page, EMAIL, PASSWORD, base);
  await confirmIfAsked(page, PASSWORD);
  const add = page.locator('#sp-passkey-add');
  await add.waitFor({ state: 'visible', timeout: TIMEOUT });
  await add.click();
  const codes = page.locator('#sp-codes:not([hidden]) #sp-recovery-codes code');
  const err = page.locator('#sp-passkey-err');
  await codes.first().or(page.locator('#sp-passkey-err:not(:empty)')).first().waitFor({ timeout: TIMEOUT });
  assert.equal((await err.textContent()).trim(), '', 'no error adding the passkey');
  assert.equal(await codes.count(), 10, 'recovery codes with the first second factor');
  await screenshots(page, 'passkey-added');
  const { credentials } = await va.cdp.send('WebAuthn.getCredentials', { authenticatorId: va.authenticatorId });
  assert.equal(credentials.length, 1);
  assert.equal(credentials[0].rpId, 'localhost');
  await submit(page, page.getByRole('link', { name: 'Done' }));
  assert.equal(await page.locator('#sp-passkeys li').count(), 1);
  await screenshots(page, 'account-with-passkey');

  // Sign out; the password's second step offers the passkey.
  await signOut(page, base);
  await signIn(page, EMAIL, PASSWORD, base);
  assert.match(await page.title(), /second step/);
  const use = page.locator('#sp-passkey');
  await use.waitFor({ state: 'visible', timeout: TIMEOUT });
  await screenshots(page, 'signin-second-passkey');
  await Promise.all([page.waitForURL((u) => u.pathname === '/account', { timeout: TIMEOUT }), use.click()]);
  assert.equal((await page.textContent('#sp-account-email')).trim(), EMAIL);

  // The open page: sign in with the password, then the passkey.
  await signOut(page, base);
  const file = seal(lctx, makeMail({ to: EMAIL, subject: 'Passkey test', text: 'Opened with a passkey.\n' }), 'passkey.html');
  await page.goto(pathToFileURL(file).href);
  const popup = await clickOpen(page);
  // The popup is another page: it gets its own virtual authenticator with
  // the same credential as it is now (its signature counter moved on when
  // it signed in above; an older copy is refused as a clone).
  const now = (await va.cdp.send('WebAuthn.getCredentials', { authenticatorId: va.authenticatorId })).credentials;
  assert.ok(now[0].signCount > credentials[0].signCount, 'the counter moved');
  const vb = await virtualAuthenticator(context, popup);
  await vb.cdp.send('WebAuthn.addCredential', { authenticatorId: vb.authenticatorId, credential: now[0] });
  await popup.locator('#sp-login').waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.equal(await submitLogin(popup, EMAIL, PASSWORD), SECOND_STEP);
  const pk = popup.locator('#sp-second-passkey');
  await pk.waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.equal(await popup.locator('#sp-code-field').isVisible(), false, 'no code field without an app');
  await screenshots(popup, 'open-second-passkey');
  await pk.click();
  const secondErr = popup.locator('#sp-second-error:not([hidden])');
  await secondErr.or(popup.locator('#sp-verdict:not([hidden])')).first().waitFor({ timeout: TIMEOUT });
  assert.equal(await secondErr.count(), 0, `the passkey step failed: ${await popup.textContent('#sp-second-error')}`);
  assert.match(await verdictText(popup), /Genuine envelope from Example Clinic/);
  await popup.locator('#sp-message').waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.equal((await popup.textContent('#sp-subject')).trim(), 'Passkey test');
  await context.close();
});

// ---- the open page's second step with a code ---------------------------------

test('open page: second step with an app code, wrong code refused; 429 offers a mailed link', { timeout: TIMEOUT * 8 }, async () => {
  const EMAIL = 'ash@example.org';
  const PASSWORD = 'Juniper canal 88 kites';
  recipientAdd(ctx.keyd.dataDir, EMAIL, PASSWORD);
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  await signIn(page, EMAIL, PASSWORD);
  await confirmIfAsked(page, PASSWORD);
  await submit(page, page.locator('#sp-totp-add'));
  const secret = base32Decode((await page.textContent('#sp-totp-secret')).trim());
  const enrolStep = stepNow();
  await page.fill('#code', totp(secret, enrolStep));
  await submit(page, page.getByRole('button', { name: 'Turn on' }));
  await page.locator('#sp-totp-on').waitFor({ timeout: TIMEOUT });
  await signOut(page);

  const file = seal(ctx, makeMail({ to: EMAIL, subject: 'Code test', text: 'Opened with a code.\n' }), 'code.html');
  await page.goto(pathToFileURL(file).href);
  const popup = await clickOpen(page);
  await popup.locator('#sp-login').waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.equal(await popup.getAttribute('#sp-forgot', 'href'), '/forgot');
  assert.equal(await submitLogin(popup, EMAIL, PASSWORD), SECOND_STEP);
  assert.equal(await popup.locator('#sp-code').isVisible(), true);
  assert.equal(await popup.locator('#sp-recovery-field').isVisible(), true);
  assert.equal(await popup.locator('#sp-second-passkey').isVisible(), false, 'no passkey button without a passkey');
  await screenshots(popup, 'open-second-code');
  const s0 = stepNow();
  const valid = new Set([-1, 0, 1].map((d) => totp(secret, s0 + d)));
  await popup.fill('#sp-code', ['000000', '111111', '222222', '333333'].find((c) => !valid.has(c)));
  await popup.click('#sp-second-submit');
  await popup.locator('#sp-second-error:not([hidden])').waitFor({ timeout: TIMEOUT });
  assert.match(await popup.textContent('#sp-second-error'), /code is not right/);
  await popup.fill('#sp-code', totp(secret, Math.max(stepNow(), enrolStep + 1)));
  await popup.click('#sp-second-submit');
  assert.match(await verdictText(popup), /Genuine envelope from Example Clinic/);
  assert.equal((await popup.textContent('#sp-subject')).trim(), 'Code test');
  await context.close();

  // Too many wrong passwords: the answer offers a sign-in link by mail.
  const c2 = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const p2 = await c2.newPage();
  await p2.goto(pathToFileURL(file).href);
  const pop2 = await clickOpen(p2);
  await pop2.locator('#sp-login').waitFor({ state: 'visible', timeout: TIMEOUT });
  let text = '';
  for (let i = 0; i < 12 && !/too many/i.test(text); i++) text = await submitLogin(pop2, EMAIL, `wrong password ${i}`);
  assert.match(text, /Too many attempts/);
  const mailLink = pop2.locator('#sp-login-error a');
  assert.equal(await mailLink.getAttribute('href'), '/signin-link');
  await screenshots(pop2, 'open-locked');
  await c2.close();
});

// ---- the profile ------------------------------------------------------------

test('profile: names, phrase and questions changed on /account persist; a notice mail follows', { timeout: TIMEOUT * 6 }, async (t) => {
  const email = 'lena@example.org', password = 'Quiet harbour lantern 62';
  recipientAdd(ctx.keyd.dataDir, email, password);
  const context = await browser.newContext({ viewport: { width: 375, height: 740 } });
  const page = await context.newPage();
  await signIn(page, email, password);
  await page.goto(url('/account'));
  await confirmIfAsked(page, password);
  await page.getByLabel('First name').fill('Lena');
  await page.getByLabel('Last name').fill('Moreau');
  await page.getByLabel('Security phrase', { exact: true }).fill('copper kettle at noon');
  await page.selectOption('#pf-q1', '4');
  await page.selectOption('#pf-q2', '6');
  await page.selectOption('#pf-q3', '9');
  await page.getByLabel('Answer 1').fill('Hill School');
  await page.getByLabel('Answer 2').fill('Rue Verte');
  await page.getByLabel('Answer 3').fill('Lyon');
  await submit(page, page.getByRole('button', { name: 'Save the profile' }));
  assert.match(await pageText(page), /Your profile is saved/);
  await axe(t, page, 'the profile');
  await screenshots(page, 'profile-saved');
  // Another visit shows what was saved.
  await page.goto(url('/account'));
  assert.equal((await page.textContent('#sp-profile-name')).trim(), 'Lena Moreau');
  assert.match(await page.textContent('#sp-profile-phrase'), /shown before your password/);
  assert.equal(await page.inputValue('#pf-phrase'), 'copper kettle at noon');
  assert.deepEqual(await Promise.all(['#pf-q1', '#pf-q2', '#pf-q3'].map((s) => page.inputValue(s))), ['4', '6', '9']);
  await poll(async () => (mailsTo(ctx.keyd.outbox, email).some((m) => /Subject: Your profile for secure messages was changed/.test(m.text)) ? true : null));
  await context.close();
});
