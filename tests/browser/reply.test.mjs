// reply.test.mjs - Secure Reply, Reply all and Forward from an opened
// message in Chromium: a reply with an attachment and "BCC me" is sealed
// and sent (the outbox holds it and `sealpost open` with the organisation's
// token shows its text and attachment), Reply all reaches every
// participant (keyboard only), Forward goes to the organisation's domains
// with the original attached and is refused elsewhere (by the page and by
// the key server), the organisation's policy hides the buttons, every
// error keeps the draft beside the field it concerns, and a message of
// level low (opened without a sign-in) offers the sign-in to reply.  Accessibility scans
// and screenshots at 375 and 1280 pixels.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { makeMail, recipientAdd, sealpost, readOutbox, tmpDir } from '../lib/harness.mjs';
import { launch, keydWithOrg, seal, clickOpen, signInIfAsked, submitLogin, axe, screenshots, poll, TIMEOUT } from './browser-lib.mjs';

const EMAIL = 'pat@example.org';
const PASSWORD = 'Heron quartz window 58';
const ORG = 'Example Clinic';
const TEXT = 'Hello,\nyour results are attached.\n';

let browser, ctx, context, file, original, tokenFile;
before(async () => {
  browser = await launch();
  ctx = await keydWithOrg(ORG);
  recipientAdd(ctx.keyd.dataDir, EMAIL, PASSWORD);
  policy('--replies', 'on', '--forward', 'on');
  file = seal(ctx, makeMail({ to: EMAIL, cc: 'sam@example.net', text: TEXT,
    attachments: [{ name: 'results.pdf', type: 'application/pdf', data: Buffer.from('%PDF-1.4 results\n') }] }));
  original = fs.readFileSync(`${file}.in.eml`);
  tokenFile = path.join(ctx.dir, 'token');
  fs.writeFileSync(tokenFile, `${ctx.token}\n`, { mode: 0o600 });
  // One reader, signed in once for every test.
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
});
after(async () => {
  await browser?.close();
  await ctx?.keyd.stop();
});

function policy(...args) {
  const r = sealpost(['--data-dir', ctx.keyd.dataDir, 'org', 'set', ORG, ...args]);
  assert.equal(r.status, 0, r.stderr);
}

// The envelope opened in the key server's page, the message shown.
async function openMessage() {
  const page = await context.newPage();
  await page.goto(pathToFileURL(file).href);
  const popup = await clickOpen(page);
  await signInIfAsked(popup, EMAIL, PASSWORD);
  await popup.locator('#sp-message:not([hidden])').waitFor({ state: 'visible', timeout: TIMEOUT });
  return popup;
}

const focused = (p) => p.evaluate(() => document.activeElement && document.activeElement.id);
const chips = (p) => p.locator('#sp-to-chips li').allTextContents();
const wideness = (p) => p.evaluate(() => document.documentElement.scrollWidth);

// Tab (and nothing else) until the element id has the focus.
async function tabTo(p, id) {
  for (let i = 0; i < 40; i++) {
    if ((await focused(p)) === id) return;
    await p.keyboard.press('Tab');
  }
  throw new Error(`Tab never reached #${id}`);
}

// Click (or press) what sends, and return the key server's answer to the
// POST and the sealed mail it wrote to the outbox: {id, to, bcc_me, file,
// text, rcpt} (rcpt: its SMTP recipients, NAME.rcpt beside NAME.eml).
async function sendAndFind(p, act) {
  const [res] = await Promise.all([
    p.waitForResponse((r) => r.url().endsWith('/reply') && r.request().method() === 'POST', { timeout: TIMEOUT }), act()]);
  assert.equal(res.status(), 200, await res.text());
  const answer = await res.json();
  const mail = await poll(() => {
    const m = readOutbox(ctx.keyd.outbox).find((x) => x.text.includes(`X-Sealpost-Envelope: ${answer.id}`));
    if (!m || !fs.existsSync(m.file.replace(/\.eml$/, '.rcpt'))) return null;
    return { ...m, rcpt: fs.readFileSync(m.file.replace(/\.eml$/, '.rcpt'), 'utf8').split('\n').filter(Boolean).sort() };
  });
  return { ...answer, ...mail };
}

// `sealpost open` of a sealed mail with the organisation's token:
// {text, files: {name: Buffer}, raw}.
function openSealed(mailFile) {
  const dir = tmpDir('sealpost-reply-');
  const r = sealpost(['open', '--token-file', tokenFile, '--keyd', ctx.keyd.url, '--save-dir', dir, mailFile]);
  assert.equal(r.status, 0, `sealpost open: ${r.stderr}`);
  const raw = sealpost(['open', '--token-file', tokenFile, '--keyd', ctx.keyd.url, '--raw', mailFile]);
  assert.equal(raw.status, 0, raw.stderr);
  const files = {};
  for (const f of fs.readdirSync(dir)) files[f] = fs.readFileSync(path.join(dir, f));
  return { text: r.stdout.toString(), files, raw: raw.stdout.toString() };
}

test('reply with an attachment and BCC me: sealed, in the outbox, and the organisation opens its text and attachment', async (t) => {
  const p = await openMessage();
  await p.locator('#sp-reply').waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.ok(await p.locator('#sp-reply-all').isVisible(), 'two participants besides the reader: Reply all');
  assert.ok(await p.locator('#sp-forward').isVisible());
  await screenshots(p, 'reply-offer');

  await p.click('#sp-reply');
  await p.locator('#sp-compose').waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.equal(await focused(p), 'sp-compose-title', 'the focus moves to the compose heading');
  assert.equal(await p.locator('#sp-message').isVisible(), false, 'compose takes the message\'s place');
  assert.deepEqual(await chips(p), ['alice@clinic.example']);
  assert.equal(await p.inputValue('#sp-subject-input'), 'Re: Your results');
  const quote = await p.inputValue('#sp-body-input');
  assert.match(quote, /^\n\nOn Mon, 23 Nov 2026 10:00:00 \+0000, Dr Alice <alice@clinic\.example> wrote:\n> Hello,\n> your results are attached\.\n$/);
  assert.equal(await p.isChecked('#sp-bcc'), false, 'the account\'s default: no copy');

  // The reader writes above the quote, attaches a scan and asks for a copy.
  await p.click('#sp-body-input');
  await p.keyboard.press('Control+Home');
  await p.keyboard.type('Thank you, the signed form is attached.');
  const scan = crypto.randomBytes(3000);
  await p.setInputFiles('#sp-files', { name: 'signed form.pdf', mimeType: 'application/pdf', buffer: scan });
  const row = p.locator('#sp-compose-files li');
  assert.equal(await row.count(), 1);
  assert.match(await row.textContent(), /signed form\.pdf\s*2\.9 KB/);
  assert.equal(await row.getByRole('button', { name: 'Remove signed form.pdf' }).count(), 1);
  await p.getByLabel('Automatically BCC me').check();
  await axe(t, p, 'the compose screen (reply)');
  await screenshots(p, 'reply-compose');
  await p.setViewportSize({ width: 375, height: 900 });
  assert.ok((await wideness(p)) <= 375, 'no sideways scrolling at 375 px');
  await p.setViewportSize({ width: 1280, height: 900 });

  // Send is disabled while the request is on its way.
  let disabledWhileSending = null;
  await p.route('**/reply', async (route) => {
    if (route.request().method() === 'POST') disabledWhileSending = await p.locator('#sp-send').isDisabled();
    await route.continue();
  });
  const mail = await sendAndFind(p, () => p.click('#sp-send'));
  const sent = p.locator('#sp-sent');
  await sent.waitFor({ state: 'visible', timeout: TIMEOUT });
  await p.unroute('**/reply');
  assert.equal(disabledWhileSending, true);
  assert.equal((await p.textContent('#sp-sent-title')).trim(), 'Your reply was sealed and sent to alice@clinic.example');
  assert.equal((await p.textContent('#sp-sent-copy')).trim(), 'A copy was sent to you.');
  assert.equal(await focused(p), 'sp-sent-title', 'the focus moves to the confirmation');
  await axe(t, p, 'the confirmation');
  await screenshots(p, 'reply-sent');

  // The sealed reply, to the sender and (BCC) the reader, as the organisation opens it.
  assert.deepEqual(mail.rcpt, ['alice@clinic.example', EMAIL]);
  assert.deepEqual(mail.to, ['alice@clinic.example']);
  assert.match(mail.text, /securedoc\.html/, 'it travels as an envelope');
  assert.doesNotMatch(mail.text.slice(0, mail.text.search(/\r?\n\r?\n/)), /^(To|Cc|Bcc):.*pat@example\.org/mi,
    'the copy is named in no recipient field');
  assert.doesNotMatch(mail.text, /Thank you, the signed form/, 'not in the clear');
  const o = openSealed(mail.file);
  assert.match(o.text, /^Subject: Re: Your results$/m);
  assert.match(o.text, /Thank you, the signed form is attached\.\n\nOn Mon, 23 Nov 2026/);
  assert.match(o.text, /^> your results are attached\.$/m);
  assert.deepEqual(o.files['signed form.pdf'] || o.files['signed_form.pdf'], scan);
  assert.match(o.raw, /^In-Reply-To: <test-1@clinic\.example>\r?$/m);
  assert.match(o.raw, /^References: <test-1@clinic\.example>\r?$/m);
  assert.match(o.raw, /^From: .*pat@example\.org/m);
  assert.doesNotMatch(o.raw, /^Bcc:/mi, 'the copy is not named in the message');

  // Back to the message, which has the focus.
  await p.click('#sp-sent-back');
  await p.locator('#sp-message:not([hidden])').waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.equal(await focused(p), 'sp-subject');
});

test('reply all reaches every participant but the reader, with the keyboard alone', async () => {
  const p = await openMessage();
  await p.locator('#sp-reply-all').waitFor({ state: 'visible', timeout: TIMEOUT });
  await tabTo(p, 'sp-reply-all');
  await p.keyboard.press('Enter');
  await p.locator('#sp-compose').waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.equal(await focused(p), 'sp-compose-title');
  assert.deepEqual(await chips(p), ['alice@clinic.example', 'sam@example.net']);
  await tabTo(p, 'sp-body-input');
  await p.keyboard.type('Noted, thank you both.');
  await tabTo(p, 'sp-send');
  const mail = await sendAndFind(p, () => p.keyboard.press('Enter'));
  await p.locator('#sp-sent').waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.equal((await p.textContent('#sp-sent-title')).trim(),
    'Your reply was sealed and sent to alice@clinic.example, sam@example.net');
  assert.equal(await p.locator('#sp-sent-copy').count(), 0, 'no copy asked for');
  assert.equal(await focused(p), 'sp-sent-title');
  assert.deepEqual(mail.rcpt, ['alice@clinic.example', 'sam@example.net']);
  const o = openSealed(mail.file);
  assert.match(o.text, /^Noted, thank you both\./m);
  assert.match(o.text, /^To: alice@clinic\.example, sam@example\.net$/m);
  await tabTo(p, 'sp-sent-back');
  await p.keyboard.press('Enter');
  await p.locator('#sp-message:not([hidden])').waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.equal(await focused(p), 'sp-subject');
});

test('forward: the original attached, refused outside the organisation\'s domains by the page and by the key server', async (t) => {
  const p = await openMessage();
  await p.setViewportSize({ width: 375, height: 900 });
  await p.locator('#sp-forward').waitFor({ state: 'visible', timeout: TIMEOUT });
  await p.click('#sp-forward');
  await p.locator('#sp-compose').waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.equal(await p.inputValue('#sp-subject-input'), 'Fwd: Your results');
  assert.match(await p.inputValue('#sp-body-input'),
    /---------- Forwarded message ----------\nFrom: Dr Alice <alice@clinic\.example>\nDate: Mon, 23 Nov 2026 10:00:00 \+0000\nSubject: Your results\nTo: pat@example\.org\nCc: sam@example\.net\n\nHello,\nyour results are attached\.\n$/);
  assert.match(await p.textContent('#sp-to-hint'), /clinic\.example/);
  assert.deepEqual(await p.locator('#sp-compose-files .att-name').allTextContents(), ['original.eml']);

  // Outside the allowed domains: the page says so beside the field, and nothing is sent.
  let posts = 0;
  await p.route('**/reply', async (route) => {
    if (route.request().method() === 'POST') posts++;
    await route.continue();
  });
  await p.fill('#sp-to', 'eve@elsewhere.example');
  await p.click('#sp-send');
  const toError = p.locator('#sp-to-error');
  await toError.waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.match(await toError.textContent(), /eve@elsewhere\.example cannot receive this forward.*clinic\.example/);
  assert.equal(await p.getAttribute('#sp-to', 'aria-invalid'), 'true');
  assert.equal(await focused(p), 'sp-to');
  assert.equal(posts, 0);
  await axe(t, p, 'the compose screen (forward, with an error)');
  await screenshots(p, 'forward-refused');
  await p.unroute('**/reply');

  // The key server refuses it too (the page's check bypassed): the address is named.
  await p.fill('#sp-to', 'bob@clinic.example');
  await p.route('**/reply', async (route) => {
    if (route.request().method() !== 'POST') return route.continue();
    const body = JSON.parse(route.request().postData());
    return route.continue({ postData: JSON.stringify({ ...body, to: ['eve@elsewhere.example'] }) });
  });
  await p.click('#sp-send');
  await poll(async () => (/eve@elsewhere\.example/.test(await toError.textContent()) && await toError.isVisible() ? true : null));
  assert.match(await toError.textContent(), /does not allow forwarding to eve@elsewhere\.example/);
  assert.equal(await p.isEnabled('#sp-send'), true);
  await p.unroute('**/reply');

  // To the organisation's own domain it goes, the original attached.
  const mail = await sendAndFind(p, () => p.click('#sp-send'));
  await p.locator('#sp-sent').waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.equal((await p.textContent('#sp-sent-title')).trim(), 'Your message was sealed and forwarded to bob@clinic.example');
  assert.ok((await wideness(p)) <= 375);
  assert.deepEqual(mail.rcpt, ['bob@clinic.example']);
  assert.equal(readOutbox(ctx.keyd.outbox).filter((m) => /eve@elsewhere/.test(m.text)).length, 0, 'nothing went to eve');
  const o = openSealed(mail.file);
  assert.match(o.text, /^Subject: Fwd: Your results$/m);
  assert.match(o.text, /---------- Forwarded message ----------/);
  assert.deepEqual(o.files['original.eml'], original, 'the original, byte for byte');
});

test('errors keep the draft and are shown beside their field: too large, not sent, too many, withdrawn, no network, refused', async (t) => {
  // A small size cap (the key server's answer changed on its way), so that
  // a small file is over it.
  const capped = async (route) => {
    if (route.request().method() !== 'GET') return route.fallback();
    const res = await route.fetch();
    return route.fulfill({ response: res, json: { ...(await res.json()), max_bytes: 4096 } });
  };
  await context.route('**/reply', capped);
  const p = await openMessage();
  await p.setViewportSize({ width: 375, height: 900 });
  await p.locator('#sp-reply').waitFor({ state: 'visible', timeout: TIMEOUT });
  await p.click('#sp-reply');
  await p.locator('#sp-compose').waitFor({ state: 'visible', timeout: TIMEOUT });
  await context.unroute('**/reply', capped);
  await p.fill('#sp-body-input', 'My draft, which must not be lost.');
  const draft = async () => assert.equal(await p.inputValue('#sp-body-input'), 'My draft, which must not be lost.');

  // Over the size cap: refused before anything is sent.
  let posts = 0;
  await p.route('**/reply', async (route) => {
    if (route.request().method() === 'POST') posts++;
    await route.continue();
  });
  await p.setInputFiles('#sp-files', [{ name: 'small.txt', mimeType: 'text/plain', buffer: Buffer.alloc(1000, 0x61) },
    { name: 'huge.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(4000) }]);
  assert.match(await p.textContent('#sp-compose-total'), /Together 4\.9 KB of at most 4\.0 KB/);
  await p.click('#sp-send');
  const attError = p.locator('#sp-att-error');
  await attError.waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.match(await attError.textContent(), /too large together: at most 4\.0 KB/);
  assert.equal(await focused(p), 'sp-files');
  assert.equal(posts, 0);
  await axe(t, p, 'the compose screen with an error');
  await screenshots(p, 'reply-too-large');
  await p.getByRole('button', { name: 'Remove huge.bin' }).click();
  assert.equal(await attError.isVisible(), false);
  assert.deepEqual(await p.locator('#sp-compose-files .att-name').allTextContents(), ['small.txt']);
  await p.unroute('**/reply');
  await draft();

  // The mail system does not take the sealed reply (the key server's
  // outbox cannot be written): a real 503, nothing sent, the draft kept.
  const outbox = ctx.keyd.outbox, aside = `${outbox}.aside`, mailsBefore = readOutbox(outbox).length;
  fs.renameSync(outbox, aside);
  fs.writeFileSync(outbox, 'not a directory\n');
  try {
    await p.click('#sp-send');
    await p.locator('#sp-compose-error:not([hidden])').waitFor({ state: 'visible', timeout: TIMEOUT });
  } finally {
    fs.rmSync(outbox);
    fs.renameSync(aside, outbox);
  }
  assert.match(await p.textContent('#sp-compose-error'), /was not sent: send it again/);
  assert.equal(readOutbox(outbox).length, mailsBefore, 'nothing was sent');
  await draft();
  assert.equal(await p.isEnabled('#sp-send'), true, 'Send works again');

  // The key server's refusals, each in its place (answers made up here).
  const answers = [
    [{ status: 429, body: { error: 'too many replies', retry_after: 300 } }, '#sp-compose-error', /Try again in 5 minutes/],
    [{ status: 413, body: { error: 'too large' } }, '#sp-att-error', /too large together/],
    [{ status: 410, body: { error: 'gone', reason: 'retracted' } }, '#sp-compose-error', /withdrawn by the sender/],
    [{ status: 403, body: { error: 'no', reason: 'recipient', address: 'alice@clinic.example' } }, '#sp-to-error',
      /alice@clinic\.example did not take part/],
    [null, '#sp-compose-error', /cannot be reached.*draft is kept/],
  ];
  for (const [answer, where, text] of answers) {
    await p.route('**/reply', (route) => {
      if (route.request().method() !== 'POST') return route.continue();
      return answer ? route.fulfill({ status: answer.status, contentType: 'application/json', body: JSON.stringify(answer.body) }) :
        route.abort('connectionrefused');
    });
    await p.click('#sp-send');
    await p.locator(`${where}:not([hidden])`).waitFor({ state: 'visible', timeout: TIMEOUT });
    assert.match(await p.textContent(where), text);
    await draft();
    assert.equal(await p.isEnabled('#sp-send'), true, 'Send works again');
    assert.equal(await p.locator('#sp-compose').isVisible(), true);
    await p.unroute('**/reply');
  }

  // Cancel brings the message back.
  await p.click('#sp-cancel');
  await p.locator('#sp-message:not([hidden])').waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.equal(await p.locator('#sp-compose').count(), 0);
  assert.equal(await focused(p), 'sp-reply');
});

test('the organisation\'s policy: no Forward when forwarding is off, no buttons when replies are off', async () => {
  policy('--forward', 'off');
  let p = await openMessage();
  await p.locator('#sp-reply').waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.equal(await p.locator('#sp-forward').count(), 0);
  assert.equal(await p.locator('#sp-reply-all').count(), 1);
  policy('--replies', 'off');
  p = await openMessage();
  const note = p.locator('#sp-no-replies');
  await note.waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.equal((await note.textContent()).trim(), 'The sender\u2019s organisation does not accept replies here.');
  assert.equal(await p.locator('#sp-reply, #sp-reply-all, #sp-forward').count(), 0);
  policy('--replies', 'on', '--forward', 'on');
});

test('a message of level low opens without a sign-in and offers one to reply; the Reply goes after it', async (t) => {
  const mail = makeMail({ to: EMAIL, subject: 'Opening hours', text: 'Hello,\nwe open at nine.\n',
    messageId: '<low-reply@clinic.example>' });
  const low = seal(ctx, Buffer.concat([Buffer.from('X-Sealpost-Level: low\r\n'), mail]), 'low-reply.html');
  // a browser that was never signed in, on a phone
  const fresh = await browser.newContext({ viewport: { width: 375, height: 800 } });
  try {
    const page = await fresh.newPage();
    await page.goto(pathToFileURL(low).href);
    const p = await clickOpen(page);
    await p.locator('#sp-message:not([hidden])').waitFor({ state: 'visible', timeout: TIMEOUT });
    assert.match(await p.textContent('#sp-body'), /we open at nine/);
    assert.equal(await p.locator('#sp-login:not([hidden])').count(), 0, 'opened without the sign-in card');
    const ask = p.locator('#sp-reply-signin');
    await ask.waitFor({ state: 'visible', timeout: TIMEOUT });
    assert.equal((await ask.textContent()).trim(), 'Sign in to reply');
    assert.equal(await p.locator('#sp-reply, #sp-reply-all, #sp-forward').count(), 0, 'no Reply before a sign-in');
    await axe(t, p, 'the sign-in offer under a low message');
    await screenshots(p, 'reply-low-offer');
    await ask.click();
    await p.locator('#sp-login:not([hidden])').waitFor({ state: 'visible', timeout: TIMEOUT });
    assert.equal(await p.inputValue('#sp-email'), EMAIL, 'the card knows whom the message is for');
    assert.equal(await submitLogin(p, EMAIL, PASSWORD), null);
    await p.locator('#sp-reply').waitFor({ state: 'visible', timeout: TIMEOUT });
    assert.equal(await p.locator('#sp-reply-signin').count(), 0, 'the offer is gone');
    assert.equal(await focused(p), 'sp-reply', 'the focus is on Reply');
    assert.ok(await p.locator('#sp-message').isVisible(), 'the message stays');
    await p.click('#sp-reply');
    await p.locator('#sp-compose').waitFor({ state: 'visible', timeout: TIMEOUT });
    assert.equal(await p.inputValue('#sp-subject-input'), 'Re: Opening hours');
    await p.click('#sp-body-input');
    await p.keyboard.press('Control+Home');
    await p.keyboard.type('Are you open on Saturday?');
    const sent = await sendAndFind(p, () => p.click('#sp-send'));
    assert.deepEqual(sent.rcpt, ['alice@clinic.example']);
    assert.match(openSealed(sent.file).text, /Are you open on Saturday\?/);
  } finally {
    await fresh.close();
  }
});
