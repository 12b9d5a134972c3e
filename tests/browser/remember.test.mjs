// remember.test.mjs - "Remember this device" on a phone (375 px wide,
// pop-up blocker on): sign in with the box ticked; on the next visit (the
// browser closed: only its lasting cookies are left) a second message of
// level medium opens without the password, and a message of level high
// shows the account's security phrase, with its warning, before the
// password is typed.  A fresh browser shows no phrase, and opens a message
// of level low without a sign-in.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { pathToFileURL } from 'node:url';
import { makeMail, recipientAdd, storeSql } from '../lib/harness.mjs';
import { axe, launch, keydWithOrg, seal, clickOpen, submitLogin, screenshots, TIMEOUT } from './browser-lib.mjs';

const EMAIL = 'remembered@example.org';
const PASSWORD = 'quiet lantern harbour 31';
const PHRASE = 'green kettle on a red shelf';
const PHONE = { width: 375, height: 740 };

let browser, ctx;
const env = {};

// A mail of security level `level` (the sender's header, read by the sealer).
function mailAt(level, subject, text) {
  const m = makeMail({ to: EMAIL, subject, text, messageId: `<${level}-${subject.length}@clinic.example>` });
  return Buffer.concat([Buffer.from(`X-Sealpost-Level: ${level}\r\n`), m]);
}

before(async () => {
  [browser, ctx] = await Promise.all([launch(), keydWithOrg()]);
  recipientAdd(ctx.keyd.dataDir, EMAIL, PASSWORD);
  storeSql(ctx.keyd.dataDir, `UPDATE accounts SET phrase = '${PHRASE}', phrase_enabled = 1 WHERE email = '${EMAIL}'`);
  env.first = seal(ctx, mailAt('medium', 'First letter', 'Hello,\nthe first letter.\n'), 'first.html');
  env.second = seal(ctx, mailAt('medium', 'Second letter here', 'Hello,\nthe second letter.\n'), 'second.html');
  env.high = seal(ctx, mailAt('high', 'Lab results, high', 'Hello,\nthe lab results.\n'), 'high.html');
  env.low = seal(ctx, mailAt('low', 'Opening hours', 'Hello,\nwe open at nine.\n'), 'low.html');
});
after(async () => {
  await browser?.close();
  await ctx?.keyd.stop();
});

// Open the envelope file in context c; returns the key server's page.
async function open(c, file) {
  const page = await c.newPage();
  await page.goto(pathToFileURL(file).href);
  return clickOpen(page);
}

const shown = (p, sel) => p.locator(`${sel}:not([hidden])`);

test('remember me: the next visit opens a medium message without the password and shows the phrase before it for a high one',
  { timeout: TIMEOUT * 4 }, async (t) => {
    const first = await browser.newContext({ viewport: PHONE });
    let p = await open(first, env.first);
    await shown(p, '#sp-login').waitFor({ timeout: TIMEOUT });
    assert.equal(await shown(p, '#sp-phrase-box').count(), 0, 'no phrase before this browser is remembered');
    await p.getByLabel('Remember this device').check();
    await screenshots(p, 'remember-signin');
    assert.equal(await submitLogin(p, EMAIL, PASSWORD), null);
    await shown(p, '#sp-message').waitFor({ timeout: TIMEOUT });
    assert.match(await p.textContent('#sp-body'), /the first letter/);

    // The browser is closed: its session cookie goes, the device cookie stays.
    const lasting = (await first.cookies()).filter((c) => c.expires > 0);
    assert.deepEqual(lasting.map((c) => c.name), ['sp_device']);
    assert.equal(lasting[0].httpOnly, true);
    assert.equal(lasting[0].sameSite, 'Strict');
    await first.close();

    const next = await browser.newContext({ viewport: PHONE });
    await next.addCookies(lasting);
    let typed = false;
    next.on('request', (rq) => {
      if (rq.method() === 'POST' && new URL(rq.url()).pathname === '/api/v1/session') typed = true;
    });
    p = await open(next, env.second);
    await shown(p, '#sp-message').waitFor({ timeout: TIMEOUT });
    assert.match(await p.textContent('#sp-body'), /the second letter/);
    assert.equal(typed, false, 'no password was sent');
    assert.equal(await shown(p, '#sp-login').count(), 0, 'the sign-in card never asked');
    await screenshots(p, 'remember-medium');

    // high: the card, with the phrase above the password
    p = await open(next, env.high);
    await shown(p, '#sp-login').waitFor({ timeout: TIMEOUT });
    await shown(p, '#sp-phrase-box').waitFor({ timeout: TIMEOUT });
    assert.equal((await p.textContent('#sp-phrase-shown')).trim(), PHRASE);
    await shown(p, '#sp-password-why').waitFor({ timeout: TIMEOUT });
    assert.match(await p.textContent('#sp-phrase-box'), /If this is not your phrase, do not type your password here\./);
    assert.equal(await p.inputValue('#sp-password'), '');
    const before = await p.evaluate(() => {
      const box = document.getElementById('sp-phrase-box');
      const pw = document.getElementById('sp-password');
      return !!(box.compareDocumentPosition(pw) & Node.DOCUMENT_POSITION_FOLLOWING);
    });
    assert.ok(before, 'the phrase comes before the password field');
    assert.equal(await p.inputValue('#sp-email'), EMAIL);
    const w = await p.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(w <= PHONE.width, `${w} px wide on a ${PHONE.width} px screen`);
    await screenshots(p, 'remember-phrase');
    await axe(t, p, 'the phrase before the password');
    assert.equal(await submitLogin(p, EMAIL, PASSWORD), null);
    await shown(p, '#sp-message').waitFor({ timeout: TIMEOUT });
    assert.match(await p.textContent('#sp-body'), /the lab results/);
    await next.close();

    // A fresh browser: no phrase, the password as always; a low message
    // opens without a sign-in.
    const fresh = await browser.newContext({ viewport: PHONE });
    p = await open(fresh, env.high);
    await shown(p, '#sp-login').waitFor({ timeout: TIMEOUT });
    assert.equal(await shown(p, '#sp-phrase-box').count(), 0);
    assert.ok(!(await p.textContent('#sp-login')).includes(PHRASE));
    await fresh.close();
    const other = await browser.newContext({ viewport: PHONE });
    p = await open(other, env.low);
    await shown(p, '#sp-message').waitFor({ timeout: TIMEOUT });
    assert.match(await p.textContent('#sp-body'), /we open at nine/);
    assert.equal(await shown(p, '#sp-login').count(), 0, 'no sign-in card');
    await screenshots(p, 'remember-low');
    await other.close();
    assert.match(storeSql(ctx.keyd.dataDir, "SELECT detail FROM audit WHERE event = 'release' ORDER BY id DESC LIMIT 1"), /auth=none/);
  });
