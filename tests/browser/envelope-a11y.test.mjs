// envelope-a11y.test.mjs - the envelope file itself (securedoc.html as
// `sealpost seal` writes it), opened from a file: URL as a mail client
// hands it over: an axe-core scan finds no serious or critical violation,
// as it first shows and once Open found its window blocked; screenshots at
// 375 and 1280 pixels.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { pathToFileURL } from 'node:url';
import { makeMail } from '../lib/harness.mjs';
import { launch, keydWithOrg, seal, axe, screenshots, TIMEOUT } from './browser-lib.mjs';

let browser, ctx, file;
before(async () => {
  browser = await launch();
  // a name of one long word, as German firms have: it wraps on a phone
  ctx = await keydWithOrg('KPMG AG Wirtschaftsprüfungsgesellschaft');
  file = seal(ctx, makeMail({ from: 'Dr Alice <alice@clinic.example>', to: 'pat@example.org', cc: 'sam@example.net' }));
});
after(async () => {
  await browser?.close();
  await ctx?.keyd.stop();
});

test('the envelope has no serious or critical accessibility violation, at a phone\'s width and a desktop\'s', async (t) => {
  for (const width of [375, 1280]) {
    const context = await browser.newContext({ viewport: { width, height: 800 } });
    const page = await context.newPage();
    await page.goto(pathToFileURL(file).href);
    await page.locator('#sp-open').waitFor({ state: 'visible', timeout: TIMEOUT });
    await axe(t, page, `the envelope at ${width} px`);
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(wide <= width, `no sideways scrolling at ${width} px (${wide})`);
    if (width === 375) await screenshots(page, 'envelope');
    await context.close();
  }
});

test('the envelope with its window blocked (Open online instead) has no serious or critical violation', async (t) => {
  const context = await browser.newContext({ viewport: { width: 375, height: 800 } });
  const page = await context.newPage();
  // A browser that blocks the window: window.open gives null.
  await page.addInitScript(() => { window.open = () => null; });
  await page.goto(pathToFileURL(file).href);
  await page.click('#sp-open');
  await page.waitForFunction(() => document.getElementById('sp-status')?.textContent.trim().length > 0, null, { timeout: TIMEOUT });
  await axe(t, page, 'the envelope after a blocked window');
  await screenshots(page, 'envelope-blocked');
  await context.close();
});
