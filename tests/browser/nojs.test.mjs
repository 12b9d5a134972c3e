// nojs.test.mjs - a browser that runs no script at all (Chromium with
// JavaScript disabled), from the envelope file to the message: the
// envelope's noscript button, the key server's page that says it will be
// trusted with this message, sign-in, the text, an attachment saved byte
// for byte, and the sign-out; on a phone, "Forgot your password?" to the
// reset link by mail and back to the message.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { makeMail, mailsTo, mailedLink, recipientAdd } from '../lib/harness.mjs';
import { browserAndKeyd, seal, screenshots, poll, TIMEOUT } from './browser-lib.mjs';

const EMAIL = 'pat@example.org';
const PASSWORD = 'Heron quartz window 58';
const SECRET = 'Ferritin 85 ng/mL, marker NJ-4410';
const DATA = crypto.randomBytes(40000);

const t = browserAndKeyd(before, after, EMAIL, PASSWORD);

test('without JavaScript: envelope, the trust notice, sign-in, the text and an attachment', async () => {
  const file = seal(t.ctx, makeMail({ to: EMAIL, text: `Dear Pat,\n${SECRET}\n`,
    attachments: [{ name: 'results.pdf', type: 'application/pdf', data: DATA }] }), 'nojs.html');
  const context = await t.browser.newContext({ javaScriptEnabled: false, acceptDownloads: true });
  try {
    const page = await context.newPage();
    await page.goto(pathToFileURL(file).href);
    const read = page.locator('#sp-read');
    await read.waitFor({ state: 'visible', timeout: TIMEOUT });
    await screenshots(page, 'nojs-envelope');
    const [popup] = await Promise.all([page.waitForEvent('popup', { timeout: TIMEOUT }), read.click()]);
    await popup.waitForLoadState('domcontentloaded');
    assert.match(await popup.locator('#sp-trust').innerText(), /trusts the key server with this message/);
    assert.equal(await popup.locator('script').count(), 0);
    await screenshots(popup, 'nojs-signin');
    await popup.fill('#email', EMAIL);
    await popup.fill('#password', PASSWORD);
    await Promise.all([popup.waitForNavigation({ timeout: TIMEOUT }),
      popup.click('button:has-text("Sign in and read the message")')]);
    assert.match(await popup.locator('#sp-genuine').innerText(), /Genuine envelope from Example Clinic/);
    assert.match(await popup.locator('#sp-text').innerText(), new RegExp(SECRET));
    await screenshots(popup, 'nojs-message');
    const [dl] = await Promise.all([popup.waitForEvent('download', { timeout: TIMEOUT }),
      popup.click('button:has-text("Download results.pdf")')]);
    assert.equal(dl.suggestedFilename(), 'results.pdf');
    assert.ok(fs.readFileSync(await dl.path()).equals(DATA), 'the attachment, byte for byte');
    // a computer others use: sign out from the message, still without scripts
    const session = async () => (await context.cookies()).filter((c) => c.name === 'sp_session' && c.value).length;
    assert.equal(await session(), 1, 'signed in');
    await Promise.all([popup.waitForNavigation({ timeout: TIMEOUT }),
      popup.click('#sp-signout button:has-text("Sign out")')]);
    assert.match(await popup.locator('main').innerText(), /You are signed out/);
    assert.equal(await session(), 0, 'no session cookie left');
  } finally {
    await context.close();
  }
});

test('without JavaScript on a phone: "Forgot your password?" mails the link, also after strangers spent the address\'s mails; the new password reads the message', { timeout: TIMEOUT * 3 }, async () => {
  const to = 'forgetful.nojs@example.org';
  const NEW = 'harbour violet engine 61';
  recipientAdd(t.ctx.keyd.dataDir, to, 'lighthouse amber ledger 9');
  const file = seal(t.ctx, makeMail({ to, subject: 'No scripts', text: 'Hello,\nyour letter, read without scripts.\n' }),
    'nojs-forgot.html');
  // strangers (without the message) ask for the address's three reset mails of the hour
  const ask = () => fetch(`${t.ctx.keyd.url}/api/v1/forgot`, { method: 'POST',
    headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ email: to }) });
  for (let i = 0; i < 3; i++) assert.equal((await ask()).status, 202);
  await poll(async () => mailsTo(t.ctx.keyd.outbox, to).length === 3 || null);

  const context = await t.browser.newContext({ javaScriptEnabled: false, viewport: { width: 375, height: 740 } });
  try {
    const page = await context.newPage();
    await page.goto(pathToFileURL(file).href);
    const read = page.locator('#sp-read');
    await read.waitFor({ state: 'visible', timeout: TIMEOUT });
    const [popup] = await Promise.all([page.waitForEvent('popup', { timeout: TIMEOUT }), read.click()]);
    await popup.waitForLoadState('domcontentloaded');
    const forgot = popup.getByRole('button', { name: 'Forgot your password? Mail me a link' });
    // no address yet: the page says what to do
    await Promise.all([popup.waitForNavigation({ timeout: TIMEOUT }), forgot.click()]);
    assert.match(await popup.getByRole('alert').innerText(), /Type the address your secure messages are sent to/);
    await popup.fill('#email', to);
    await Promise.all([popup.waitForNavigation({ timeout: TIMEOUT }), forgot.click()]);
    assert.equal(await popup.getByRole('status').innerText(),
      `If ${to} has an account, we sent a link to it. It works once, for one hour.`);
    assert.equal(await popup.inputValue('#email'), to);
    const box = await forgot.boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= 375, 'the button fits the phone\'s width');
    await screenshots(popup, 'nojs-forgot-sent');
    // the page held the message: its link is mailed, beyond the three
    const link = mailedLink(t.ctx.keyd.outbox, to, 'reset', { skip: 3 });
    assert.equal(mailsTo(t.ctx.keyd.outbox, to).length, 4);

    // the link, from the mail app, in another tab: still no scripts
    const tab = await context.newPage();
    await tab.goto(link);
    await tab.fill('#password', NEW);
    await tab.fill('#password2', NEW);
    await Promise.all([tab.waitForNavigation({ timeout: TIMEOUT }),
      tab.getByRole('button', { name: /set my new password/i }).click()]);
    assert.match(await tab.title(), /password is changed/i);
    await tab.close();

    // back on the page of the message: the new password reads it
    await popup.fill('#password', NEW);
    await Promise.all([popup.waitForNavigation({ timeout: TIMEOUT }),
      popup.click('button:has-text("Sign in and read the message")')]);
    assert.match(await popup.locator('#sp-text').innerText(), /your letter, read without scripts/);
  } finally {
    await context.close();
  }
});
