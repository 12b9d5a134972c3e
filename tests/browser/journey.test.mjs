// journey.test.mjs - a first-time recipient in a real browser: the envelope
// from file://, registration and activation on the key server's pages, Open,
// sign-in in the key server's window, the message with its HTML body (inline
// image by cid) in a sandboxed frame, and three attachments with non-ASCII
// names saved byte for byte.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { makeMail, activationLink } from '../lib/harness.mjs';
import { fillRegistration, launch, keydWithOrg, seal, clickOpen, submitLogin, verdictText, screenshot, makePng, poll, TIMEOUT } from './browser-lib.mjs';

const EMAIL = 'pat@example.org';
const PASSWORD = 'Tulip harbour quartz 1991';
const PNG = makePng(40, 40, [200, 30, 40]);
const ATTACHMENTS = [
  { name: 'r\u00e9sultats d\u2019analyse.pdf', type: 'application/pdf', data: Buffer.concat([Buffer.from('%PDF-1.4\n'), crypto.randomBytes(70000)]) },
  { name: '\u041e\u0442\u0447\u0451\u0442 \u2116 7.txt', type: 'text/plain', data: Buffer.from('\u043f\u0440\u0438\u0432\u0435\u0442\r\nline two\n\u0000end', 'utf8') },
  { name: '\u8a3a\u65ad\u66f8-\u00fc\u00df.bin', type: 'application/octet-stream', data: crypto.randomBytes(200000) },
];

let browser, ctx;
before(async () => {
  browser = await launch();
  ctx = await keydWithOrg();
});
after(async () => {
  await browser?.close();
  await ctx?.keyd.stop();
});

test('first envelope: register, activate, open, read, save attachments', { timeout: TIMEOUT * 8 }, async () => {
  const mail = makeMail({
    from: 'Dr Alice Example <alice@clinic.example>', to: EMAIL, subject: 'Your results \u2013 caf\u00e9',
    text: 'Hello Pat,\nyour results are attached.\n',
    html: '<html><body><h1 id="greeting">Hello Pat</h1><p>Your results are attached.</p>' +
      '<img id="logo" alt="logo" src="cid:logo@clinic.example"></body></html>',
    attachments: [{ name: 'logo.png', type: 'image/png', data: PNG, cid: 'logo@clinic.example', inline: true }, ...ATTACHMENTS],
  });
  const envelope = seal(ctx, mail);
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  await page.goto(pathToFileURL(envelope).href);
  await screenshot(page, 'envelope');

  // The envelope shows who sent what, and no password field.
  const facts = await page.textContent('dl.facts');
  assert.match(await page.textContent('h1'), /Example Clinic/);
  assert.match(facts, /alice@clinic\.example/);
  assert.match(facts, /pat@example\.org/);
  assert.equal(await page.locator('input[type=password]').count(), 0);
  // Landmarks, headings and named controls for assistive technology.
  assert.equal(await page.getByRole('banner').count(), 1);
  assert.equal(await page.getByRole('main').count(), 1);
  assert.equal(await page.getByRole('contentinfo').count(), 1);
  assert.equal(await page.getByRole('heading', { level: 1 }).count(), 1);
  assert.equal(await page.getByRole('button', { name: 'Open', exact: true }).count(), 1);
  assert.equal(await page.getByRole('link', { name: /skip/i }).count(), 1);
  assert.ok((await page.content()).length > 0 && /^[\x00-\x7f]*$/.test(fs.readFileSync(envelope, 'latin1')), '7-bit envelope');

  // Register (first time), in the key server's window.
  const [reg] = await Promise.all([page.waitForEvent('popup', { timeout: TIMEOUT }),
    page.getByRole('link', { name: EMAIL }).click()]);
  await reg.waitForLoadState('domcontentloaded');
  assert.equal(new URL(reg.url()).origin, ctx.keyd.url);
  assert.equal(await reg.inputValue('[name=email]'), EMAIL);
  await fillRegistration(reg, PASSWORD);
  await screenshot(reg, 'register');
  await Promise.all([reg.waitForLoadState('domcontentloaded'), reg.locator('form [type=submit]').last().click()]);
  await reg.getByText(/check your mail/i).first().waitFor({ timeout: TIMEOUT }).catch(async (e) => {
    await screenshot(reg, 'register-failed');
    throw new Error(`${e.message}\nregistration page said: ${(await reg.textContent('body')).replace(/\s+/g, ' ').slice(0, 1500)}`);
  });

  await reg.close();

  // Open before activating: the key server's window receives the envelope;
  // a registration not yet confirmed cannot sign in, and the answer says
  // what to do without telling whether the address is registered.
  const popup = await clickOpen(page);
  assert.equal(new URL(popup.url()).origin, ctx.keyd.url);
  await popup.locator('#sp-login').waitFor({ state: 'visible', timeout: TIMEOUT });
  await screenshot(popup, 'login');
  assert.equal(await popup.getByLabel('Email address').getAttribute('autocomplete'), 'username');
  assert.equal(await popup.getByLabel('Password', { exact: true }).getAttribute('autocomplete'), 'current-password');
  await popup.getByLabel('Show password').check();
  assert.equal(await popup.getByLabel('Password', { exact: true }).getAttribute('type'), 'text');
  await popup.getByLabel('Show password').uncheck();
  assert.equal(await popup.getByLabel('Password', { exact: true }).getAttribute('type'), 'password');
  assert.match(await submitLogin(popup, EMAIL, 'not the password at all'), /Wrong email address or password/);
  const notYet = await submitLogin(popup, EMAIL, PASSWORD);
  assert.match(notYet, /Wrong email address or password/);
  assert.match(notYet, /If you registered recently, confirm your address with the link we mailed you first/);
  assert.equal(await popup.getAttribute('#sp-forgot', 'href'), '/forgot');

  // The link from the mail, opened in another browser: it asks for the
  // registration's password (only the person who registered can confirm).
  const link = activationLink(ctx.keyd.outbox, EMAIL);
  const other = await browser.newContext();
  const elsewhere = await other.newPage();
  await elsewhere.goto(link);
  await elsewhere.getByLabel(/password you chose when you registered/i).waitFor({ timeout: TIMEOUT });
  await screenshot(elsewhere, 'activate-other-browser');
  await other.close();

  // In the browser that registered, confirming is one button.
  const act = await context.newPage();
  await act.goto(link);
  await act.getByRole('button', { name: /confirm my address/i }).waitFor({ timeout: TIMEOUT });
  assert.equal(await act.locator('input[type=password]').count(), 0, 'no password asked in the registering browser');
  await act.getByRole('button', { name: /confirm my address/i }).click();
  await act.waitForLoadState('domcontentloaded');
  await act.getByText(/activated|confirmed/i).first().waitFor({ timeout: TIMEOUT });
  await act.close();

  // Sign in again in the same window: now the message opens.
  assert.equal(await submitLogin(popup, EMAIL, PASSWORD), null);
  assert.match(await verdictText(popup), /Genuine envelope from Example Clinic, signed and checked/);
  await popup.locator('#sp-message').waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.equal(await popup.inputValue('#sp-password'), '', 'the password field is cleared');
  assert.equal((await popup.textContent('#sp-subject')).trim(), 'Your results \u2013 caf\u00e9');
  assert.match(await popup.textContent('#sp-facts'), /alice@clinic\.example/);
  assert.match(await popup.locator('#sp-body .text-body').textContent(), /your results are attached/);

  // The HTML body: a sandboxed frame without scripts; the cid image is a data: URL and loads.
  const frameEl = popup.locator('iframe.html-body');
  assert.doesNotMatch(await frameEl.getAttribute('sandbox'), /allow-scripts/);
  const srcdoc = await frameEl.getAttribute('srcdoc');
  assert.ok(srcdoc.startsWith('<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; style-src \'unsafe-inline\'">'));
  assert.match(srcdoc, /src="data:image\/png;base64,/);
  assert.doesNotMatch(srcdoc, /cid:/);
  const frame = popup.frames().find((f) => f !== popup.mainFrame());
  assert.ok(frame, 'the message frame');
  await frame.locator('#greeting').waitFor({ timeout: TIMEOUT });
  assert.equal((await frame.locator('#greeting').textContent()).trim(), 'Hello Pat');
  // naturalWidth is 0 unless the image really decoded.
  assert.equal(await poll(() => frame.locator('#logo').evaluate((e) => (e.complete ? e.naturalWidth : null))), 40);
  await screenshot(popup, 'message');

  // Attachments: the inline image is not listed; the three others save byte for byte.
  const links = popup.locator('#sp-att-list a.download');
  assert.equal(await links.count(), ATTACHMENTS.length);
  for (const a of ATTACHMENTS) {
    const link = popup.locator('#sp-att-list a.download', { hasText: a.name });
    assert.equal(await link.count(), 1, `listed: ${a.name}`);
    assert.match(await link.locator('xpath=..').textContent(), new RegExp(a.type.replace('/', '\\/')));
    const [dl] = await Promise.all([popup.waitForEvent('download', { timeout: TIMEOUT }), link.click()]);
    assert.equal(dl.suggestedFilename(), a.name);
    const saved = fs.readFileSync(await dl.path());
    assert.ok(saved.equals(a.data), `bytes of ${a.name}`);
  }
  // The original message comes back byte for byte (the container's raw
  // recipe), rebuilt only when asked for: until then no file is behind it.
  assert.equal(await popup.getAttribute('#sp-original-link', 'href'), '#');
  const [orig] = await Promise.all([popup.waitForEvent('download', { timeout: TIMEOUT }), popup.click('#sp-original-link')]);
  assert.equal(orig.suggestedFilename(), 'message.eml');
  assert.ok(fs.readFileSync(await orig.path()).equals(mail), 'original message bytes');
  await context.close();
});
