// i18n.test.mjs - English and Spanish over real HTTP: a page's language
// from ?lang= (which sets the sp_lang cookie), the cookie, the signed-in
// account's language and Accept-Language, in that order, English otherwise;
// the switcher on every page; only complete catalogues offered; API errors
// in the request's language (reason codes unchanged); mails to an account in its
// language; the notification mail and the envelope in the organisation's
// default language (told to the sealer in the deposit answer).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startKeyd, orgAdd, sealpost, makeMail, mailsTo, sleepSync, storeSql, tmpDir } from '../lib/harness.mjs';

const PW = 'tortuga lim\u00f3n puerto 58';
let K;
before(async () => {
  K = await startKeyd({ args: ['--login-free-ip', '100000', '--form-free', '100000'] });
});
after(async () => {
  await K?.stop();
});

async function page(p, headers = {}) {
  const r = await fetch(K.url + p, { headers, redirect: 'manual' });
  return { status: r.status, headers: r.headers, html: await r.text() };
}
const langOf = (html) => /<html lang="([a-z]+)">/.exec(html)?.[1];

function mailsWait(email, n) {
  const until = Date.now() + 5000;
  for (;;) {
    const m = mailsTo(K.outbox, email);
    if (m.length >= n) return m;
    if (Date.now() > until) throw new Error(`${m.length} mails to ${email}, wanted ${n}`);
    sleepSync(25);
  }
}

test('a page answers in the language chosen, asked for, or English', async () => {
  let r = await page('/help');
  assert.equal(langOf(r.html), 'en');
  assert.match(r.html, /<h1>Help with secure messages<\/h1>/);
  // the switcher: the other language as a link to this page, working without scripts
  assert.match(r.html, /<nav class="langs" aria-label="Language"><span lang="en" aria-current="true">English<\/span>.*<a lang="es" hreflang="es" href="\/help\?lang=es">Espa\u00f1ol<\/a><\/nav>/);

  r = await page('/help', { 'Accept-Language': 'es-MX,es;q=0.9,en;q=0.5' });
  assert.equal(langOf(r.html), 'es');
  assert.match(r.html, /<h1>Ayuda con los mensajes seguros<\/h1>/);
  assert.match(r.html, /Su contrase\u00f1a solo se escribe en este sitio/);
  assert.match(r.html, /<a lang="en" hreflang="en" href="\/help\?lang=en">English<\/a>/);

  // a language without a complete catalogue is never chosen
  r = await page('/help', { 'Accept-Language': 'fr-FR,fr;q=0.9' });
  assert.equal(langOf(r.html), 'en');
  r = await page('/help?lang=fr');
  assert.equal(langOf(r.html), 'en');
  assert.ok(!(r.headers.get('set-cookie') || '').includes('sp_lang'), 'no cookie for a language not offered');

  // ?lang= chooses and remembers; the cookie wins over the browser's wish
  r = await page('/help?lang=es', { 'Accept-Language': 'en' });
  assert.equal(langOf(r.html), 'es');
  assert.match(r.headers.get('set-cookie'), /sp_lang=es; Path=\/; SameSite=Lax; Max-Age=31536000/);
  r = await page('/help', { Cookie: 'sp_lang=en', 'Accept-Language': 'es' });
  assert.equal(langOf(r.html), 'en');
  r = await page('/help', { Cookie: 'sp_lang=xx', 'Accept-Language': 'es' });
  assert.equal(langOf(r.html), 'es');

  // the query of the page is kept in the switcher's link, escaped
  r = await page('/open?id=AAAAAAAAAAAAAAAAAAAAAA', { 'Accept-Language': 'es' });
  assert.equal(langOf(r.html), 'es');
  assert.match(r.html, /href="\/open\?id=AAAAAAAAAAAAAAAAAAAAAA&amp;lang=en"/);
  assert.match(r.html, /<title>Abrir un mensaje seguro<\/title>/);
  assert.match(r.html, /<script type="application\/json" id="sp-i18n">\{"js\./);
  const cat = JSON.parse(/id="sp-i18n">(.*?)<\/script>/s.exec(r.html)[1]);
  assert.equal(cat['js.signin_title'], 'Entre para leer su mensaje seguro');
  r = await page('/help?x=%22%3E%3Cimg%20src%3Dq%3E&lang=es');
  assert.ok(!r.html.includes('<img src=q>'), 'the query is escaped');
  assert.match(r.html, /href="\/help\?x=%22%3E%3Cimg%20src%3Dq%3E&amp;lang=en"/);
});

test('registration offers the complete languages only, and pages in Spanish throughout', async () => {
  const r = await page('/register', { 'Accept-Language': 'es' });
  assert.equal(langOf(r.html), 'es');
  const opts = [...r.html.matchAll(/<option value="([a-z]{2})" lang="[a-z]{2}"/g)].map((m) => m[1]);
  assert.deepEqual(opts, ['en', 'es']);
  assert.ok(r.html.includes('<option value="es" lang="es" selected>'), 'the page\'s language is chosen');
  assert.match(r.html, /<title>Reg\u00edstrese para recibir mensajes seguros \u00b7 sealpost<\/title>/);
  assert.match(r.html, /\u00bfCu\u00e1l es el apellido de soltera de su madre\?/);
  assert.ok(!/>Password</.test(r.html) && !/Choose a question/.test(r.html), 'no English left');
  const bad = await page('/activate?t=AAAAAAAAAAAAAAAAAAAAAA', { 'Accept-Language': 'es' });
  assert.equal(bad.status, 400);
  assert.match(bad.html, /Este enlace no se puede usar/);
});

test('the API answers in the request\'s language; scripts branch on reason codes, not words', async () => {
  const r = await fetch(K.url + '/api/v1/signup/confirm', {
    method: 'POST', headers: { 'Content-Type': 'application/json', 'Accept-Language': 'es' },
    body: JSON.stringify({ signup: 'spu_AAAAAAAAAAAAAAAAAAAAAA', email: 'nadie@example.org', code: '123456' }),
  });
  assert.equal(r.status, 401);
  const b = await r.json();
  assert.deepEqual(b, { error: 'c\u00f3digo incorrecto' });
  const e = await fetch(K.url + '/api/v1/signup', {
    method: 'POST', headers: { 'Content-Type': 'application/json', 'Accept-Language': 'es' },
    body: JSON.stringify({ email: 'ana@example.org', password: 'password1' }),
  });
  assert.equal(e.status, 400);
  assert.deepEqual(await e.json(), { error: 'Esta contrase\u00f1a es demasiado habitual: elija una m\u00e1s dif\u00edcil de adivinar', field: 'password' });
});

test('an account in Spanish: its pages and its mails follow it', async () => {
  const email = `ana.${process.pid}@example.org`;
  const post = (p, body, headers = {}) => fetch(K.url + p, { method: 'POST', body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json', ...headers } });
  // a sign-up from a Spanish browser: the code's mail in Spanish, the account too
  let r = await post('/api/v1/signup', { email, password: PW }, { 'Accept-Language': 'es-ES' });
  assert.equal(r.status, 202);
  const s = await r.json();
  assert.equal(s.sent, `Le hemos enviado un c\u00f3digo de 6 cifras a ${email}.`);
  const mail = mailsWait(email, 1)[0];
  assert.match(mail.body, /alguien \(esperamos que usted\) est\u00e1 creando una cuenta/);
  assert.match(mail.body, /caduca en 15 minutos/);
  const code = /^ {4}(\d{6})$/m.exec(mail.body)[1];
  r = await post('/api/v1/signup/confirm', { signup: s.signup, email, code });
  assert.equal(r.status, 200);
  const token = (await r.json()).session;
  assert.equal(storeSql(K.dataDir, `SELECT language FROM accounts WHERE email = '${email}'`), 'es');

  // signed in, a browser that asks for nothing in particular: Spanish
  const cookie = `${r.headers.get('set-cookie').split(';')[0]}`;
  assert.ok(token);
  let p = await page('/help', { Cookie: cookie, 'Accept-Language': 'en' });
  assert.equal(langOf(p.html), 'es');
  p = await page('/help', { Cookie: `${cookie}; sp_lang=en` });
  assert.equal(langOf(p.html), 'en', 'an explicit choice wins');

  // a mail to the account from an English request: in the account's language
  r = await post('/api/v1/signup', { email, password: PW }, { 'Accept-Language': 'en' });
  assert.equal(r.status, 202);
  const exists = mailsWait(email, 2)[1];
  assert.match(exists.body, /pero esta direcci\u00f3n ya tiene una, as\u00ed que no se ha cambiado nada/);
  assert.match(exists.text, /^Subject: =\?(UTF-8|utf-8)\?|^Subject: Su cuenta de mensajes seguros/m);
});

test('the notification mail and the envelope follow the organisation\'s language', () => {
  const token = orgAdd(K.dataDir, 'Banco Ejemplo', 'banco.example');
  const dir = tmpDir('sealpost-i18n-');
  const sealIt = (name) => {
    const inFile = path.join(dir, `${name}.eml`), out = path.join(dir, `${name}.out`), html = path.join(dir, `${name}.html`);
    fs.writeFileSync(inFile, makeMail({ from: 'info@banco.example', to: 'cliente@example.org', subject: 'Extracto' }));
    const r = sealpost(['seal', '--keyd', K.url, '--token', token, '-i', inFile, '-o', out, '--html', html]);
    assert.equal(r.status, 0, String(r.stderr));
    const mail = fs.readFileSync(out, 'latin1');
    const parts = [...mail.matchAll(/Content-Type: text\/(plain|html); charset=utf-8\r?\nContent-Transfer-Encoding: base64\r?\n\r?\n([A-Za-z0-9+/=\r\n]+)/g)]
      .map((m) => Buffer.from(m[2].replace(/\s+/g, ''), 'base64').toString('utf8'));
    return { text: parts[0], html: parts[1], envelope: fs.readFileSync(html, 'latin1') };
  };
  let e = sealIt('en');
  assert.match(e.text, /You have received a secure message from Banco Ejemplo\./);
  assert.match(e.envelope, /<html lang="en">/);
  assert.match(e.envelope, /<title>Secure message from Banco Ejemplo<\/title>/);

  const r = sealpost(['--data-dir', K.dataDir, 'org', 'set', 'Banco Ejemplo', '--language', 'es']);
  assert.equal(r.status, 0, String(r.stderr));
  e = sealIt('es');
  assert.match(e.text, /Ha recibido un mensaje seguro de Banco Ejemplo\.\r\n/);
  assert.match(e.text, /Para leerlo, abra en su navegador el archivo adjunto securedoc\.html\./);
  assert.match(e.html, /<h2[^>]*>Ha recibido un mensaje seguro de Banco Ejemplo<\/h2>/);
  assert.match(e.html, /\u00bfHa olvidado su contrase\u00f1a\?<\/a>/);
  assert.match(e.envelope, /<html lang="es">/);
  assert.match(e.envelope, /<title>Mensaje seguro de Banco Ejemplo<\/title>/);
  assert.match(e.envelope, /id="sp-open">Abrir<\/button>/);
  assert.match(e.envelope, /Regístrese|Reg&#237;strese una sola vez/);
  assert.ok(!/[\u0080-\uffff]/.test(e.envelope), 'the envelope stays 7-bit');
  // the envelope's script reads its sentences from the meta
  const meta = JSON.parse(/id="sp-meta">(.*?)<\/script>/s.exec(e.envelope)[1]);
  assert.match(meta.t['env.js.opening'], /^Abriendo la p\u00e1gina del servidor de claves/);
});

test('org set --language takes the offered languages only, and its help names them', () => {
  orgAdd(K.dataDir, 'Idiomas', 'idiomas.example');
  const r = sealpost(['--data-dir', K.dataDir, 'org', 'set', 'Idiomas', '--language', 'de']);
  assert.equal(r.status, 2);
  assert.match(String(r.stderr), /--language takes one of en, es, not 'de'/);
  const h = sealpost(['org', '--help']);
  assert.match(String(h.stdout) + String(h.stderr), /languages whose catalogue is complete: en, es\./);
});
