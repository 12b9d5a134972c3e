// browser-lib.mjs - what the browser tests share: launching Debian's
// Chromium through playwright-core with the popup blocker ON (as users have
// it), a key server with an organisation, sealing a test mail with the real
// `sealpost seal`, and the steps of the open page.  With SCREENSHOTS=DIR the
// tests save full-page PNGs of each step there, to look at.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import zlib from 'node:zlib';
import { chromium } from 'playwright-core';
import { startKeyd, orgAdd, recipientAdd, sealpost, tmpDir, SANITIZED } from '../lib/harness.mjs';

export const TIMEOUT = SANITIZED ? 60000 : 20000;

// axe-core, when installed (package.json); the scans say so when it is not.
let AXE = null;
try {
  AXE = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
} catch { /* not installed */ }

// axe-core over the page as it is: no serious or critical violation (t:
// the test, for the diagnostic when axe-core is missing).
export async function axe(t, page, what) {
  if (!AXE) {
    t.diagnostic(`axe-core is not installed (npm ci): ${what} not scanned`);
    return;
  }
  await page.evaluate(AXE);
  const v = await page.evaluate(async () =>
    (await window.axe.run(document, { resultTypes: ['violations'] })).violations
      .filter((x) => x.impact === 'serious' || x.impact === 'critical')
      .map((x) => `${x.id}: ${x.nodes.map((n) => n.target.join(' ')).join(', ')}`));
  assert.deepEqual(v, [], `${what}: accessibility`);
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    ignoreDefaultArgs: ['--disable-popup-blocking'],
  });
}

// A browser and a key server with one organisation and one recipient
// (email, password), for a test file: before() starts them into the
// returned object ({browser, ctx}), after() stops them.
export function browserAndKeyd(before, after, email, password) {
  const t = { browser: null, ctx: null };
  before(async () => {
    t.browser = await launch();
    t.ctx = await keydWithOrg();
    recipientAdd(t.ctx.keyd.dataDir, email, password);
  });
  after(async () => {
    await t.browser?.close();
    await t.ctx?.keyd.stop();
  });
  return t;
}

// A key server with one organisation.  Returns {keyd, token, dir}.
export async function keydWithOrg(name = 'Example Clinic', domain = 'clinic.example') {
  const keyd = await startKeyd();
  const token = orgAdd(keyd.dataDir, name, domain);
  return { keyd, token, dir: tmpDir('sealpost-browser-') };
}

// Seal mail (a Buffer) with the real CLI; returns the envelope file path.
export function seal(ctx, mail, name = 'securedoc.html', extra = []) {
  const inFile = path.join(ctx.dir, `${name}.in.eml`);
  const outFile = path.join(ctx.dir, `${name}.out.eml`);
  const html = path.join(ctx.dir, name);
  fs.writeFileSync(inFile, mail);
  const r = sealpost(['seal', '--keyd', ctx.keyd.url, '--token', ctx.token, '-i', inFile, '-o', outFile, '--html', html, ...extra]);
  if (r.status !== 0) throw new Error(`sealpost seal failed (${r.status}): ${r.stderr}`);
  return html;
}

// On the envelope page, click Open; returns the key server's popup.
export async function clickOpen(page) {
  const [popup] = await Promise.all([page.waitForEvent('popup', { timeout: TIMEOUT }), page.click('#sp-open')]);
  await popup.waitForLoadState('domcontentloaded');
  return popup;
}

// Fill the registration form (page reg) as a person would: names, the
// password twice, a phrase and three security questions with answers.
export async function fillRegistration(reg, password) {
  await reg.fill('[name=first_name]', 'Pat');
  await reg.fill('[name=last_name]', 'M\u00fcller');
  await reg.fill('[name=password]', password);
  await reg.fill('[name=password2]', password);
  await reg.fill('[name=phrase]', 'Blue heron at dawn');
  if (await reg.locator('[name=phrase_enabled]').count()) await reg.check('[name=phrase_enabled]');
  for (const [i, answer] of [[1, 'Rex'], [2, 'Lisbon'], [3, 'Mrs Okafor']]) {
    const q = reg.locator(`[name=q${i}]`);
    if ((await q.evaluate((e) => e.tagName)) === 'SELECT') {
      const values = await q.locator('option').evaluateAll((os) => os.map((o) => o.value).filter(Boolean));
      if (values.length < 3) throw new Error('fewer than three security questions to choose from');
      await q.selectOption(values[i - 1]);
    } else {
      await q.fill(`Question number ${i}?`);
    }
    await reg.fill(`[name=a${i}]`, answer);
    await reg.fill(`[name=a${i}c]`, answer);
  }
}

// The "Open in your browser" link of a sealed mail (text or HTML part,
// quoted-printable or base64).
export function linkIn(mailFile) {
  const raw = fs.readFileSync(mailFile, 'latin1');
  const texts = [raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)))];
  for (const m of raw.matchAll(/\r?\n\r?\n([A-Za-z0-9+/=\r\n]{40,})/g)) texts.push(Buffer.from(m[1], 'base64').toString('latin1'));
  for (const t of texts) {
    const m = /https?:\/\/[^\s"<>]+\/m\/[A-Za-z0-9_-]{22}#mp=[A-Za-z0-9_-]{43}(?:&amp;|&)to=[^\s"<>]+/.exec(t);
    if (m) return m[0].replace(/&amp;/g, '&');
  }
  return null;
}

// What submitLogin returns when the account asks for its second factor.
export const SECOND_STEP = 'second step';

// Fill and submit the open page's sign-in form.  Returns null when the form
// went away (signed in), SECOND_STEP when the second-factor form came up,
// or the error shown.  "Busy, try again" (the key server's bounded password
// workers under load) is retried, as a person would.
export async function submitLogin(popup, email, password) {
  for (let i = 0; i < 6; i++) {
    await popup.fill('#sp-email', email);
    await popup.fill('#sp-password', password);
    await popup.click('#sp-login-submit');
    const err = popup.locator('#sp-login-error:not([hidden])');
    const gone = popup.locator('#sp-login[hidden]');
    const second = popup.locator('#sp-second:not([hidden])');
    await err.or(gone).or(second).first().waitFor({ state: 'attached', timeout: TIMEOUT });
    if (await gone.count()) return null;
    if (await second.count()) return SECOND_STEP;
    const text = (await err.textContent()).trim();
    if (!/busy/i.test(text)) return text;
    await popup.waitForTimeout(500 * (i + 1));
  }
  throw new Error('the key server stayed busy');
}

// Sign in on the open page if it asks.
export async function signInIfAsked(popup, email, password) {
  const login = popup.locator('#sp-login');
  // one selector: whichever of the three the page shows first
  await popup.locator('#sp-login:not([hidden]), #sp-verdict:not([hidden]), #sp-message:not([hidden])')
    .first().waitFor({ state: 'visible', timeout: TIMEOUT });
  if (await login.isVisible()) {
    const err = await submitLogin(popup, email, password);
    if (err !== null) throw new Error(`sign-in refused: ${err}`);
  }
}

// Wait until the open page shows its verdict (genuine or not); returns its text.
export async function verdictText(popup) {
  await popup.locator('#sp-verdict.genuine, #sp-verdict.bad, #sp-verdict.unsigned, #sp-verdict.gone').waitFor({ state: 'visible', timeout: TIMEOUT });
  return (await popup.textContent('#sp-verdict')).trim();
}

export async function screenshot(page, name) {
  if (!process.env.SCREENSHOTS) return;
  fs.mkdirSync(process.env.SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(process.env.SCREENSHOTS, `${name}.png`), fullPage: true });
}

// Screenshots of the page at a phone's width (375 px) and a desktop's
// (1280 px), NAME-375.png and NAME-1280.png; the viewport is put back.
export async function screenshots(page, name) {
  if (!process.env.SCREENSHOTS) return;
  const was = page.viewportSize();
  for (const width of [375, 1280]) {
    await page.setViewportSize({ width, height: was ? was.height : 800 });
    await screenshot(page, `${name}-${width}`);
  }
  if (was) await page.setViewportSize(was);
}

const CRC = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC[(c ^ b) & 255] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// A w x h PNG of one colour (for inline images).
export function makePng(w, h, [r, g, b]) {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: w }, () => [r, g, b]).flat())]);
  const raw = Buffer.concat(Array.from({ length: h }, () => row));
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

// Call fn until it returns something other than null/undefined (bounded).
export async function poll(fn, limit = TIMEOUT) {
  const until = Date.now() + limit;
  for (;;) {
    const v = await fn();
    if (v !== null && v !== undefined) return v;
    if (Date.now() > until) throw new Error('poll: timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
