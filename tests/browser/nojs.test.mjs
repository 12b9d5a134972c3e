// nojs.test.mjs - a browser that runs no script at all (Chromium with
// JavaScript disabled), from the envelope file to the message: the
// envelope's noscript button, the key server's page that says it will be
// trusted with this message, sign-in, the text, an attachment saved byte
// for byte, and the sign-out.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { makeMail } from '../lib/harness.mjs';
import { browserAndKeyd, seal, screenshots, TIMEOUT } from './browser-lib.mjs';

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
