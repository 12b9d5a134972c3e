// reading.test.mjs - the reading view: a link in a message opens, through
// the page that shows where it really goes, in a new tab without opener or
// referrer (never inside the message's frame); the frame grows with its
// content; a 600-pixel newsletter fits a phone's width; images from the web
// load only when the reader chooses, per message or per sender.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { makeMail, recipientAdd } from '../lib/harness.mjs';
import { launch, keydWithOrg, seal, clickOpen, signInIfAsked, screenshots, makePng, poll, TIMEOUT } from './browser-lib.mjs';

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
    if (req.url.startsWith('/img/')) {
      res.writeHead(200, { 'content-type': 'image/png' });
      res.end(makePng(40, 30, [200, 40, 40]));
      return;
    }
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

test('images from the web load only when the reader chooses: this message, or always from this sender', async () => {
  const h = `http://127.0.0.1:${site.address().port}`;
  // CSS that would load from the web, also written with escapes, never
  // loads (not even once images are shown); an embedded background stays
  const dot = makePng(2, 2, [0, 0, 255]).toString('base64');
  const css = `<style>@import url("${h}/img/css-import.css");
.bg { background: url(${h}/img/css-bg.png) no-repeat; }
.esc { background-image: u\\72l(h\\74tp://127.0.0.1:${site.address().port}/img/css-esc.png); }
.set { background-image: image-set("${h}/img/css-set.png" 1x); }
@media screen { .deep { list-style-image: url('${h}/img/css-media.png'); } }
.keep { background-image: url("data:image/png;base64,${dot}"); }</style>
<div class="bg">a</div><div class="esc">b</div><div class="set">c</div><ul class="deep"><li>d</li></ul>
<div style="background: url('${h}/img/css-inline.png')">e</div><div class="keep" id="keep">f</div>`;
  const img = (name) => `${name === 'first' ? css : ''}<p>Our news</p><img id="pic" alt="news" src="${h}/img/${name}.png">`;
  const context = await browser.newContext({ viewport: { width: 375, height: 740 } });
  const open = async (from, name) => {
    const file = seal(ctx, makeMail({ from, to: EMAIL, html: img(name), text: 'plain' }), `${name}.html`);
    const page = await context.newPage();
    await page.goto(pathToFileURL(file).href);
    const popup = await clickOpen(page);
    await signInIfAsked(popup, EMAIL, PASSWORD);
    await popup.locator('#sp-message:not([hidden])').waitFor({ state: 'visible', timeout: TIMEOUT });
    await popup.locator('iframe.html-body').waitFor({ state: 'visible', timeout: TIMEOUT });
    return popup;
  };
  const until = (fn) => poll(async () => ((await fn()) ? true : null));
  const loaded = (name) => visits.some((v) => v.url === `/img/${name}.png`);
  const picWidth = (popup) => popup.evaluate(() => {
    const p = document.querySelector('iframe.html-body').contentDocument.getElementById('pic');
    return p && p.complete ? p.naturalWidth : 0;
  });

  // Blocked at first, with the two choices; nothing reached the site.
  const a = await open('Dr Alice <alice@clinic.example>', 'first');
  const notice = a.locator('#sp-remote-notice');
  await notice.waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.match(await notice.textContent(), /Images from the web are blocked/);
  assert.equal(loaded('first'), false, 'no request before the choice');
  assert.equal(await picWidth(a), 0);
  // This message only: the image loads, with no referrer.
  await a.getByRole('button', { name: 'Show images in this message' }).click();
  await until(async () => (await picWidth(a)) === 40);
  assert.ok(loaded('first'));
  assert.equal(visits.find((v) => v.url === '/img/first.png').referer, null);
  await a.waitForTimeout(700);
  assert.deepEqual(visits.filter((v) => v.url.startsWith('/img/css')).map((v) => v.url), [], 'no CSS loaded from the web');
  assert.match(await a.evaluate(() => {
    const f = document.querySelector('iframe.html-body');
    return f.contentWindow.getComputedStyle(f.contentDocument.getElementById('keep')).backgroundImage;
  }), /^url\("data:image\/png/);
  await screenshots(a, 'images-shown');

  // The next message of the same sender asks again; "always" is kept.
  const b = await open('Dr Alice <alice@clinic.example>', 'second');
  await b.locator('#sp-remote-notice').waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.equal(loaded('second'), false);
  await b.getByRole('button', { name: 'Always show images from alice@clinic.example' }).click();
  await until(async () => (await picWidth(b)) === 40);

  // Now the same sender's images load at once; another sender's do not.
  const c = await open('Dr Alice <alice@clinic.example>', 'third');
  await until(async () => (await picWidth(c)) === 40);
  assert.match(await c.locator('#sp-remote-notice').textContent(), /Images from alice@clinic\.example are shown/);
  const d = await open('Bob <bob@clinic.example>', 'fourth');
  await d.locator('#sp-remote-notice').waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.equal(loaded('fourth'), false, 'another sender is not trusted');

  // Taking the choice back blocks them again.
  await c.getByRole('button', { name: 'Stop showing images from this sender' }).click();
  await until(async () => (await picWidth(c)) === 0);
  const e = await open('Dr Alice <alice@clinic.example>', 'fifth');
  await e.locator('#sp-remote-notice').waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.equal(loaded('fifth'), false);
  await context.close();
});
