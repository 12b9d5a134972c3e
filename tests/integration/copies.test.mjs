// copies.test.mjs - the key server's ciphertext copies on a real
// sealpost-keyd over loopback (both store backends, SEALPOST_TEST_DB): the
// sealer uploads the ciphertext after /seal when the organisation keeps
// copies, the notification links to KEYD/m/ID#mp=..., a signed-in recipient
// (and only one) gets the header, signature and bytes, uploads are streamed
// and bounded, the quota holds, retraction and expiry delete the copy, the
// recipient's list, and: the key server, with everything it has, cannot
// decrypt a copy.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { startKeyd, sealpost, storeSql, orgAdd, recipientAdd, makeMail, tmpDir, PGSQL } from '../lib/harness.mjs';

const PW = 'correct horse battery staple';
const pat = 'pat@example.org';
const sam = 'sam@example.net';
const MAX_COPY = 64 << 20;
let K, clinic, plain, tiny, work;

const sha256 = (b) => crypto.createHash('sha256').update(b).digest();

before(async () => {
  K = await startKeyd({ args: ['--shred-interval', '0', '--max-copy', String(MAX_COPY)] });
  clinic = orgAdd(K.dataDir, 'clinic', 'clinic.example');
  plain = orgAdd(K.dataDir, 'plain', 'plain.example');
  tiny = orgAdd(K.dataDir, 'tiny', 'tiny.example');
  for (const [name, args] of [['clinic', ['--keep-copies', '30']],
    ['tiny', ['--keep-copies', '30', '--copy-quota', '1']]]) {
    const r = sealpost(['--data-dir', K.dataDir, 'org', 'set', name, ...args]);
    assert.equal(r.status, 0, r.stderr.toString());
  }
  recipientAdd(K.dataDir, pat, PW);
  recipientAdd(K.dataDir, sam, PW);
  work = tmpDir('sealpost-copies-');
});
after(async () => { await K?.stop(); });

const call = async (p, { method = 'GET', auth, body, headers = {} } = {}) => {
  const r = await fetch(K.url + p, {
    method,
    headers: { ...(auth ? { Authorization: `Bearer ${auth}` } : {}), ...headers },
    body, ...(body && typeof body.getReader === 'function' ? { duplex: 'half' } : {}),
  });
  const buf = Buffer.from(await r.arrayBuffer());
  let json = null;
  try { json = JSON.parse(buf.toString()); } catch { /* not JSON */ }
  return { status: r.status, json, buf, headers: r.headers };
};

async function login(email) {
  const r = await call('/api/v1/session', { method: 'POST', body: JSON.stringify({ email, password: PW }),
    headers: { 'Content-Type': 'application/json' } });
  assert.equal(r.status, 200, r.buf.toString());
  return r.json.session;
}

// Seal a mail with the CLI; the sealed mail's parts as text.
function seal(token, { to = pat, from = 'doc@clinic.example', attachments = [] } = {}) {
  const inp = path.join(work, `in-${crypto.randomUUID()}.eml`);
  const out = inp.replace('in-', 'out-');
  fs.writeFileSync(inp, makeMail({ from, to, attachments }));
  const r = sealpost(['seal', '--keyd', K.url, '--token', token, '-i', inp, '-o', out]);
  assert.equal(r.status, 0, r.stderr.toString());
  const mail = fs.readFileSync(out, 'latin1');
  const id = /X-Sealpost-Envelope: (\S+)/.exec(mail)[1];
  // the notice's parts are base64; the envelope is 7bit
  const parts = [...mail.matchAll(/Content-Transfer-Encoding: base64\r?\n\r?\n([A-Za-z0-9+/=\r\n]+)/g)]
    .map((m) => Buffer.from(m[1].replace(/\s/g, ''), 'base64').toString('utf8'));
  const b64 = (re) => Buffer.from(re.exec(mail)[1].replace(/\s/g, ''), 'base64');
  const meta = JSON.parse(/<script type="application\/json" id="sp-meta">([^<]*)<\/script>/.exec(mail)[1]);
  return { id, mail, stderr: r.stderr.toString(), text: parts[0], html: parts[1],
    header: b64(/<textarea id="sp-header"[^>]*>([^<]*)<\/textarea>/),
    ct: b64(/<input type="hidden" id="sp-payload" name="c" value="([^"]*)">/), mp: meta.mp };
}

const copyFile = (id) => path.join(K.dataDir, 'copies', `${id}.ct`);
const copySize = (id) => Number(storeSql(K.dataDir, `SELECT copy_size FROM envelopes WHERE id = '${id}'`));
const put = (token, id, body, headers = {}) => call(`/api/v1/envelopes/${id}/copy`,
  { method: 'PUT', auth: token, body, headers: { 'Content-Type': 'application/octet-stream', ...headers } });

// A body of n bytes of zeros, streamed in 1 MiB pieces (chunked: no
// Content-Length).
function zeros(n) {
  let left = n;
  const piece = new Uint8Array(1 << 20);
  return new ReadableStream({
    pull(c) {
      if (left <= 0) { c.close(); return; }
      const k = Math.min(left, piece.length);
      left -= k;
      c.enqueue(piece.subarray(0, k));
    },
  });
}

// A PUT that declares a body over --max-copy and sends only its start: the
// status (the key server answers before the body).
function declaredTooBig(token, id) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${K.url}/api/v1/envelopes/${id}/copy`, { method: 'PUT',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/octet-stream',
        'Content-Length': String(MAX_COPY + 1) } }, (res) => { res.resume(); resolve(res.statusCode); req.destroy(); });
    req.on('error', reject);
    req.write(Buffer.alloc(1024));
  });
}

const vmHWM = (pid) => Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;

let S;	// a sealed message of clinic to pat, with its copy

test('an organisation that keeps copies: the copy is the ciphertext of the attachment, the notice links to it', async () => {
  S = seal(clinic, { attachments: [{ name: 'scan.pdf', type: 'application/pdf', data: crypto.randomBytes(200000) }] });
  assert.ok(fs.existsSync(copyFile(S.id)), 'the copy is in DATA/copies');
  assert.ok(fs.readFileSync(copyFile(S.id)).equals(S.ct), 'the copy is exactly the ciphertext of the attachment');
  assert.equal(copySize(S.id), S.ct.length);
  const link = `${K.url}/m/${S.id}#mp=${S.mp}&to=${encodeURIComponent(pat)}`;
  assert.ok(S.text.includes(`Open in your browser (also on a phone): ${link}`), S.text);
  assert.ok(S.html.includes(`href="${link.replace(/&/g, '&amp;')}"`), S.html);
  const audit = storeSql(K.dataDir, `SELECT detail FROM audit WHERE event = 'copy-stored' AND envelope_id = '${S.id}'`);
  assert.equal(audit, `size=${S.ct.length}`);
});

test('a signed-in recipient gets header, signature and bytes; others do not', async () => {
  const tok = await login(pat);
  const m = await call(`/api/v1/envelopes/${S.id}/copy`, { auth: tok });
  assert.equal(m.status, 200, m.buf.toString());
  assert.ok(Buffer.from(m.json.header, 'base64').equals(S.header), 'the exact header bytes');
  assert.equal(m.json.size, S.ct.length);
  assert.equal(m.json.ct_sha256, sha256(S.ct).toString('hex'));
  assert.equal(m.json.data, `/api/v1/envelopes/${S.id}/copy/data`);
  const rel = await call(`/api/v1/envelopes/${S.id}/release`, { method: 'POST', auth: tok });
  assert.equal(m.json.sig, rel.json.sig);
  const d = await call(m.json.data, { auth: tok });
  assert.equal(d.status, 200);
  assert.equal(d.headers.get('content-type'), 'application/octet-stream');
  assert.equal(d.headers.get('cache-control'), 'no-store');
  assert.equal(Number(d.headers.get('content-length')), S.ct.length);
  assert.equal(sha256(d.buf).toString('hex'), m.json.ct_sha256);
  // not a recipient, not signed in, an organisation token, a bad id
  const other = await login(sam);
  assert.equal((await call(`/api/v1/envelopes/${S.id}/copy`, { auth: other })).status, 403);
  assert.equal((await call(`/api/v1/envelopes/${S.id}/copy/data`, { auth: other })).status, 403);
  assert.equal((await call(`/api/v1/envelopes/${S.id}/copy`)).status, 401);
  assert.equal((await call(`/api/v1/envelopes/${S.id}/copy/data`)).status, 401);
  assert.equal((await call(`/api/v1/envelopes/${S.id}/copy`, { auth: clinic })).status, 401);
  assert.equal((await call('/api/v1/envelopes/nonsense/copy', { auth: tok })).status, 404);
  // the same bytes again: 200; methods
  const again = await put(clinic, S.id, S.ct);
  assert.equal(again.status, 200, again.buf.toString());
  assert.deepEqual(again.json, { ok: true, size: S.ct.length });
  const del = await call(`/api/v1/envelopes/${S.id}/copy`, { method: 'DELETE', auth: clinic });
  assert.equal(del.status, 405);
  assert.equal(del.headers.get('allow'), 'GET, PUT');
});

test('the open page in copy mode and the list page', async () => {
  const p = await call(`/m/${S.id}`);
  assert.equal(p.status, 200);
  assert.ok(p.headers.get('content-security-policy').includes("default-src 'none'"));
  assert.ok(p.buf.toString().includes(S.id));
  assert.ok(!p.buf.toString().includes('{{'), 'every placeholder is filled');
  const bad = await call('/m/not-an-id');
  assert.equal(bad.status, 200);
  assert.ok(!bad.buf.toString().includes('not-an-id'));
  const l = await call('/messages');
  assert.ok(l.status === 200 || l.status === 503, String(l.status));
});

test('a release with the page\'s claims: the recorded envelope opens; another gets nothing and is not recorded as read', async () => {
  const J = seal(clinic);
  const tok = await login(pat);
  const rel = (claims) => call(`/api/v1/envelopes/${J.id}/release`, { method: 'POST', auth: tok,
    body: JSON.stringify(claims) });
  const hex = (b) => sha256(b).toString('hex');
  const opened = () => storeSql(K.dataDir, `SELECT opened FROM envelope_rcpt WHERE envelope_id = '${J.id}'`);
  const forged = await rel({ header_sha256: hex(Buffer.from('a made-up header')), ct_sha256: hex(J.ct) });
  assert.equal(forged.status, 403, forged.buf.toString());
  assert.equal(forged.json.reason, 'not-genuine');
  assert.deepEqual(forged.json.mismatch, ['header']);
  assert.equal(forged.json.server_part, undefined);
  const both = await rel({ header_sha256: hex(J.ct), ct_sha256: hex(J.header) });
  assert.deepEqual(both.json.mismatch, ['header', 'ciphertext']);
  assert.equal(opened(), '0', 'not recorded as read');
  assert.match(storeSql(K.dataDir, `SELECT detail FROM audit WHERE event = 'release-refused' AND envelope_id = '${J.id}' LIMIT 1`),
    /not the one the sender sealed/);
  const bad = await rel({ ct_sha256: 'zz' });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.field, 'header_sha256');
  // the envelope recorded, or no claim at all (an API client): released
  const ok = await rel({ header_sha256: hex(J.header), ct_sha256: hex(J.ct) });
  assert.equal(ok.status, 200, ok.buf.toString());
  assert.match(ok.json.server_part, /^[\w-]{43}$/);
  assert.notEqual(opened(), '0');
  assert.equal((await rel({})).status, 200);
});

test('an organisation without copies keeps none and links to none', async () => {
  const P = seal(plain, { from: 'doc@plain.example' });
  assert.ok(!fs.existsSync(copyFile(P.id)));
  assert.equal(copySize(P.id), 0);
  assert.ok(!P.text.includes('/m/') && !P.html.includes('/m/'));
  const r = await put(plain, P.id, P.ct);
  assert.equal(r.status, 403);
  assert.equal(r.json.reason, 'no-copies');
  const tok = await login(pat);
  const g = await call(`/api/v1/envelopes/${P.id}/copy`, { auth: tok });
  assert.equal(g.status, 404);
  assert.equal(g.json.reason, 'no-copy');
});

test('uploads: wrong bytes 400, another organisation 403, too big 413, streamed without growing memory', async () => {
  const X = seal(clinic);
  fs.unlinkSync(copyFile(X.id));
  storeSql(K.dataDir, `UPDATE envelopes SET copy_size = 0 WHERE id = '${X.id}'`);
  const bad = await put(clinic, X.id, crypto.randomBytes(X.ct.length));
  assert.equal(bad.status, 400, bad.buf.toString());
  assert.equal(bad.json.field, 'copy');
  assert.equal((await put(plain, X.id, X.ct)).status, 403);
  assert.equal((await put(undefined, X.id, X.ct)).status, 401);
  // declared too big: refused before the body
  assert.equal(await declaredTooBig(clinic, X.id), 413);
  // 60 MB streamed (under --max-copy): the key server's peak memory stays
  // far below the body's size; the digest does not match
  const before = vmHWM(K.pid);
  const r60 = await put(clinic, X.id, zeros(60 << 20));
  assert.equal(r60.status, 400, r60.buf.toString());
  const grew = vmHWM(K.pid) - before;
  assert.ok(grew < 20 << 20, `peak memory grew by ${grew} bytes for a 60 MB body`);
  // over --max-copy without Content-Length: 413
  const r70 = await put(clinic, X.id, zeros(MAX_COPY + (1 << 20)));
  assert.equal(r70.status, 413);
  assert.ok(vmHWM(K.pid) - before < 20 << 20);
  assert.equal(fs.readdirSync(path.join(K.dataDir, 'tmp')).length, 0, 'no temporary file stays');
  // the right bytes are kept
  const ok = await put(clinic, X.id, X.ct);
  assert.equal(ok.status, 201, ok.buf.toString());
  assert.ok(fs.readFileSync(copyFile(X.id)).equals(X.ct));
});

test('over the quota: 507, and the seal still succeeds without a copy', async () => {
  const T = seal(tiny, { from: 'doc@tiny.example',
    attachments: [{ name: 'big.bin', data: crypto.randomBytes(1200000) }] });
  assert.match(T.stderr, /warning: envelope \S+: the key server did not keep a copy/);
  assert.ok(!fs.existsSync(copyFile(T.id)));
  assert.equal(copySize(T.id), 0);
  const r = await put(tiny, T.id, T.ct);
  assert.equal(r.status, 507);
  assert.equal(r.json.reason, 'quota');
  // a small one fits
  const U = seal(tiny, { from: 'doc@tiny.example' });
  assert.equal(copySize(U.id), U.ct.length);
});

test('the recipient list: only the signed-in recipient\'s envelopes that still open, newest first', async () => {
  const both = seal(clinic, { to: `${pat}, ${sam}` });
  const samOnly = seal(clinic, { to: sam });
  const patTok = await login(pat);
  const samTok = await login(sam);
  let r = await call(`/api/v1/envelopes/${both.id}/retract`, { method: 'POST', auth: clinic,
    body: JSON.stringify({ recipient: pat }), headers: { 'Content-Type': 'application/json' } });
  assert.equal(r.status, 200);
  const mine = (await call('/api/v1/me/envelopes', { auth: patTok })).json.envelopes;
  const ids = mine.map((e) => e.id);
  assert.ok(ids.includes(S.id));
  assert.ok(!ids.includes(both.id), 'retracted for pat');
  assert.ok(!ids.includes(samOnly.id), 'not addressed to pat');
  const s = mine.find((e) => e.id === S.id);
  assert.deepEqual(Object.keys(s).sort(), ['copy', 'created', 'expires', 'from', 'id', 'level', 'org', 'size']);
  assert.equal(s.org, 'clinic');
  assert.equal(s.copy, true);
  assert.equal(s.size, S.ct.length);
  for (let i = 1; i < mine.length; i++) assert.ok(mine[i - 1].created >= mine[i].created);
  const samIds = (await call('/api/v1/me/envelopes', { auth: samTok })).json.envelopes.map((e) => e.id);
  assert.ok(samIds.includes(both.id) && samIds.includes(samOnly.id) && !samIds.includes(S.id));
  assert.equal((await call('/api/v1/me/envelopes')).status, 401);
});

test('retracting the whole envelope deletes its copy for good', async () => {
  const R = seal(clinic);
  assert.ok(fs.existsSync(copyFile(R.id)));
  let r = await call(`/api/v1/envelopes/${R.id}/retract`, { method: 'POST', auth: clinic });
  assert.equal(r.status, 200);
  assert.ok(!fs.existsSync(copyFile(R.id)), 'the blob is gone');
  assert.equal(copySize(R.id), 0);
  assert.match(storeSql(K.dataDir, `SELECT event FROM audit WHERE envelope_id = '${R.id}' ORDER BY id`), /copy-deleted/);
  r = await call(`/api/v1/envelopes/${R.id}/unretract`, { method: 'POST', auth: clinic });
  assert.equal(r.status, 200);
  const tok = await login(pat);
  const g = await call(`/api/v1/envelopes/${R.id}/copy`, { auth: tok });
  assert.equal(g.status, 404);
  assert.equal(g.json.reason, 'no-copy');
  // retracted: the same answer as a release
  const R2 = seal(clinic);
  await call(`/api/v1/envelopes/${R2.id}/retract`, { method: 'POST', auth: clinic });
  const g2 = await call(`/api/v1/envelopes/${R2.id}/copy`, { auth: tok });
  assert.equal(g2.status, 410);
  assert.equal(g2.json.reason, 'retracted');
  assert.equal((await put(clinic, R2.id, R2.ct)).status, 410);
});

test('expiry: `sealpost expire --run` deletes the copy with the key', async () => {
  const E = seal(clinic);
  assert.ok(fs.existsSync(copyFile(E.id)));
  storeSql(K.dataDir, `UPDATE envelopes SET expires = ${Math.floor(Date.now() / 1000) - 5} WHERE id = '${E.id}'`);
  const tok = await login(pat);
  assert.equal((await call(`/api/v1/envelopes/${E.id}/copy`, { auth: tok })).status, 410);
  const r = sealpost(['--data-dir', K.dataDir, 'expire', '--run']);
  assert.equal(r.status, 0, r.stderr.toString());
  assert.match(r.stdout.toString(), /deleted \d+ ciphertext cop/);
  assert.ok(!fs.existsSync(copyFile(E.id)));
  assert.equal(copySize(E.id), 0);
});

test('the shred job deletes a copy whose keeping time has passed', async () => {
  const J = seal(clinic);
  assert.ok(fs.existsSync(copyFile(J.id)));
  storeSql(K.dataDir, `UPDATE envelopes SET copy_until = ${Math.floor(Date.now() / 1000) - 1} WHERE id = '${J.id}'`);
  // past its keeping time it is gone for readers at once, purged or not
  const tok = await login(pat);
  for (const p of ['copy', 'copy/data']) {
    const g = await call(`/api/v1/envelopes/${J.id}/${p}`, { auth: tok });
    assert.equal(g.status, 404, `${p}: ${g.buf.toString()}`);
    assert.equal(g.json.reason, 'no-copy');
  }
  // and an upload after the keeping time stores nothing
  storeSql(K.dataDir, `UPDATE envelopes SET created = ${Math.floor(Date.now() / 1000) - 31 * 86400} WHERE id = '${J.id}'`);
  const late = await put(clinic, J.id, J.ct);
  assert.equal(late.status, 410, late.buf.toString());
  assert.equal(late.json.reason, 'copy-expired');
  // a second key server on the same data with the job running every second
  const K2 = await startKeyd({ dataDir: K.dataDir, args: ['--shred-interval', '1'] });
  try {
    const until = Date.now() + 10000;
    while (fs.existsSync(copyFile(J.id)) && Date.now() < until) await sleep(50);
  } finally { await K2.stop(); }
  assert.ok(!fs.existsSync(copyFile(J.id)), 'the job deleted the copy');
  assert.equal(copySize(J.id), 0);
  assert.ok(fs.existsSync(copyFile(S.id)), 'copies still kept stay');
});

// AES-256-GCM STREAM, first chunk only (docs/envelope-format.md 3): the
// plaintext, or null when the tag does not verify.
function firstChunk(key, header, ct) {
  const np = Buffer.from(JSON.parse(header.toString()).np, 'base64url');
  const last = ct.length <= 65536 + 16;
  const n = last ? ct.length : 65536 + 16;
  const nonce = Buffer.concat([np, Buffer.from([0, 0, 0, 0, last ? 1 : 0])]);
  try {
    const d = crypto.createDecipheriv('aes-256-gcm', key, nonce);
    d.setAAD(sha256(header));
    d.setAuthTag(ct.subarray(n - 16, n));
    return Buffer.concat([d.update(ct.subarray(0, n - 16)), d.final()]);
  } catch { return null; }
}
const hkdf = (salt, ikm, id) => Buffer.from(crypto.hkdfSync('sha256', ikm, Buffer.from(salt),
  Buffer.from(`message key ${id}`), 32));

test('the key server cannot decrypt a stored copy: it needs the mail part', async () => {
  // everything the key server has: the copy, the header and, unwrapped
  // with its master key, the server part (released here to the depositing
  // organisation, which the key server does for it)
  const copy = fs.readFileSync(copyFile(S.id));
  const rel = await call(`/api/v1/envelopes/${S.id}/release`, { method: 'POST', auth: clinic });
  assert.equal(rel.status, 200);
  const server = Buffer.from(rel.json.server_part, 'base64url');
  const header = (await call(`/api/v1/envelopes/${S.id}/copy`, { auth: await login(pat) })).json.header;
  const hb = Buffer.from(header, 'base64');
  const tries = [];
  for (const salt of ['sealpost/v2', 'sealpost/v1', '']) {
    tries.push(hkdf(salt, server, S.id));				// server part alone
    tries.push(hkdf(salt, Buffer.concat([server, Buffer.alloc(32)]), S.id));	// zero mail part
    tries.push(hkdf(salt, Buffer.concat([Buffer.alloc(32), server]), S.id));
  }
  // the holder tag the key server keeps (a one-way function of the mail part)
  const hex = PGSQL ? "encode(holder, 'hex')" : 'hex(holder)';
  const tag = Buffer.from(storeSql(K.dataDir, `SELECT ${hex} FROM envelopes WHERE id = '${S.id}'`), 'hex');
  assert.equal(tag.length, 32, 'the sealer deposited a holder tag');
  assert.ok(!tag.equals(Buffer.from(S.mp, 'base64url')));
  for (const salt of ['sealpost/v2', 'sealpost/v1']) {
    tries.push(hkdf(salt, Buffer.concat([server, tag]), S.id));	// the tag as the mail part
    tries.push(hkdf(salt, Buffer.concat([tag, server]), S.id));
  }
  tries.push(server);							// the server part as the key
  tries.push(sha256(server));
  tries.push(tag);
  for (const k of tries) assert.equal(firstChunk(k, hb, copy), null, 'no key without the mail part decrypts');
  // with the mail part from the mail it opens
  const mp = Buffer.from(S.mp, 'base64url');
  const plainChunk = firstChunk(hkdf('sealpost/v2', Buffer.concat([server, mp]), S.id), hb, copy);
  assert.ok(plainChunk !== null, 'the mail part opens it');
  assert.equal(plainChunk.subarray(0, 4).toString(), 'SPC1');
  // and the key server's data holds the mail part nowhere
  const needle = mp.toString('hex');
  const dump = [];
  const walk = (d) => { for (const f of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, f.name);
    if (f.isDirectory()) walk(p); else if (f.isFile() && !p.includes(`${path.sep}outbox${path.sep}`)) dump.push(p);
  } };
  walk(K.dataDir);
  for (const f of dump) {
    const b = fs.readFileSync(f);
    assert.ok(!b.includes(mp) && !b.toString('latin1').includes(S.mp) && !b.toString('latin1').includes(needle), f);
  }
});
