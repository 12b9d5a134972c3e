// copies.test.mjs - opening a message from the notification mail's link
// (KEYD/m/ID#mp=..&to=..) on a phone-sized screen (375 x 740), without the
// attachment: the key server's copy, the link's key part, this browser's
// key store and the message list; the clear pages for a link without its
// key, a key of another message, a person who is not a recipient and a
// withdrawn message (whose copy leaves the key server's directory); an
// axe-core scan of both pages.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { activationLink, makeMail, mailsTo, recipientAdd, sealpost } from '../lib/harness.mjs';
import { axe, fillRegistration, linkIn, launch, keydWithOrg, seal, signInIfAsked, verdictText, screenshots, poll, TIMEOUT } from './browser-lib.mjs';

const EMAIL = 'sam@example.net';
const OTHER = 'robin@example.com';
const PASSWORD = 'Otter lantern meadow 77';
const PHONE = { width: 375, height: 740 };
const ORG = 'Example Clinic';

// phone: the recipient's phone; stranger: signed in as someone else
let browser, ctx, phone, stranger;
const sealed = {};

function sealTo(name, to, extra = {}) {
  const html = seal(ctx, makeMail({ to, subject: `Subject ${name}`, text: `Body of ${name}.\n`, ...extra }), `${name}.html`);
  const link = linkIn(path.join(ctx.dir, `${name}.html.out.eml`));
  assert.ok(link, `the sealed mail ${name} carries the open link`);
  const u = new URL(link);
  return { html, link, id: u.pathname.slice(3), mp: new URLSearchParams(u.hash.slice(1)).get('mp') };
}

before(async () => {
  browser = await launch();
  ctx = await keydWithOrg(ORG);
  const r = sealpost(['--data-dir', ctx.keyd.dataDir, 'org', 'set', ORG, '--keep-copies', '30']);
  assert.equal(r.status, 0, `org set --keep-copies: ${r.stderr}`);
  recipientAdd(ctx.keyd.dataDir, EMAIL, PASSWORD);
  recipientAdd(ctx.keyd.dataDir, OTHER, PASSWORD);
  sealed.data = crypto.randomBytes(200000);
  sealed.one = sealTo('one', EMAIL, { attachments: [{ name: 'scan.bin', type: 'application/octet-stream', data: sealed.data }] });
  sealed.other = sealTo('other', OTHER);
  sealed.two = sealTo('two', EMAIL);
  phone = await browser.newContext({ viewport: PHONE, acceptDownloads: true });
  // Every text the progress line shows, in order.
  await phone.addInitScript(() => {
    window.progressSeen = [];
    document.addEventListener('DOMContentLoaded', () => {
      const p = document.getElementById('sp-progress-text');
      if (p) new MutationObserver(() => window.progressSeen.push(p.textContent)).observe(p, { childList: true, characterData: true, subtree: true });
    });
  });
});
after(async () => {
  await browser?.close();
  await ctx?.keyd.stop();
});

const copyFile = (id) => path.join(ctx.keyd.dataDir, 'copies', `${id}.ct`);

async function noOverflow(page, what) {
  const w = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(w <= PHONE.width, `${what}: ${w} px wide on a ${PHONE.width} px screen`);
}

// What this browser's key store holds: per record, whether it contains the
// mail key part in the clear; and whether the device key is extractable.
function keyStore(page, mps) {
  return page.evaluate((parts) => new Promise((resolve, reject) => {
    const r = indexedDB.open('sealpost-keys');
    r.onerror = () => reject(r.error);
    r.onsuccess = () => {
      const db = r.result;
      const tx = db.transaction(['parts', 'device'], 'readonly');
      const keys = tx.objectStore('parts').getAllKeys();
      const vals = tx.objectStore('parts').getAll();
      const dev = tx.objectStore('device').get('key');
      tx.oncomplete = () => {
        const dec = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='), (c) => c.charCodeAt(0));
        const has = (hay, needle) => {
          for (let i = 0; i + needle.length <= hay.length; i++) if (needle.every((b, j) => hay[i + j] === b)) return true;
          return false;
        };
        const clear = vals.result.some((v) => parts.some((p) => has(Array.from(v.ct), Array.from(dec(p)))));
        db.close();
        resolve({ ids: keys.result.sort(), clear, extractable: dev.result ? dev.result.extractable : null,
          storage: localStorage.length + sessionStorage.length });
      };
    };
  }), mps);
}

test('the mail\'s link opens the message on a phone, and the list opens it again on this device', { timeout: TIMEOUT * 6 }, async (t) => {
  const { one, two, other } = sealed;
  assert.ok(fs.existsSync(copyFile(one.id)), 'the key server keeps the copy');
  const page = await phone.newPage();
  await page.goto(one.link);
  assert.equal(new URL(page.url()).hash, '', 'the fragment left the address bar at once');
  await page.locator('#sp-login:not([hidden])').waitFor({ timeout: TIMEOUT });
  assert.equal(await page.inputValue('#sp-email'), EMAIL, 'the sign-in is prefilled from the link');
  await noOverflow(page, 'sign-in');
  await screenshots(page, 'copy-signin');
  await signInIfAsked(page, EMAIL, PASSWORD);
  assert.match(await verdictText(page), /Genuine envelope from Example Clinic/);
  assert.equal((await page.textContent('#sp-subject')).trim(), 'Subject one');
  const seen = await page.evaluate(() => window.progressSeen);
  assert.ok(seen.includes('Downloading the message: 100%'), `download progress in percent: ${seen.join(' | ')}`);
  assert.match(await page.textContent('#sp-body'), /Body of one\./);
  assert.equal(new URL(page.url()).hash, '');
  await noOverflow(page, 'message');
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: TIMEOUT }), page.click('#sp-att-list a.download')]);
  assert.equal(dl.suggestedFilename(), 'scan.bin');
  assert.ok(fs.readFileSync(await dl.path()).equals(sealed.data), 'the attachment saves byte for byte');
  await screenshots(page, 'copy-message');
  await axe(t, page, 'copy-mode page');
  // The key part is kept, encrypted under a key the script cannot read.
  const ks = await poll(async () => { const s = await keyStore(page, [one.mp]); return s.ids.includes(one.id) ? s : null; });
  assert.deepEqual(ks.ids, [one.id]);
  assert.equal(ks.clear, false, 'no key part in the clear');
  assert.equal(ks.extractable, false, 'the device key is not extractable');
  assert.equal(ks.storage, 0, 'nothing in localStorage or sessionStorage');

  // The list: this recipient's messages only, newest first.
  await page.click('#sp-list-link');
  await page.locator('#sp-rows li').first().waitFor({ timeout: TIMEOUT });
  const hrefs = await page.locator('#sp-rows a.msg-link').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  assert.deepEqual(hrefs.sort(), [`/m/${one.id}`, `/m/${two.id}`].sort(), 'this recipient\'s messages, not another\'s');
  const sent = await page.locator('#sp-rows li dl > div:first-child time').evaluateAll((ts) => ts.map((t) => Date.parse(t.dateTime)));
  assert.equal(sent.length, 2);
  assert.ok(sent[0] >= sent[1], 'newest first');
  const rowOf = (id) => page.locator('#sp-rows li', { has: page.locator(`a[href="/m/${id}"]`) });
  assert.match(await rowOf(one.id).textContent(), /Example Clinic.*alice@clinic\.example.*Sent.*Size.*KB.*Expires.*Opens on this device/s);
  assert.match(await rowOf(two.id).textContent(), /from the mail.s link once/);
  assert.doesNotMatch(await page.textContent('#sp-rows'), /Subject/);
  assert.match(await page.textContent('#sp-list-note'), /Subjects are not listed/);
  await noOverflow(page, 'list');
  await screenshots(page, 'copy-list');
  await axe(t, page, 'list page');
  // From the list, without the mail: the key part kept on this device.
  await rowOf(one.id).locator('a').click();
  await page.waitForURL(`**/m/${one.id}`, { timeout: TIMEOUT });
  assert.match(await verdictText(page), /Genuine envelope from Example Clinic/);
  assert.match(await page.textContent('#sp-body'), /Body of one\./);
  await page.close();
});

test('a link without its key, with another key, or for someone else shows a clear page', { timeout: TIMEOUT * 6 }, async () => {
  const { one } = sealed;
  const bare = `${ctx.keyd.url}/m/${one.id}`;
  const fresh = await browser.newContext({ viewport: PHONE });
  const page = await fresh.newPage();
  await page.goto(bare);
  const missing = await verdictText(page);
  assert.match(missing, /This link is missing its key/);
  assert.match(missing, /Open the link from the mail again, or open the attachment securedoc\.html/);
  assert.doesNotMatch(missing, /decrypt|genuine/i);
  await noOverflow(page, 'missing key');
  await screenshots(page, 'copy-missing');
  // A malformed key part: the same page.  (about:blank between: a link that
  // differs only after # does not load the page again by itself.)
  await page.goto('about:blank');
  await page.goto(`${bare}#mp=not-a-key`);
  assert.match(await verdictText(page), /This link is missing its key/);
  assert.equal(new URL(page.url()).hash, '');
  await fresh.close();

  // A key part of the right length that is not this message's (on the
  // phone that keeps the right one: the link's key wins).
  const page2 = await phone.newPage();
  await page2.goto(`${bare}#mp=${crypto.randomBytes(32).toString('base64url')}`);
  const wrong = await verdictText(page2);
  assert.match(wrong, /This link.s key does not belong to this message/);
  assert.match(wrong, /Open the link from the mail again/);
  assert.ok(await page2.locator('#sp-message').isHidden());
  assert.doesNotMatch(await page2.textContent('body'), /Body of one|Subject one/);
  await noOverflow(page2, 'wrong key');
  await screenshots(page2, 'copy-wrong');
  assert.deepEqual((await keyStore(page2, [])).ids, [one.id], 'the key kept on this device stays');
  await page2.close();

  // Someone else, with the whole link.
  stranger = await browser.newContext({ viewport: PHONE });
  const sp = await stranger.newPage();
  await sp.goto(one.link);
  await signInIfAsked(sp, OTHER, PASSWORD);
  assert.match(await verdictText(sp), /This message was not sent to you/);
  assert.doesNotMatch(await sp.textContent('body'), /Body of one|Subject one/);
  await noOverflow(sp, 'not a recipient');
  await sp.close();
});

test('a withdrawn message: its copy leaves the key server, the page says so, the list and this device forget it', { timeout: TIMEOUT * 6 }, async (t) => {
  const { one, two } = sealed;
  const page = await phone.newPage();
  // This device keeps the second message's key part too.
  await page.goto(two.link);
  await signInIfAsked(page, EMAIL, PASSWORD);
  assert.match(await verdictText(page), /Genuine envelope/);
  await poll(async () => ((await keyStore(page, [])).ids.includes(two.id) ? true : null));

  assert.ok(fs.existsSync(copyFile(one.id)));
  const r = sealpost(['--data-dir', ctx.keyd.dataDir, 'retract', one.id]);
  assert.equal(r.status, 0, `retract: ${r.stderr}`);
  await poll(() => (fs.existsSync(copyFile(one.id)) ? null : true));
  assert.ok(fs.existsSync(copyFile(two.id)), 'the other copy stays');

  await page.goto(`${ctx.keyd.url}/m/${one.id}`);
  assert.match(await verdictText(page), /This message was withdrawn by the sender/);
  assert.ok(await page.locator('#sp-message').isHidden());
  await noOverflow(page, 'withdrawn');
  await screenshots(page, 'copy-withdrawn');

  await page.goto(`${ctx.keyd.url}/messages`);
  await page.locator('#sp-rows li').first().waitFor({ timeout: TIMEOUT });
  const hrefs = await page.locator('#sp-rows a.msg-link').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  assert.deepEqual(hrefs, [`/m/${two.id}`]);
  const ids = await poll(async () => { const s = await keyStore(page, []); return s.ids.includes(one.id) ? null : s.ids; });
  assert.deepEqual(ids, [two.id], 'the withdrawn message\'s key part is dropped');
  assert.match(await page.textContent('#sp-rows'), /Opens on this device/);
  // Someone else signs in on this browser (a shared computer): their list
  // tidies only their own kept key parts; this recipient's stays.
  const signOut = () => page.evaluate(async () => {
    const s = await (await fetch('/api/v1/session')).json();
    await fetch('/api/v1/session', { method: 'DELETE', headers: { 'X-CSRF-Token': s.csrf } });
  });
  await signOut();
  await page.goto(`${ctx.keyd.url}/messages`);
  await signInIfAsked(page, OTHER, PASSWORD);
  await page.locator('#sp-rows li').first().waitFor({ timeout: TIMEOUT });
  assert.deepEqual((await keyStore(page, [])).ids, [two.id], 'another account\'s list keeps this one\'s key part');
  await signOut();
  await page.goto(`${ctx.keyd.url}/messages`);
  await signInIfAsked(page, EMAIL, PASSWORD);
  await page.locator('#sp-rows li').first().waitFor({ timeout: TIMEOUT });
  assert.match(await page.textContent('#sp-rows'), /Opens on this device/);
  // Forget this device.
  await page.click('#sp-forget');
  await page.locator('#sp-forget-done:not([hidden])').waitFor({ timeout: TIMEOUT });
  assert.deepEqual((await keyStore(page, [])).ids, []);
  assert.match(await page.textContent('#sp-rows'), /from the mail.s link once/);
  await page.close();

  // A recipient with nothing left: the empty list.
  const np = await stranger.newPage();
  assert.equal(sealpost(['--data-dir', ctx.keyd.dataDir, 'retract', sealed.other.id]).status, 0);
  await np.goto(`${ctx.keyd.url}/messages`);
  await np.locator('#sp-empty:not([hidden])').waitFor({ timeout: TIMEOUT });
  assert.match(await np.textContent('#sp-empty'), /Nothing here right now/);
  assert.equal(await np.locator('#sp-rows li').count(), 0);
  await noOverflow(np, 'empty list');
  await screenshots(np, 'copy-list-empty');
  await axe(t, np, 'empty list page');
  await np.close();
});

test('a first-time recipient registers from the link on a phone, confirms, signs in and reads', { timeout: TIMEOUT * 6 }, async () => {
  const NEWBIE = 'new.patient@example.org';
  const s = sealTo('first', NEWBIE);
  const ctxNew = await browser.newContext({ viewport: PHONE });
  const page = await ctxNew.newPage();
  await page.goto(s.link);
  await page.locator('#sp-login:not([hidden])').waitFor({ timeout: TIMEOUT });
  // The sign-in card offers the account this message needs.
  const reg = page.locator('#sp-register');
  assert.equal(await reg.getAttribute('href'), `/register?email=${encodeURIComponent(NEWBIE)}&id=${s.id}`);
  const [form] = await Promise.all([ctxNew.waitForEvent('page', { timeout: TIMEOUT }), reg.click()]);
  await form.waitForLoadState('domcontentloaded');
  assert.equal(await form.inputValue('[name=email]'), NEWBIE);
  await noOverflow(form, 'registration');
  await fillRegistration(form, PASSWORD);
  await screenshots(form, 'copy-register');
  await Promise.all([form.waitForLoadState('domcontentloaded'), form.locator('form [type=submit]').last().click()]);
  await form.getByText(/check your mail/i).first().waitFor({ timeout: TIMEOUT });
  await form.goto(activationLink(ctx.keyd.outbox, NEWBIE));
  await form.getByRole('button', { name: /confirm my address/i }).click();
  await form.waitForLoadState('domcontentloaded');
  await noOverflow(form, 'activation');
  await form.close();
  // Back on the message's page (its key is still in that page): sign in, read.
  await signInIfAsked(page, NEWBIE, PASSWORD);
  await page.locator('#sp-message:not([hidden])').waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.match(await page.textContent('#sp-body'), /Body of first\./);
  await noOverflow(page, 'first message');
  await ctxNew.close();
});

test('strangers who used up the address\'s codes for the hour do not keep a first-time reader of the link out', { timeout: TIMEOUT * 4 }, async () => {
  const TARGET = 'held.patient@example.org';
  const s = sealTo('held', TARGET);
  const ask = () => fetch(`${ctx.keyd.url}/api/v1/signup`, { method: 'POST',
    headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ email: TARGET, password: 'some stranger 1234' }) });
  for (let i = 0; i < 3; i++) assert.equal((await ask()).status, 202);
  assert.equal((await ask()).status, 429);
  const before = mailsTo(ctx.keyd.outbox, TARGET).length;
  // the page of the mail's link holds the mail part: its sign-up says so
  const ctxNew = await browser.newContext({ viewport: PHONE });
  const page = await ctxNew.newPage();
  await page.goto(s.link);
  await page.locator('#sp-login:not([hidden])').waitFor({ timeout: TIMEOUT });
  await page.getByRole('button', { name: 'Create your password' }).click();
  await poll(async () => (await page.inputValue('#sp-new-email')) || null);
  assert.equal(await page.inputValue('#sp-new-email'), TARGET);
  await page.getByLabel('New password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('New password again').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create my password' }).click();
  await page.getByText(`We sent a 6-digit code to ${TARGET}.`).waitFor({ timeout: TIMEOUT });
  const code = await poll(async () => {
    const m = mailsTo(ctx.keyd.outbox, TARGET).slice(before).map((x) => /^ {4}(\d{6})$/m.exec(x.body)).filter(Boolean);
    return m.length ? m[m.length - 1][1] : null;
  });
  await page.getByLabel('6-digit code from the mail').fill(code);
  await page.getByRole('button', { name: 'Confirm and open' }).click();
  await page.locator('#sp-message:not([hidden])').waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.match(await page.textContent('#sp-body'), /Body of held\./);
  await noOverflow(page, 'held message');
  await ctxNew.close();
});
