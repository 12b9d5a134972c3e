// firstread.test.mjs - a stranger's first message on a phone (375 px wide,
// pop-up blocker on), counting every deliberate step from the envelope file
// to the message: open the attachment, Open, "first time here", create a
// password, type the mailed code; the message then shows in the same
// window.  On the next visit, signing in asks for what the short sign-up
// left for later (names, phrase, questions) before the message.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { pathToFileURL } from 'node:url';
import { makeMail, mailsTo, mailedLink, recipientAdd, storeSql, sleepSync, orgKey } from '../lib/harness.mjs';
import { axe, launch, keydWithOrg, seal, clickOpen, submitLogin, screenshots, poll, TIMEOUT } from './browser-lib.mjs';

const EMAIL = 'first.reader@example.org';
const PASSWORD = 'saffron tugboat winter 77';
const PHONE = { width: 375, height: 740 };

let browser, ctx, envelope;
before(async () => {
  [browser, ctx] = await Promise.all([launch(), keydWithOrg()]);
  envelope = seal(ctx, makeMail({ to: EMAIL, subject: 'Your first results', text: 'Hello,\nthe first results are in.\n' }));
});
after(async () => {
  await browser?.close();
  await ctx?.keyd.stop();
});

async function noOverflow(page, what) {
  const w = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(w <= PHONE.width, `${what}: ${w} px wide on a ${PHONE.width} px screen`);
}

// The code of the newest mail to `to` (waits, bounded).
function mailedCode(to = EMAIL) {
  const until = Date.now() + 5000;
  for (;;) {
    const m = mailsTo(ctx.keyd.outbox, to).map((x) => /^ {4}(\d{6})$/m.exec(x.body)).filter(Boolean);
    if (m.length) return m[m.length - 1][1];
    if (Date.now() > until) throw new Error('no code mailed');
    sleepSync(25);
  }
}

test('a stranger reads the first message in at most six steps, in the same window', { timeout: TIMEOUT * 4 }, async (t) => {
  const steps = [];
  const context = await browser.newContext({ viewport: PHONE });
  const page = await context.newPage();

  steps.push('open the attachment');
  await page.goto(pathToFileURL(envelope).href);

  steps.push('Open');
  const popup = await clickOpen(page);
  await popup.locator('#sp-login:not([hidden])').waitFor({ timeout: TIMEOUT });
  await noOverflow(popup, 'sign-in');
  await screenshots(popup, 'firstread-signin');

  steps.push('first time here');
  await popup.getByRole('button', { name: 'Create your password' }).click();
  const newEmail = popup.getByLabel('Your email', { exact: true });
  await poll(async () => (await newEmail.inputValue()) || null);
  assert.equal(await newEmail.inputValue(), EMAIL, 'the address is filled in');
  assert.equal(await newEmail.getAttribute('readonly'), '', 'and read-only');
  await noOverflow(popup, 'create password');
  await screenshots(popup, 'firstread-create');
  await axe(t, popup, 'create password');

  steps.push('create a password');
  await popup.getByLabel('New password', { exact: true }).fill(PASSWORD);
  await popup.getByLabel('New password again').fill(PASSWORD);
  await popup.getByRole('button', { name: 'Create my password' }).click();
  await popup.getByText(`We sent a 6-digit code to ${EMAIL}.`).waitFor({ timeout: TIMEOUT });
  assert.equal(await popup.inputValue('#sp-new-password'), '', 'the password field is emptied once sent');
  await noOverflow(popup, 'code');
  await screenshots(popup, 'firstread-code');
  await axe(t, popup, 'code');

  steps.push('confirm the code');
  const pagesBefore = context.pages().length;
  const urlBefore = popup.url();
  await popup.getByLabel('6-digit code from the mail').fill(mailedCode());
  await popup.getByRole('button', { name: 'Confirm and open' }).click();

  // The message, in the same window, with nothing more to do.
  await popup.locator('#sp-message:not([hidden])').waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.match(await popup.textContent('#sp-body'), /the first results are in/);
  assert.equal(popup.url(), urlBefore, 'the same page, not a new one');
  assert.equal(context.pages().length, pagesBefore, 'no other window opened');
  assert.ok(await popup.locator('#sp-login[hidden]').count(), 'the card is gone');
  assert.match(await popup.textContent('#sp-who-email'), new RegExp(EMAIL.replace(/\./g, '\\.')));
  await noOverflow(popup, 'message');
  await screenshots(popup, 'firstread-message');
  assert.ok(steps.length <= 6, `${steps.length} steps: ${steps.join(', ')}`);
  assert.equal(storeSql(ctx.keyd.dataDir, `SELECT profile_todo FROM accounts WHERE email = '${EMAIL}'`), '1');
  await context.close();

  // The second read, in a fresh browser: sign in, then the card asks for
  // what is left before the message.
  const later = await browser.newContext({ viewport: PHONE });
  const env2 = await later.newPage();
  await env2.goto(pathToFileURL(envelope).href);
  const p2 = await clickOpen(env2);
  await p2.locator('#sp-login:not([hidden])').waitFor({ timeout: TIMEOUT });
  await p2.fill('#sp-email', EMAIL);
  await p2.fill('#sp-password', PASSWORD);
  await p2.click('#sp-login-submit');
  await p2.locator('#sp-finish-part:not([hidden])').waitFor({ timeout: TIMEOUT });
  assert.equal((await p2.textContent('#sp-login-title')).trim(), 'Finish your account');
  assert.match(await p2.textContent('#sp-finish-lead'), /your name, a personal security phrase and three security questions/);
  assert.equal(await p2.locator('#sp-message:not([hidden])').count(), 0, 'the message waits for the card');
  await noOverflow(p2, 'finish your account');
  await screenshots(p2, 'firstread-finish');
  await axe(t, p2, 'finish your account');
  await p2.getByLabel('First name').fill('Robin');
  await p2.getByLabel('Last name').fill('Okafor');
  await p2.getByLabel('Personal security phrase').fill('heron at dawn');
  for (const i of [1, 2, 3]) {
    await p2.selectOption(`#sp-q${i}`, String(i + 2));
    await p2.fill(`#sp-a${i}`, `answer ${i}`);
  }
  await p2.getByRole('button', { name: 'Save and continue' }).click();
  await p2.locator('#sp-message:not([hidden])').waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.match(await p2.textContent('#sp-body'), /the first results are in/);
  assert.equal(storeSql(ctx.keyd.dataDir, `SELECT first_name, phrase, q1, profile_todo FROM accounts WHERE email = '${EMAIL}'`),
    'Robin|heron at dawn|3|0');
  await later.close();
});

test('a blind copy registers with its own address, not the one the envelope names, and reads the message', { timeout: TIMEOUT * 4 }, async () => {
  const named = 'named.reader@example.org', blind = 'blind.reader@example.org';
  const env = seal(ctx, makeMail({ to: named, subject: 'Copy', text: 'Hello,\nthe plan is attached.\n' }), 'blind.html',
    ['--rcpt', named, '--rcpt', blind]);
  const context = await browser.newContext({ viewport: PHONE });
  const page = await context.newPage();
  await page.goto(pathToFileURL(env).href);
  const popup = await clickOpen(page);
  await popup.locator('#sp-login:not([hidden])').waitFor({ timeout: TIMEOUT });
  await popup.getByRole('button', { name: 'Create your password' }).click();
  const newEmail = popup.getByLabel('Your email', { exact: true });
  await poll(async () => (await newEmail.inputValue()) || null);
  assert.equal(await newEmail.inputValue(), named, 'the envelope names one recipient: filled in');
  assert.equal(await newEmail.getAttribute('readonly'), '');
  await popup.getByRole('button', { name: 'Not your address? Use another' }).click();
  assert.equal(await newEmail.getAttribute('readonly'), null, 'now the reader types its own');
  assert.equal(await newEmail.inputValue(), '');
  assert.ok(await popup.locator('#sp-new-other').isHidden());
  await newEmail.fill(blind);
  await popup.getByLabel('New password', { exact: true }).fill(PASSWORD);
  await popup.getByLabel('New password again').fill(PASSWORD);
  await popup.getByRole('button', { name: 'Create my password' }).click();
  await popup.getByText(`We sent a 6-digit code to ${blind}.`).waitFor({ timeout: TIMEOUT });
  await popup.getByLabel('6-digit code from the mail').fill(mailedCode(blind));
  await popup.getByRole('button', { name: 'Confirm and open' }).click();
  await popup.locator('#sp-message:not([hidden])').waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.match(await popup.textContent('#sp-body'), /the plan is attached/);
  assert.match(await popup.innerText('#sp-facts'), /Bcc\s+you, as a blind copy/);
  await noOverflow(popup, 'blind copy');
  await context.close();
});

// A phone opens the envelope file and chooses "first time here": its
// context and the key server's window, the address filled in.
async function firstTimeCard(env) {
  const context = await browser.newContext({ viewport: PHONE });
  const page = await context.newPage();
  await page.goto(pathToFileURL(env).href);
  const popup = await clickOpen(page);
  await popup.getByRole('button', { name: 'Create your password' }).click();
  await poll(async () => (await popup.inputValue('#sp-new-email')) || null);
  return { context, popup };
}

test('a wrong code says so beside the field, and the right one still opens the message', { timeout: TIMEOUT * 2 }, async () => {
  const to = 'second.reader@example.org';
  const env = seal(ctx, makeMail({ to, subject: 'Typo', text: 'Hello,\nafter a typo.\n' }), 'typo.html');
  const { context, popup } = await firstTimeCard(env);
  await popup.getByLabel('New password', { exact: true }).fill(PASSWORD);
  await popup.getByLabel('New password again').fill(PASSWORD + '!');
  await popup.getByRole('button', { name: 'Create my password' }).click();
  assert.match(await popup.textContent('#sp-signup-error'), /do not match/);
  await popup.getByLabel('New password again').fill(PASSWORD);
  await popup.getByRole('button', { name: 'Create my password' }).click();
  const code = mailedCode(to);
  await popup.getByLabel('6-digit code from the mail').fill(String((Number(code) + 1) % 1000000).padStart(6, '0'));
  await popup.getByRole('button', { name: 'Confirm and open' }).click();
  await popup.locator('#sp-confirm-error:not([hidden])').waitFor({ timeout: TIMEOUT });
  assert.match(await popup.textContent('#sp-confirm-error'), /not right/);
  await popup.getByLabel('6-digit code from the mail').fill(code);
  await popup.getByRole('button', { name: 'Confirm and open' }).click();
  await popup.locator('#sp-message:not([hidden])').waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.match(await popup.textContent('#sp-body'), /after a typo/);
  await context.close();
});

test('strangers who used up the address\'s codes for the hour do not keep the recipient from signing up from the message', { timeout: TIMEOUT * 2 }, async () => {
  const to = 'targeted.reader@example.org';
  // signed (format 2): the key server recorded its ciphertext's digest
  const env = seal(ctx, makeMail({ to, subject: 'Held', text: 'Hello,\nyour letter is here.\n' }), 'held.html',
    ['--sign-key', orgKey(ctx.token)]);
  // strangers (without the message) ask for the address's three codes of the hour
  const ask = () => fetch(`${ctx.keyd.url}/api/v1/signup`, { method: 'POST',
    headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ email: to, password: 'some stranger 1234' }) });
  for (let i = 0; i < 3; i++) assert.equal((await ask()).status, 202);
  assert.equal((await ask()).status, 429);
  const before = mailsTo(ctx.keyd.outbox, to).length;
  // the recipient's page holds the envelope, and says so
  const { context, popup } = await firstTimeCard(env);
  await popup.getByLabel('New password', { exact: true }).fill(PASSWORD);
  await popup.getByLabel('New password again').fill(PASSWORD);
  await popup.getByRole('button', { name: 'Create my password' }).click();
  await popup.getByText(`We sent a 6-digit code to ${to}.`).waitFor({ timeout: TIMEOUT });
  await poll(async () => mailsTo(ctx.keyd.outbox, to).length > before || null);
  await popup.getByLabel('6-digit code from the mail').fill(mailedCode(to));
  await popup.getByRole('button', { name: 'Confirm and open' }).click();
  await popup.locator('#sp-message:not([hidden])').waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.match(await popup.textContent('#sp-body'), /your letter is here/);
  await context.close();
});

// A phone opens the envelope file, chooses Open and, on the card, "Forgot
// your password?": its context and the key server's window.
async function forgotCard(env) {
  const context = await browser.newContext({ viewport: PHONE });
  const page = await context.newPage();
  await page.goto(pathToFileURL(env).href);
  const popup = await clickOpen(page);
  await popup.locator('#sp-login').waitFor({ state: 'visible', timeout: TIMEOUT });
  await popup.getByRole('link', { name: 'Forgot your password?' }).click();
  await popup.locator('#sp-forgot-part').waitFor({ state: 'visible', timeout: TIMEOUT });
  return { context, popup };
}

test('strangers who used up the address\'s mails for the hour do not keep a recipient who forgot the password from choosing a new one from the message', { timeout: TIMEOUT * 3 }, async (t) => {
  const to = 'forgetful.reader@example.org';
  const NEW = 'harbour violet engine 58';
  recipientAdd(ctx.keyd.dataDir, to, 'the password long forgotten 1');
  const env = seal(ctx, makeMail({ to, subject: 'Forgot', text: 'Hello,\nyour letter, after a new password.\n' }),
    'forgot.html');
  // strangers (without the message) ask for the address's three reset mails of the hour
  const ask = () => fetch(`${ctx.keyd.url}/api/v1/forgot`, { method: 'POST',
    headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ email: to }) });
  for (let i = 0; i < 3; i++) assert.equal((await ask()).status, 202);
  await poll(async () => mailsTo(ctx.keyd.outbox, to).length === 3 || null);

  // the recipient's phone: the message, Open, "Forgot your password?"
  const { context, popup } = await forgotCard(env);
  assert.equal(popup.url().includes('/forgot'), false, 'the same window, the same page');
  assert.equal(await popup.textContent('#sp-login-title'), 'Forgot your password?');
  assert.equal(await popup.getByLabel('Send the link to').inputValue(), to);
  await noOverflow(popup, 'forgot');
  await axe(t, popup, 'forgot');
  await popup.getByRole('button', { name: 'Send me a link' }).click();
  await popup.getByText(`If ${to} has an account, we sent a link to it.`).waitFor({ timeout: TIMEOUT });
  await screenshots(popup, 'forgot-card-sent');
  // the page held the message: its link is mailed, beyond the three
  const link = mailedLink(ctx.keyd.outbox, to, 'reset', { skip: 3 });
  assert.equal(mailsTo(ctx.keyd.outbox, to).length, 4);

  // the link, from the mail app, in another tab
  const tab = await context.newPage();
  await tab.goto(link);
  await tab.fill('#password', NEW);
  await tab.fill('#password2', NEW);
  await tab.getByRole('button', { name: /set my new password/i }).click();
  await tab.waitForLoadState();
  assert.match(await tab.title(), /password is changed/i);
  await tab.close();

  // back on the message's page: sign in with the new password and read
  await popup.getByRole('button', { name: 'Back to sign in' }).click();
  await popup.locator('#sp-signin-part').waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.equal(await submitLogin(popup, to, NEW), null);
  await popup.locator('#sp-message:not([hidden])').waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.match(await popup.textContent('#sp-body'), /your letter, after a new password/);
  await context.close();
});

test('the card\'s forgot-password says what is missing and answers like the forgot page for an unknown address', { timeout: TIMEOUT * 2 }, async () => {
  const to = 'nobody.here@example.org';
  const env = seal(ctx, makeMail({ to, subject: 'Nobody', text: 'Hello.\n' }), 'nobody.html');
  const { context, popup } = await forgotCard(env);
  await popup.getByLabel('Send the link to').fill('');
  await popup.getByRole('button', { name: 'Send me a link' }).click();
  assert.equal(await popup.textContent('#sp-forgot-error'), 'Enter your email address.');
  await popup.getByLabel('Send the link to').fill('not an address');
  await popup.getByRole('button', { name: 'Send me a link' }).click();
  await popup.locator('#sp-forgot-error:not([hidden])').waitFor({ timeout: TIMEOUT });
  assert.match(await popup.textContent('#sp-forgot-error'), /address/i);
  await popup.getByLabel('Send the link to').fill(to);
  await popup.getByRole('button', { name: 'Send me a link' }).click();
  await popup.getByText(`If ${to} has an account, we sent a link to it.`).waitFor({ timeout: TIMEOUT });
  assert.equal(await popup.locator('#sp-forgot-error').isVisible(), false);
  sleepSync(300);
  assert.equal(mailsTo(ctx.keyd.outbox, to).length, 0, 'no account, no mail');
  await context.close();
});
