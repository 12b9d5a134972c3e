// reading.test.mjs - the reading view: a link in a message opens, through
// the page that shows where it really goes, in a new tab without opener or
// referrer (never inside the message's frame); the frame grows with its
// content; a 600-pixel newsletter fits a phone's width.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { makeMail, recipientAdd } from '../lib/harness.mjs';
import { launch, keydWithOrg, seal, clickOpen, signInIfAsked, screenshots, TIMEOUT } from './browser-lib.mjs';

const EMAIL = 'pat@example.org';
const PASSWORD = 'Heron quartz window 58';

let browser, ctx, site, visits;
before(async () => {
  browser = await launch();
  ctx = await keydWithOrg();
  recipientAdd(ctx.keyd.dataDir, EMAIL, PASSWORD);
  // The site a message links to: records what each visit sent.
  visits = [];
  site = http.createServer((req, res) => {
    if (req.url !== '/favicon.ico') visits.push({ url: req.url, referer: req.headers.referer || null });
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!DOCTYPE html><title>landing</title><p id="landed">landed</p>');
  });
  await new Promise((r) => site.listen(0, '127.0.0.1', r));
});
after(async () => {
  await browser?.close();
  await ctx?.keyd.stop();
  await new Promise((r) => (site ? site.close(r) : r()));
});

async function openHtml(html, width, name) {
  const file = seal(ctx, makeMail({ to: EMAIL, html, text: 'plain version' }), `${name}.html`);
  const context = await browser.newContext({ viewport: { width, height: 740 } });
  const page = await context.newPage();
  await page.goto(pathToFileURL(file).href);
  const popup = await clickOpen(page);
  await signInIfAsked(popup, EMAIL, PASSWORD);
  await popup.locator('#sp-message:not([hidden])').waitFor({ state: 'visible', timeout: TIMEOUT });
  const frame = popup.locator('iframe.html-body');
  await frame.waitFor({ state: 'visible', timeout: TIMEOUT });
  // the frame has been measured once it loaded
  await popup.waitForFunction(() => {
    const f = document.querySelector('iframe.html-body');
    return f && f.contentDocument && f.contentDocument.readyState === 'complete' && f.style.height !== '';
  }, null, { timeout: TIMEOUT });
  return { context, popup, frame };
}

const frameBox = (popup) => popup.evaluate(() => {
  const f = document.querySelector('iframe.html-body');
  const root = f.contentDocument.documentElement;
  return { height: f.clientHeight, width: f.clientWidth, innerScroll: root.scrollHeight - f.contentWindow.innerHeight,
    innerWide: root.scrollWidth - f.contentWindow.innerWidth, pageWide: document.documentElement.scrollWidth };
});

test('a link opens the page that shows its real destination, in a new tab without opener or referrer', async () => {
  const dest = `http://127.0.0.1:${site.address().port}/landing?ref=results`;
  const { context, popup, frame } = await openHtml(
    `<p>Hello,</p><p><a id="l" href="${dest}">See your results</a></p>`, 1280, 'link');
  const [tab] = await Promise.all([context.waitForEvent('page', { timeout: TIMEOUT }),
    popup.frameLocator('iframe.html-body').locator('#l').click()]);
  await tab.waitForLoadState('domcontentloaded');
  assert.equal(new URL(tab.url()).origin, ctx.keyd.url, 'the key server\'s page first');
  assert.equal(new URL(tab.url()).pathname, '/leave');
  assert.equal((await tab.textContent('#sp-leave-host')).trim(), '127.0.0.1');
  assert.equal((await tab.textContent('#sp-leave-url')).trim(), dest);
  assert.equal(await tab.evaluate(() => window.opener), null);
  assert.equal(visits.length, 0, 'nothing reached the site before the second click');
  // The message stays where it was.
  assert.equal(new URL(popup.url()).pathname, '/open');
  assert.ok(await frame.isVisible());
  await screenshots(tab, 'leave');
  await tab.click('#sp-leave-go');
  await tab.locator('#landed').waitFor({ timeout: TIMEOUT });
  assert.equal(visits.length, 1);
  assert.equal(visits[0].url, '/landing?ref=results');
  assert.equal(visits[0].referer, null, 'no referrer reaches the site');
  assert.equal(await tab.evaluate(() => window.opener), null);
  await context.close();
});

test('the leave page refuses what is not a web address and names the real host of a disguised one', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  for (const bad of ['javascript:alert(1)', 'data:text/html,x', 'http://', 'https://a b.example/', 'file:///etc/passwd']) {
    const r = await page.goto(`${ctx.keyd.url}/leave?to=${encodeURIComponent(bad)}`);
    assert.equal(r.status(), 400, bad);
    assert.equal(await page.locator('#sp-leave-go').count(), 0, bad);
  }
  const r = await page.goto(`${ctx.keyd.url}/leave?to=${encodeURIComponent('https://bank.example@evil.example:8443/login')}`);
  assert.equal(r.status(), 200);
  assert.equal((await page.textContent('#sp-leave-host')).trim(), 'evil.example');
  assert.equal(await page.getAttribute('#sp-leave-go', 'rel'), 'noopener noreferrer');
  assert.equal(r.headers()['referrer-policy'], 'no-referrer');
  // A long address full of characters that escaping lengthens comes whole.
  const long = `https://shop.example/?${'a=1&'.repeat(1000)}`;
  assert.equal((await page.goto(`${ctx.keyd.url}/leave?to=${encodeURIComponent(long)}`)).status(), 200);
  assert.equal((await page.textContent('#sp-leave-url')).trim(), long);
  assert.equal(await page.getAttribute('#sp-leave-go', 'href'), long);
  await context.close();
});

test('the frame grows with a short and a long message, and a 600-pixel newsletter fits a phone', async () => {
  let o = await openHtml('<p>Short note.</p>', 1280, 'short');
  let box = await frameBox(o.popup);
  assert.ok(box.height < 200, `a short mail leaves no gap (${box.height}px)`);
  await o.context.close();

  const paras = Array.from({ length: 80 }, (_, i) => `<p>Paragraph ${i + 1} of the letter.</p>`).join('');
  o = await openHtml(paras, 1280, 'long');
  box = await frameBox(o.popup);
  assert.ok(box.height > 1500, `the frame grew (${box.height}px)`);
  assert.ok(box.innerScroll <= 1, `no scrolling inside the frame (${box.innerScroll})`);
  await o.context.close();

  o = await openHtml('<table width="600" style="width:600px"><tr><td>Newsletter column one</td><td>' +
    '<img width="300" height="100" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="x"></td></tr></table>', 375, 'wide');
  box = await frameBox(o.popup);
  assert.ok(box.innerWide <= 1, `the newsletter fits the frame (${box.innerWide}px wider)`);
  assert.ok(box.pageWide <= 375, `no sideways scrolling of the page (${box.pageWide})`);
  await screenshots(o.popup, 'newsletter');
  await o.context.close();
});
