// keyboard.test.mjs - the first read with the keyboard alone, at 375 pixels
// wide: Tab to Open in the envelope, Enter; the sign-in card takes the
// password where the focus already is; the message takes the focus; Tab
// reaches the attachment and Enter saves it.  Every stop shows where the
// focus is.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { makeMail } from '../lib/harness.mjs';
import { browserAndKeyd, seal, TIMEOUT } from './browser-lib.mjs';

const EMAIL = 'kim@example.org';
const PASSWORD = 'Copper heron meadow 73';
const t = browserAndKeyd(before, after, EMAIL, PASSWORD);

// Where the focus is: {id, tag, text, visible} (visible: an outline or a
// ring is drawn around it).
const focused = (page) => page.evaluate(() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const st = getComputedStyle(el);
  return { id: el.id, tag: el.localName, text: (el.textContent || el.value || '').trim().slice(0, 60),
    visible: (st.outlineStyle !== 'none' && parseFloat(st.outlineWidth) > 0) || st.boxShadow !== 'none' };
});

// Tab (at most limit times) until pred(focus) holds; returns that focus.
async function tabTo(page, pred, limit, what) {
  const seen = [];
  for (let i = 0; i < limit; i++) {
    await page.keyboard.press('Tab');
    const f = await focused(page);
    seen.push(f && (f.id || f.tag + ':' + f.text));
    if (f && pred(f)) return f;
  }
  assert.fail(`${what} not reached in ${limit} tabs: ${seen.join(' | ')}`);
}

test('the first read with the keyboard alone, focus visible at every stop', { timeout: TIMEOUT * 4 }, async () => {
  const data = Buffer.from('keyboard attachment bytes\n'.repeat(100));
  const file = seal(t.ctx, makeMail({ to: EMAIL, subject: 'Keyboard only', text: 'Read with the keyboard.\n',
    attachments: [{ name: 'letter.txt', type: 'text/plain', data }] }), 'keyboard.html');
  const context = await t.browser.newContext({ viewport: { width: 375, height: 740 }, acceptDownloads: true });
  const page = await context.newPage();
  await page.goto(pathToFileURL(file).href);

  const open = await tabTo(page, (f) => f.id === 'sp-open', 8, 'Open');
  assert.ok(open.visible, 'the focus ring shows on Open');
  const [popup] = await Promise.all([context.waitForEvent('page', { timeout: TIMEOUT }), page.keyboard.press('Enter')]);
  await popup.locator('#sp-login:not([hidden])').waitFor({ state: 'visible', timeout: TIMEOUT });
  // The one recipient's address is filled in: the focus waits in the
  // password field.
  await popup.waitForFunction(() => document.activeElement && document.activeElement.id === 'sp-password', null, { timeout: TIMEOUT });
  assert.equal(await popup.inputValue('#sp-email'), EMAIL);
  await popup.keyboard.type(PASSWORD);
  await popup.keyboard.press('Enter');
  await popup.locator('#sp-message:not([hidden])').waitFor({ state: 'visible', timeout: TIMEOUT });
  // The message takes the focus (a screen reader starts at its subject).
  await popup.waitForFunction(() => document.activeElement && document.activeElement.id === 'sp-subject', null, { timeout: TIMEOUT });
  assert.match(await popup.textContent('#sp-text'), /Read with the keyboard/);

  const att = await tabTo(popup, (f) => f.tag === 'a' && f.text === 'letter.txt', 12, 'the attachment');
  assert.ok(att.visible, 'the focus ring shows on the attachment');

  const [dl] = await Promise.all([popup.waitForEvent('download', { timeout: TIMEOUT }), popup.keyboard.press('Enter')]);
  assert.ok(fs.readFileSync(await dl.path()).equals(data), 'the attachment saved byte for byte');

  // Sign out is reachable too, and every stop on the way shows the focus.
  const out = await tabTo(popup, (f) => f.id === 'sp-signout', 20, 'Sign out');
  assert.ok(out.visible, 'the focus ring shows on Sign out');
  await context.close();
});
