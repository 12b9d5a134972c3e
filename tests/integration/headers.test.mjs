// headers.test.mjs - every route of the key server (read from its route
// table, src/keyd/keyd_router.c, so that a new route is covered the day it
// is added), asked with each of its methods and with a method it does not
// take, answers with the security headers; and a state-changing request
// that carries the session cookie but not the CSRF token is refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, startKeyd, orgAdd, recipientAdd } from '../lib/harness.mjs';

const PW = 'Marble otter lantern 41';
const PAT = 'pat@example.org';
let keyd, token;

before(async () => {
  keyd = await startKeyd();
  token = orgAdd(keyd.dataDir, 'Example Clinic', 'clinic.example');
  recipientAdd(keyd.dataDir, PAT, PW);
});
after(async () => { await keyd?.stop(); });

// The route table: [{methods, match, path}] in the router's order.
function routes() {
  const src = fs.readFileSync(path.join(ROOT, 'src/keyd/keyd_router.c'), 'utf8');
  const out = [];
  for (const m of src.matchAll(/\{(M_[A-Z_]+(?: \| M_[A-Z_]+)*), (EXACT|PREFIX|ITEM|TREE), "([^"]+)"/g)) {
    out.push({ methods: m[1], match: m[2], path: m[3] });
  }
  return out;
}

const METHODS = { M_GET: ['GET'], M_HEAD: ['HEAD'], M_POST: ['POST'], M_PUT: ['PUT'], M_DELETE: ['DELETE'],
  M_PAGE: ['GET', 'HEAD'], M_FORM: ['GET', 'POST'], M_ANY: ['GET', 'POST'] };
const ID = 'AAAAAAAAAAAAAAAAAAAAAA';

// A concrete URL for a route.
function urlOf(r) {
  let p = r.path.replace('*', ID);
  if (r.match === 'PREFIX' && p.endsWith('/')) p += p.startsWith('/static/') ? 'open.js' : p.startsWith('/m/') ? ID : 'x';
  if (r.path === '/leave') p += '?to=' + encodeURIComponent('https://example.org/');
  return p;
}

function checkHeaders(res, what) {
  const h = (n) => res.headers.get(n) || '';
  assert.match(h('content-security-policy'), /^default-src 'none'; script-src 'self';.*frame-ancestors 'none'$/, `${what}: CSP`);
  assert.doesNotMatch(h('content-security-policy'), /unsafe-eval|script-src[^;]*(https?:|\*)/, `${what}: CSP scripts`);
  assert.equal(h('x-content-type-options'), 'nosniff', `${what}: nosniff`);
  assert.equal(h('referrer-policy'), 'no-referrer', `${what}: referrer`);
  assert.equal(h('x-frame-options'), 'DENY', `${what}: frame`);
  assert.match(h('cache-control'), /^(no-store|public, max-age=\d+)$/, `${what}: cache`);
  if (!/^\/static\/|\/logo$/.test(new URL(res.url).pathname)) assert.equal(h('cache-control'), 'no-store', `${what}: no-store`);
}

test('every route, with its methods and one it does not take, carries the security headers', async () => {
  const rs = routes();
  assert.ok(rs.length >= 40, `the route table was read (${rs.length} routes)`);
  let asked = 0;
  for (const r of rs) {
    const url = urlOf(r);
    const methods = r.methods.split(' | ').flatMap((m) => METHODS[m]);
    for (const method of [...new Set(methods), 'PATCH']) {
      const res = await fetch(keyd.url + url, {
        method, redirect: 'manual',
        headers: method === 'POST' || method === 'PUT' ? { 'Content-Type': 'application/json', Origin: keyd.url } : {},
        body: method === 'POST' || method === 'PUT' ? '{}' : undefined,
      });
      await res.arrayBuffer();
      assert.ok(res.status < 500, `${method} ${url}: ${res.status}`);
      checkHeaders(res, `${method} ${url} (${res.status})`);
      asked++;
    }
  }
  // And what no route serves.
  for (const url of ['/nothing-here', '/api/v2/x', '/static/../keyd.sqlite', '/m/']) {
    const res = await fetch(keyd.url + url);
    await res.arrayBuffer();
    checkHeaders(res, `GET ${url} (${res.status})`);
  }
  assert.ok(asked > 80, `${asked} requests`);
});

test('a state-changing request with the session cookie but without the CSRF token is refused', async () => {
  const r = await fetch(`${keyd.url}/api/v1/session`, { method: 'POST', headers: { 'Content-Type': 'application/json', Origin: keyd.url },
    body: JSON.stringify({ email: PAT, password: PW }) });
  assert.equal(r.status, 200);
  const cookie = r.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const { csrf } = await r.json();
  assert.ok(csrf);
  // An envelope for pat, to be sure a refusal is the token's doing.
  const dep = await fetch(`${keyd.url}/api/v1/envelopes`, { method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ from: 'doc@clinic.example', recipients: [PAT], expires: 0, format: 2 }) });
  assert.equal(dep.status, 201);
  const id = (await dep.json()).id;
  const tries = [
    ['POST', `/api/v1/envelopes/${id}/release`, {}],
    ['POST', `/api/v1/envelopes/${id}/verify`, { answer: 'x' }],
    ['POST', '/api/v1/account/profile', { first_name: 'Mallory' }],
    ['POST', '/api/v1/account/passkeys/options', {}],
    ['DELETE', '/api/v1/session', undefined],
  ];
  for (const [method, url, body] of tries) {
    for (const bad of [undefined, 'not-the-token']) {
      const res = await fetch(keyd.url + url, { method,
        headers: { cookie, Origin: keyd.url, 'Content-Type': 'application/json', ...(bad ? { 'X-CSRF-Token': bad } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await res.text();
      assert.equal(res.status, 403, `${method} ${url} with ${bad ? 'a wrong' : 'no'} token: ${res.status} ${text}`);
      assert.match(text, /CSRF/i, `${method} ${url}: says why`);
    }
  }
  // The session still works (the DELETE did nothing), and with the token
  // the release goes through.
  const ok = await fetch(`${keyd.url}/api/v1/envelopes/${id}/release`, { method: 'POST',
    headers: { cookie, Origin: keyd.url, 'Content-Type': 'application/json', 'X-CSRF-Token': csrf }, body: '{}' });
  assert.equal(ok.status, 200, await ok.text());
  // A form post without the token changes nothing either.
  for (const url of ['/account', '/resend', '/forgot']) {
    const res = await fetch(keyd.url + url, { method: 'POST', redirect: 'manual',
      headers: { cookie, 'Content-Type': 'application/x-www-form-urlencoded' }, body: `email=${encodeURIComponent(PAT)}` });
    const text = await res.text();
    assert.ok(res.status === 403 || res.status === 400, `${url} without a token: ${res.status}`);
    assert.match(text, /expired|again|token|form/i, `${url}: says why`);
  }
});
