// spanish.test.mjs - Spanish end to end: an organisation whose default
// language is Spanish seals a message; a stranger whose browser asks for
// Spanish opens the envelope, creates a password, types the code of the
// (Spanish) mail, reads the message and answers it (Secure Reply), and no
// English sentence is left on any page of that journey; the switcher then turns the open page into
// English and the choice stays (a cookie).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { pathToFileURL } from 'node:url';
import { makeMail, mailsTo, sealpost, sleepSync } from '../lib/harness.mjs';
import { launch, keydWithOrg, seal, clickOpen, screenshots, TIMEOUT } from './browser-lib.mjs';

const ORG = 'Cl\u00ednica Ejemplo';
const EMAIL = 'lucia.reyes@example.org';
const PASSWORD = 'azafr\u00e1n tranv\u00eda invierno 77';

let browser, ctx, envelope;
before(async () => {
  [browser, ctx] = await Promise.all([launch(), keydWithOrg(ORG, 'clinica.example')]);
  const r = sealpost(['--data-dir', ctx.keyd.dataDir, 'org', 'set', ORG, '--language', 'es', '--replies', 'on',
    '--forward', 'on']);
  assert.equal(r.status, 0, String(r.stderr));
  envelope = seal(ctx, makeMail({ from: 'Dra. Alicia <alicia@clinica.example>', to: EMAIL,
    subject: 'Sus resultados', text: 'Hola,\nya tenemos sus resultados.\n' }));
});
after(async () => {
  await browser?.close();
  await ctx?.keyd.stop();
});

// Words that only English sentences have; the page's visible text, less
// what is not a sentence (addresses, file and product names, the name of
// the other language in the switcher, the message itself), must hold none.
const ENGLISH = /\b(the|your|you|and|with|this|that|is|are|message|password|sign|open|secure|from|to|of|here|first|time|create|code|mail|send|confirm|choose|envelope|key|server|help)\b/i;
async function assertNoEnglish(page, what, skip = []) {
  let text = await page.evaluate(() => document.body.innerText);
  for (const s of [/[\w.+-]+@[\w.-]+/g, /https?:\/\/\S+/g, /securedoc\.html/g, /sealpost/gi, /English/g, ...skip])
    text = text.replace(s, ' ');
  const m = ENGLISH.exec(text);
  assert.equal(m, null, `${what}: English left: "${m ? text.slice(Math.max(0, m.index - 60), m.index + 60) : ''}"`);
}

function mailTo(pred) {
  const until = Date.now() + 5000;
  for (;;) {
    const m = mailsTo(ctx.keyd.outbox, EMAIL).filter(pred);
    if (m.length) return m[m.length - 1];
    if (Date.now() > until) throw new Error('no such mail');
    sleepSync(25);
  }
}

test('Spanish end to end: envelope, new password, code mail, message; switching to English', { timeout: TIMEOUT * 4 }, async () => {
  const context = await browser.newContext({ locale: 'es-ES', viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();

  // the envelope, in the organisation's language
  await page.goto(pathToFileURL(envelope).href);
  assert.equal(await page.getAttribute('html', 'lang'), 'es');
  assert.match(await page.title(), /^Mensaje seguro de Cl\u00ednica Ejemplo$/);
  assert.match(await page.textContent('#sp-open'), /^Abrir$/);
  await assertNoEnglish(page, 'envelope', [/Sus resultados|Dra\. Alicia/g]);
  await screenshots(page, 'spanish-envelope');

  // the open page in the reader's language, the sign-in card in Spanish
  const popup = await clickOpen(page);
  await popup.locator('#sp-login:not([hidden])').waitFor({ timeout: TIMEOUT });
  assert.equal(await popup.getAttribute('html', 'lang'), 'es');
  assert.equal((await popup.textContent('#sp-login-title')).trim(), 'Entre para leer su mensaje seguro');
  await assertNoEnglish(popup, 'sign-in');
  await screenshots(popup, 'spanish-signin');

  await popup.getByRole('button', { name: 'Crear su contrase\u00f1a' }).click();
  await popup.getByLabel('Contrase\u00f1a nueva', { exact: true }).fill(PASSWORD);
  await popup.getByLabel('Repita la contrase\u00f1a nueva').fill(PASSWORD);
  await assertNoEnglish(popup, 'create password');
  await popup.getByRole('button', { name: 'Crear mi contrase\u00f1a' }).click();
  await popup.getByText(`Le hemos enviado un c\u00f3digo de 6 cifras a ${EMAIL}.`).waitFor({ timeout: TIMEOUT });
  await assertNoEnglish(popup, 'code');
  await screenshots(popup, 'spanish-code');

  // the code's mail: in the reader's language too
  const mail = mailTo((m) => /^ {4}\d{6}$/m.test(m.body));
  assert.match(mail.text, /^Subject: .*=\?UTF-8\?|^Subject: Su c/mi);
  assert.match(mail.body, /Buenos d\u00edas|Buenos d=C3=ADas|alguien \(esperamos que usted\)/);
  const code = /^ {4}(\d{6})$/m.exec(mail.body)[1];

  await popup.getByLabel('C\u00f3digo de 6 cifras del correo').fill(code);
  await popup.getByRole('button', { name: 'Confirmar y abrir' }).click();
  await popup.locator('#sp-message:not([hidden])').waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.match(await popup.textContent('#sp-body'), /ya tenemos sus resultados/);
  assert.match(await popup.textContent('#sp-verdict'), /Sobre aut\u00e9ntico de Cl\u00ednica Ejemplo, firmado y comprobado/);
  await assertNoEnglish(popup, 'message', [/Sus resultados|ya tenemos sus resultados|Hola,|Dra\. Alicia/g]);
  await screenshots(popup, 'spanish-message');

  // a secure reply, in Spanish from the buttons to the confirmation
  await popup.locator('#sp-reply').waitFor({ timeout: TIMEOUT });
  assert.equal(await popup.textContent('#sp-reply'), 'Responder');
  assert.equal(await popup.textContent('#sp-forward'), 'Reenviar');
  await popup.click('#sp-reply');
  await popup.locator('#sp-compose:not([hidden])').waitFor({ timeout: TIMEOUT });
  assert.equal(await popup.textContent('#sp-compose-title'), 'Responder');
  assert.equal(await popup.inputValue('#sp-subject-input'), 'Re: Sus resultados');
  assert.match(await popup.inputValue('#sp-body-input'), /^\n\nEl .+, "?Dra\. Alicia"? <alicia@clinica\.example> escribi\u00f3:\n> Hola,/);
  await popup.getByLabel('Enviarme autom\u00e1ticamente una copia oculta (CCO)').waitFor({ timeout: TIMEOUT });
  // on a phone the longer Spanish labels wrap: nothing scrolls sideways
  await popup.setViewportSize({ width: 375, height: 800 });
  assert.ok(await popup.evaluate(() => document.documentElement.scrollWidth <= 375),
    `compose at 375 pixels: ${await popup.evaluate(() => document.documentElement.scrollWidth)} wide`);
  await popup.setViewportSize({ width: 1280, height: 900 });
  assert.equal(await popup.textContent('#sp-send'), 'Enviar de forma segura');
  await assertNoEnglish(popup, 'compose', [/Re: Sus resultados/g]);
  await popup.fill('#sp-subject-input', '');
  await popup.click('#sp-send');
  assert.equal(await popup.textContent('#sp-subject-error'), 'Indique un asunto para el mensaje.');
  await popup.fill('#sp-subject-input', 'Re: Sus resultados');
  await popup.locator('#sp-body-input').press('Control+Home');
  await popup.locator('#sp-body-input').pressSequentially('Muchas gracias.');
  await popup.click('#sp-send');
  await popup.locator('#sp-sent').waitFor({ timeout: TIMEOUT });
  assert.equal(await popup.textContent('#sp-sent-title'), 'Su respuesta se ha sellado y enviado a alicia@clinica.example');
  await assertNoEnglish(popup, 'reply sent');
  await popup.click('#sp-sent-back');

  // the switcher: the same page in English, and the choice stays
  await popup.getByRole('link', { name: 'English' }).click();
  // a later visit asks first for what the short sign-up left for later
  await popup.locator('#sp-finish-part:not([hidden])').waitFor({ timeout: TIMEOUT });
  assert.equal((await popup.textContent('#sp-login-title')).trim(), 'Finish your account');
  await popup.getByRole('button', { name: 'Not now' }).click();
  await popup.locator('#sp-message:not([hidden])').waitFor({ state: 'visible', timeout: TIMEOUT });
  assert.equal(await popup.getAttribute('html', 'lang'), 'en');
  assert.match(await popup.textContent('#sp-verdict'), /Genuine envelope from Cl\u00ednica Ejemplo, signed and checked/);
  assert.match(await popup.textContent('#sp-who-email'), /^Signed in as /);
  const cookie = (await context.cookies()).find((c) => c.name === 'sp_lang');
  assert.equal(cookie?.value, 'en');
  const help = await context.newPage();
  await help.goto(`${ctx.keyd.url}/help`);
  assert.equal(await help.getAttribute('html', 'lang'), 'en');
  assert.match(await help.textContent('h1'), /Help with secure messages/);
  await help.getByRole('link', { name: 'Espa\u00f1ol' }).click();
  await help.waitForURL(/lang=es/);
  assert.match(await help.textContent('h1'), /Ayuda con los mensajes seguros/);
  await context.close();
});
