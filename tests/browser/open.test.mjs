// open.test.mjs - the open page against hostile input, in a real browser:
// message HTML that tries every way to run script or reach the network, an
// envelope whose header was changed by one byte, and the open-online form
// (the path that works without the envelope's script).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { makeMail, recipientAdd, storeSql } from '../lib/harness.mjs';
import { launch, keydWithOrg, seal, clickOpen, signInIfAsked, verdictText, screenshot, TIMEOUT } from './browser-lib.mjs';

const EMAIL = 'sam@example.net';
const PASSWORD = 'Otter lantern meadow 77';
const NOT_GENUINE = /This is not a genuine envelope from Example [BC]linic.*Do not act on it/;

let browser, ctx, canary, hits;
before(async () => {
  browser = await launch();
  ctx = await keydWithOrg();
  recipientAdd(ctx.keyd.dataDir, EMAIL, PASSWORD);
  // Every request the hostile HTML manages to make lands here.
  hits = [];
  canary = http.createServer((req, res) => {
    if (req.url === '/pose') {
      // A page of another origin, for the envelope's origin check.
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!DOCTYPE html><title>pose</title><p>another site</p>');
      return;
    }
    hits.push(req.url);
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('x');
  });
  await new Promise((r) => canary.listen(0, '127.0.0.1', r));
  // The listener does record what reaches it.
  await (await fetch(`http://127.0.0.1:${canary.address().port}/control`)).text();
  assert.deepEqual(hits, ['/control']);
  hits.length = 0;
});
after(async () => {
  await browser?.close();
  await ctx?.keyd.stop();
  await new Promise((r) => (canary ? canary.close(r) : r()));
});

async function openEnvelope(file, options = {}, email = EMAIL) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, ...options });
  const dialogs = [];
  context.on('dialog', (d) => {
    dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
  const page = await context.newPage();
  await page.goto(pathToFileURL(file).href);
  const popup = await clickOpen(page);
  await signInIfAsked(popup, email, PASSWORD);
  return { context, page, popup, dialogs };
}

test('hostile message HTML runs nothing and reaches nothing', { timeout: TIMEOUT * 4 }, async () => {
  const c = `http://127.0.0.1:${canary.address().port}`;
  const html = `<html><head><title>evil</title>
<meta http-equiv="refresh" content="0;url=${c}/meta-refresh">
<script>fetch('${c}/script'); alert('script'); top.document.title = 'owned';</script>
<link rel="stylesheet" href="${c}/link.css"><style>@import url('${c}/import.css'); body { background: url('${c}/bg.png'); }</style>
</head><body onload="fetch('${c}/body-onload'); alert('onload')">
<h1 id="h">Quarterly statement</h1>
<img src="x" onerror="fetch('${c}/onerror'); alert('onerror')">
<img id="remote" src="${c}/remote.png">
<a id="jslink" href="javascript:fetch('${c}/javascript-link');alert('js')">Click me</a>
<a id="toplink" href="${c}/top-link" target="_top">Your statement</a>
<svg onload="fetch('${c}/svg-onload'); alert('svg')"><circle r="5"/></svg>
<svg width="60" height="60"><a id="smil"><set attributeName="href" to="${c}/smil-link"/><set attributeName="target" to="_blank"/>
<animate attributeName="href" values="${c}/smil-animate" dur="1s"/><rect width="60" height="60"/></a></svg>
<iframe srcdoc="<script>fetch('${c}/iframe-srcdoc'); parent.alert('iframe')</script>"></iframe>
<object data="${c}/object"></object><embed src="${c}/embed">
<form action="${c}/form"><button id="fb">Go</button></form>
<div style="background-image: url('${c}/style-attr.png')">styled</div>
</body></html>`;
  const file = seal(ctx, makeMail({ to: EMAIL, subject: 'Statement', text: 'See the HTML part.\n', html }), 'hostile.html');
  const { context, popup, dialogs } = await openEnvelope(file);
  assert.match(await verdictText(popup), /Genuine envelope/);
  const title = await popup.title();
  const frameEl = popup.locator('iframe.html-body');
  await frameEl.waitFor({ timeout: TIMEOUT });
  const sandbox = await frameEl.getAttribute('sandbox');
  // Links may open a new tab (through /leave) and the page may measure the
  // frame; nothing in it may run, submit or navigate the page.
  assert.deepEqual(sandbox.split(/\s+/).sort(), ['allow-popups', 'allow-popups-to-escape-sandbox', 'allow-same-origin']);
  assert.doesNotMatch(sandbox, /allow-scripts|allow-forms|allow-top-navigation|allow-modals/);
  const frame = popup.frames().find((f) => f !== popup.mainFrame());
  await frame.locator('#h').waitFor({ timeout: TIMEOUT });
  // Try the link and the form as a person would.
  await frame.locator('#jslink').click({ timeout: 2000 }).catch(() => {});
  await frame.locator('#fb').click({ timeout: 2000 }).catch(() => {});
  // an SVG link whose address an animation would set: nothing opens
  await frame.locator('#smil rect').click({ timeout: 2000 }).catch(() => {});
  await popup.waitForTimeout(500);
  assert.equal(context.pages().length, 2, 'no page opened from the SVG link');
  // A web link, even one aimed at the top window, only opens the page that
  // shows where it goes, in a tab of its own.
  const [leave] = await Promise.all([context.waitForEvent('page', { timeout: TIMEOUT }), frame.locator('#toplink').click()]);
  await leave.waitForLoadState('domcontentloaded');
  assert.equal(new URL(leave.url()).pathname, '/leave');
  assert.equal((await leave.textContent('#sp-leave-url')).trim(), `${c}/top-link`);
  await popup.waitForTimeout(1500);
  assert.deepEqual(hits, [], 'no request reached the listener');
  assert.deepEqual(dialogs, [], 'no dialog opened');
  assert.equal(await popup.title(), title, 'title unchanged');
  assert.equal(popup.frames().length, 2, 'no frame inside the message frame');
  assert.equal((await frame.locator('#h').textContent()).trim(), 'Quarterly statement');
  assert.ok(await popup.locator('#sp-remote-notice').isVisible(), 'remote content notice');
  assert.ok(popup.url().startsWith(ctx.keyd.url + '/open'), 'the open page stayed');
  await screenshot(popup, 'hostile');
  await context.close();
});

test('an attachment name that turns its text around is shown and saved as it really is', { timeout: TIMEOUT * 4 }, async () => {
  const file = seal(ctx, makeMail({ to: EMAIL, subject: 'Invoice', text: 'Attached.\n',
    attachments: [{ name: 'invoice_\u202efdp.exe', type: 'application/pdf', data: Buffer.from('MZ not a pdf') }] }), 'rlo.html');
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  await page.goto(pathToFileURL(file).href);
  const popup = await clickOpen(page);
  // once the envelope is handed over, the page no longer says it waits for it
  await popup.locator('#sp-login:not([hidden])').waitFor({ timeout: TIMEOUT });
  await page.locator('#sp-status').filter({ hasText: /handed/ }).waitFor({ timeout: TIMEOUT });
  assert.doesNotMatch(await popup.evaluate(() => document.body.innerText), /Waiting for the envelope/);
  await signInIfAsked(popup, EMAIL, PASSWORD);
  const link = popup.locator('#sp-att-list a.download');
  await link.waitFor({ timeout: TIMEOUT });
  const shown = await link.textContent();
  assert.equal(shown, 'invoice_fdp.exe');
  const [dl] = await Promise.all([popup.waitForEvent('download', { timeout: TIMEOUT }), link.click()]);
  assert.equal(dl.suggestedFilename(), shown);
  await context.close();
});

test('an envelope file whose signature was cut is called damaged in both windows at once', { timeout: TIMEOUT * 4 }, async () => {
  const good = seal(ctx, makeMail({ to: EMAIL, subject: 'Cut', text: 'The body.\n' }), 'cut-sig.html');
  const html = fs.readFileSync(good, 'latin1');
  const m = /(<textarea id="sp-sig"[^>]*>)([A-Za-z0-9_-]+)(<\/textarea>)/.exec(html);
  assert.ok(m, 'signature element');
  const cut = path.join(path.dirname(good), 'cut-sig-damaged.html');
  fs.writeFileSync(cut, html.replace(m[0], `${m[1]}${m[2].slice(1)}${m[3]}`), 'latin1');
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  await page.goto(pathToFileURL(cut).href);
  const popup = await clickOpen(page);
  // the key server's page says so without waiting for another Open
  assert.match(await verdictText(popup), /not a genuine envelope/);
  assert.match(await popup.textContent('#sp-verdict'), /the envelope file is damaged/);
  assert.match(await page.textContent('#sp-status'), /damaged/);
  assert.doesNotMatch(await page.textContent('#sp-status'), /handed/);
  await context.close();
});

test('an envelope file cut short says so; a whole one does not', { timeout: TIMEOUT * 4 }, async () => {
  const good = seal(ctx, makeMail({ to: EMAIL, subject: 'Cut short', text: 'The body.\n',
    attachments: [{ name: 'scan.bin', data: crypto.randomBytes(200000) }] }), 'cut-short.html');
  const html = fs.readFileSync(good, 'latin1');
  const at = html.indexOf('id="sp-payload"');
  assert.ok(at > 0);
  const context = await browser.newContext({ viewport: { width: 375, height: 800 } });
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  // cut inside the ciphertext, and just before the Open button
  for (const end of [at + 60000, html.indexOf('<div class="actions">')]) {
    const cut = path.join(path.dirname(good), `cut-short-${end}.html`);
    fs.writeFileSync(cut, html.slice(0, end), 'latin1');
    await page.goto(pathToFileURL(cut).href);
    await page.waitForSelector('#sp-cut', { state: 'visible', timeout: TIMEOUT });
    assert.match(await page.innerText('#sp-cut'), /arrived incomplete.*Download the attachment securedoc\.html from the mail again/s);
    assert.equal(await page.locator('#sp-open').count(), 0);
  }
  await page.goto(pathToFileURL(good).href);
  await page.waitForSelector('#sp-open', { state: 'visible', timeout: TIMEOUT });
  await page.waitForLoadState('load');
  assert.ok(await page.locator('#sp-cut').isHidden(), 'a whole file shows no such note');
  assert.deepEqual(errors, [], 'both scripts run under the page\'s CSP');
  await context.close();
});

test('an envelope whose header changed by one byte is refused and shows nothing', { timeout: TIMEOUT * 4 }, async () => {
  const good = seal(ctx, makeMail({ to: EMAIL, subject: 'Private subject', text: 'The secret body text.\n' }), 'tamper.html');
  const html = fs.readFileSync(good, 'latin1');
  const m = /(<textarea id="sp-header"[^>]*>)([\s\S]*?)(<\/textarea>)/.exec(html);
  assert.ok(m, 'header textarea');
  const header = Buffer.from(m[2].replace(/\s+/g, ''), 'base64');
  const at = header.indexOf('Example Clinic');
  assert.ok(at > 0);
  header[at + 8] ^= 1; // "Clinic" -> "Blinic": still valid JSON, one byte changed
  const b64 = header.toString('base64').replace(/.{76}/g, '$&\n');
  const forged = path.join(path.dirname(good), 'tampered.html');
  fs.writeFileSync(forged, html.replace(m[0], `${m[1]}\n${b64}${m[3]}`), 'latin1');

  const { context, popup } = await openEnvelope(forged);
  const text = await verdictText(popup);
  assert.match(text, NOT_GENUINE);
  assert.ok(await popup.locator('#sp-verdict').evaluate((e) => e.classList.contains('bad')));
  assert.ok(await popup.locator('#sp-message').isHidden());
  assert.equal(await popup.locator('#sp-body').evaluate((e) => e.childElementCount), 0);
  const body = await popup.textContent('body');
  assert.doesNotMatch(body, /secret body text|Private subject/);
  assert.match(body, /header is not the one the sender sealed/);
  // the key server released nothing for the made-up envelope and recorded
  // no reading: the refusal is in the audit trail, no read notice left
  const id = JSON.parse(header.toString()).id;
  assert.equal(storeSql(ctx.keyd.dataDir, `SELECT count(*) FROM audit WHERE event = 'release' AND envelope_id = '${id}'`), '0');
  assert.match(storeSql(ctx.keyd.dataDir, `SELECT detail FROM audit WHERE event = 'release-refused' AND envelope_id = '${id}'`),
    /not the one the sender sealed/);
  assert.equal(storeSql(ctx.keyd.dataDir, `SELECT count(*) FROM envelope_rcpt WHERE envelope_id = '${id}' AND opened != 0`), '0');
  await screenshot(popup, 'tampered');
  await context.close();
});

test('the open-online form opens the message after sign-in', { timeout: TIMEOUT * 4 }, async () => {
  const file = seal(ctx, makeMail({ to: EMAIL, subject: 'Online copy', text: 'Opened through the form.\n' }), 'online.html');
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  await page.goto(pathToFileURL(file).href);
  const action = await page.getAttribute('#sp-form', 'action');
  assert.ok(action.startsWith(ctx.keyd.url + '/online#mp='));
  // The button the envelope's script leaves alone: a plain form post, as
  // when scripts are off.
  const [popup] = await Promise.all([page.waitForEvent('popup', { timeout: TIMEOUT }), page.click('#sp-online')]);
  await popup.waitForLoadState('domcontentloaded');
  assert.equal(new URL(popup.url()).pathname, '/online');
  await signInIfAsked(popup, EMAIL, PASSWORD);
  assert.match(await verdictText(popup), /Genuine envelope from Example Clinic/);
  assert.equal((await popup.textContent('#sp-subject')).trim(), 'Online copy');
  assert.match(await popup.textContent('#sp-body'), /Opened through the form/);
  assert.equal(new URL(popup.url()).hash, '', 'the key part left the address bar');
  await screenshot(popup, 'online');
  await context.close();
});

test('form submitted without the envelope script (HTMLFormElement.submit) also opens', { timeout: TIMEOUT * 4 }, async () => {
  const file = seal(ctx, makeMail({ to: EMAIL, subject: 'Direct submit', text: 'No script path.\n' }), 'direct.html');
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  await page.goto(pathToFileURL(file).href);
  // Keep the new window in this tab so no popup permission is needed.
  const [nav] = await Promise.all([
    page.waitForURL((u) => u.pathname === '/online', { timeout: TIMEOUT }),
    page.evaluate(() => {
      const f = document.getElementById('sp-form');
      f.target = '_self';
      HTMLFormElement.prototype.submit.call(f);
    }),
  ]);
  void nav;
  await signInIfAsked(page, EMAIL, PASSWORD);
  assert.match(await verdictText(page), /Genuine envelope/);
  assert.equal((await page.textContent('#sp-subject')).trim(), 'Direct submit');
  await context.close();
});

test('an envelope whose id the key server never issued is refused', { timeout: TIMEOUT * 4 }, async () => {
  const good = seal(ctx, makeMail({ to: EMAIL, subject: 'Id swap', text: 'Never shown.\n' }), 'idswap.html');
  const html = fs.readFileSync(good, 'latin1');
  const id = /"id":"([A-Za-z0-9_-]{22})"/.exec(html)[1];
  const other = 'Zm9yZ2VkLWlkLTEyMzQ1Ng';
  const forged = path.join(path.dirname(good), 'forged-id.html');
  // The id changes everywhere the file names it, header bytes included.
  const hb = /(<textarea id="sp-header"[^>]*>)([\s\S]*?)(<\/textarea>)/.exec(html);
  const header = Buffer.from(hb[2].replace(/\s+/g, ''), 'base64').toString('latin1').replace(id, other);
  let out = html.replace(hb[0], `${hb[1]}\n${Buffer.from(header, 'latin1').toString('base64').replace(/.{76}/g, '$&\n')}${hb[3]}`);
  out = out.split(id).join(other);
  fs.writeFileSync(forged, out, 'latin1');
  const { context, popup } = await openEnvelope(forged);
  const v = await verdictText(popup);
  assert.match(v, NOT_GENUINE);
  // The next step: ask for it again, naming the sender the envelope claims,
  // by a route of the reader's own.
  assert.match(v, /ask the sender to send it again/);
  const from = JSON.parse(header).from;
  assert.ok(from && v.includes(from), `the sender ${from} is named: ${v}`);
  assert.match(v, /an address you already know, not by replying/);
  assert.ok(await popup.locator('#sp-message').isHidden());
  assert.doesNotMatch(await popup.textContent('body'), /Never shown|Id swap/);
  await context.close();
});

test('the envelope hands its contents only to the key server origin', { timeout: TIMEOUT * 4 }, async () => {
  const file = seal(ctx, makeMail({ to: EMAIL, subject: 'Origin check', text: 'x\n' }), 'origin.html');
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(pathToFileURL(file).href);
  const id = JSON.parse(await page.textContent('#sp-meta')).id;
  const popup = await clickOpen(page);
  // Ask the envelope from the window it opened, at a given origin.
  const ask = (w) => w.evaluate((envId) => new Promise((resolve) => {
    const got = [];
    window.addEventListener('message', (e) => got.push(e.data && e.data.type));
    window.opener.postMessage({ type: 'sealpost-ready', id: envId }, '*');
    setTimeout(() => resolve(got), 1000);
  }), id);
  // The same window, navigated to another origin: the envelope stays silent.
  await popup.goto(`http://127.0.0.1:${canary.address().port}/pose`);
  assert.deepEqual(await ask(popup), []);
  // Control: back on the key server's origin the same request is answered.
  await popup.goto(`${ctx.keyd.url}/healthz`);
  assert.deepEqual(await ask(popup), ['sealpost-envelope']);
  // Another window of the key server's origin that the envelope did not open gets nothing.
  const stranger = await context.newPage();
  await stranger.goto(`${ctx.keyd.url}/healthz`);
  const got = await stranger.evaluate(() => new Promise((resolve) => {
    const seen = [];
    window.addEventListener('message', (e) => seen.push(e.data && e.data.type));
    setTimeout(() => resolve(seen), 500);
  }));
  assert.deepEqual(got, []);
  await context.close();
});

test('a 12 MB attachment opens and saves byte for byte', { timeout: TIMEOUT * 6 }, async () => {
  const data = crypto.randomBytes(12 << 20);
  const file = seal(ctx, makeMail({ to: EMAIL, subject: 'Scan', text: 'The scan.\n',
    attachments: [{ name: 'scan \u00e9t\u00e9.bin', type: 'application/octet-stream', data }] }), 'large.html');
  const { context, popup } = await openEnvelope(file, { acceptDownloads: true });
  assert.match(await verdictText(popup), /Genuine envelope/);
  const [dl] = await Promise.all([popup.waitForEvent('download', { timeout: TIMEOUT }), popup.click('#sp-att-list a.download')]);
  assert.equal(dl.suggestedFilename(), 'scan \u00e9t\u00e9.bin');
  assert.ok(fs.readFileSync(await dl.path()).equals(data));
  await context.close();
});

test('a signed-in person who is not a recipient is told so and sees nothing', { timeout: TIMEOUT * 4 }, async () => {
  const file = seal(ctx, makeMail({ to: 'someone.else@example.com', subject: 'Not yours', text: 'Private.\n' }), 'notyours.html');
  const { context, popup } = await openEnvelope(file);
  const text = await verdictText(popup);
  assert.match(text, /This message was not sent to you/);
  assert.match(text, new RegExp(EMAIL.replace('.', '\\.')));
  assert.ok(await popup.locator('#sp-message').isHidden());
  assert.doesNotMatch(await popup.textContent('body'), /Private\.|Not yours/);
  await context.close();
});

test('a blind copy reads the message, told it is one; the named recipient is never told of it', { timeout: TIMEOUT * 4 }, async () => {
  const named = 'named@example.org';
  recipientAdd(ctx.keyd.dataDir, named, PASSWORD);
  const file = seal(ctx, makeMail({ to: named, subject: 'Care plan', text: 'The plan.\n' }), 'bcc.html',
    ['--rcpt', named, '--rcpt', EMAIL]);
  assert.doesNotMatch(fs.readFileSync(file, 'latin1'), /sam@/);
  const facts = async (popup) => {
    await popup.waitForSelector('#sp-body', { state: 'visible', timeout: TIMEOUT });
    return popup.$$eval('#sp-facts dt, #sp-facts dd', (els) => els.map((e) => e.textContent));
  };
  const blind = await openEnvelope(file, {}, EMAIL);
  assert.match(await verdictText(blind.popup), /Genuine envelope/);
  const f = await facts(blind.popup);
  assert.equal(f[f.indexOf('To') + 1], named);
  assert.equal(f[f.indexOf('Bcc') + 1], 'you, as a blind copy: the other recipients do not see your address');
  assert.match(await blind.popup.textContent('#sp-body'), /The plan\./);
  await blind.context.close();
  const seen = await openEnvelope(file, {}, named);
  assert.match(await verdictText(seen.popup), /Genuine envelope/);
  assert.ok(!(await facts(seen.popup)).includes('Bcc'));
  assert.doesNotMatch(await seen.popup.innerText('body'), /sam@|blind copy/);
  await seen.context.close();
});

test('sign out ends the session on the key server', { timeout: TIMEOUT * 4 }, async () => {
  const file = seal(ctx, makeMail({ to: EMAIL, subject: 'Sign out', text: 'Bye.\n' }), 'signout.html');
  const { context, popup } = await openEnvelope(file);
  assert.match(await verdictText(popup), /Genuine envelope/);
  assert.match(await popup.textContent('#sp-who'), new RegExp(`Signed in as ${EMAIL.replace('.', '\\.')}`));
  assert.equal(await popup.evaluate(async () => (await fetch('/api/v1/session')).status), 200);
  await Promise.all([popup.waitForEvent('load', { timeout: TIMEOUT }), popup.click('#sp-signout')]);
  await popup.locator('#sp-login').waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.equal(await popup.evaluate(async () => (await fetch('/api/v1/session')).status), 401);
  await context.close();
});
