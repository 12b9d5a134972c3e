// deadends.test.mjs - the envelope when the key server cannot help: the
// key server stopped while the envelope is open says so in the envelope
// itself (what to try, whom to contact), and the window of the browser's
// error page is closed again; with the key server up, the same check leaves
// the window alone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { pathToFileURL } from 'node:url';
import { makeMail } from '../lib/harness.mjs';
import { launch, keydWithOrg, seal, TIMEOUT } from './browser-lib.mjs';

let browser, ctx, file;
before(async () => {
  browser = await launch();
  ctx = await keydWithOrg();
  file = seal(ctx, makeMail({ from: 'Dr Alice <alice@clinic.example>', to: 'pat@example.org' }));
});
after(async () => {
  await browser?.close();
  await ctx?.keyd.stop();
});

async function clickOpen() {
  const context = await browser.newContext({ viewport: { width: 375, height: 740 } });
  const page = await context.newPage();
  await page.goto(pathToFileURL(file).href);
  const [popup] = await Promise.all([context.waitForEvent('page', { timeout: TIMEOUT }), page.click('#sp-open')]);
  return { context, page, popup };
}

test('with the key server up, Open keeps its window and the envelope says nothing of a failure', async () => {
  const { context, page, popup } = await clickOpen();
  await popup.locator('#sp-login:not([hidden])').waitFor({ state: 'visible', timeout: TIMEOUT });
  // The probe has answered by now (it is an image of the same server).
  await page.waitForFunction(() => performance.getEntriesByType('resource').some((e) => e.name.includes('/static/reach.svg')),
    null, { timeout: TIMEOUT });
  assert.equal(popup.isClosed(), false);
  assert.doesNotMatch(await page.textContent('#sp-status'), /cannot be reached/);
  await context.close();
});

test('the key server stopped: the envelope says so, with whom to contact, and closes the error window', async () => {
  await ctx.keyd.stop();
  const { context, page, popup } = await clickOpen();
  // listened for from the start: the window may close before the text shows
  const closed = popup.isClosed() ? Promise.resolve() : popup.waitForEvent('close', { timeout: TIMEOUT }).catch(() => {});
  const status = page.locator('#sp-status');
  await page.waitForFunction(() => /cannot be reached/.test(document.getElementById('sp-status').textContent),
    null, { timeout: TIMEOUT });
  const text = await status.textContent();
  assert.match(text, new RegExp(`The key server ${ctx.keyd.url.replace(/[.]/g, '\\.')} cannot be reached`));
  assert.match(text, /click Open again in a few minutes/);
  assert.match(text, /contact alice@clinic\.example \(Example Clinic\)/);
  await closed;
  assert.equal(popup.isClosed(), true, 'the window with the browser error page is closed');
  assert.equal(await status.getAttribute('role'), 'status');
  await context.close();
});
