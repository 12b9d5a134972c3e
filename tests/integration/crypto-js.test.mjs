// crypto-js.test.mjs - web/portal/sp-crypto.js under Node: the shared test
// vectors of both formats (tests/vectors/envelope-v1.json and
// envelope-v2.json: keys, decryption, Ed25519 signatures, tampering), a
// STREAM built here with node:crypto (several chunks, tampering of every
// kind), the header rules of both formats, the check against the key
// server's record (checkRecord), and SPC1 containers built by hand
// (parsing, inflate, raw rebuild, bounds errors).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { ROOT } from '../lib/harness.mjs';
import * as spc from '../../web/portal/sp-crypto.js';

const hex = (s) => new Uint8Array(Buffer.from(s, 'hex'));
const b64url = (b) => Buffer.from(b).toString('base64url');

function hkdf(serverPart, mailPart, id, version = 1) {
  return Buffer.from(crypto.hkdfSync('sha256', Buffer.concat([serverPart, mailPart]),
    Buffer.from('sealpost/v' + version), Buffer.from('message key ' + id), 32));
}

// Seal like docs/envelope-format.md section 3, independently of the module.
function seal(key, np, header, pt) {
  const ad = crypto.createHash('sha256').update(header).digest();
  const n = Math.max(1, Math.ceil(pt.length / 65536));
  const out = [];
  for (let i = 0; i < n; i++) {
    const nonce = Buffer.alloc(12);
    Buffer.from(np).copy(nonce, 0);
    nonce.writeUInt32BE(i, 7);
    nonce[11] = i === n - 1 ? 1 : 0;
    const c = crypto.createCipheriv('aes-256-gcm', key, nonce);
    c.setAAD(ad);
    out.push(c.update(pt.subarray(i * 65536, (i + 1) * 65536)), c.final(), c.getAuthTag());
  }
  return Buffer.concat(out);
}

const ID = 'AAECAwQFBgcICQoLDA0ODw';
function makeHeader(over = {}) {
  const h = { v: 1, id: ID, keyd: 'https://keys.example.org', org: 'Example Clinic', from: 'dr@clinic.example',
    to: ['pat@example.org'], created: 1795000000, expires: 0, alg: 'A256GCM-STREAM-64K', np: b64url(Buffer.from([1, 2, 3, 4, 5, 6, 7])), ...over };
  return Buffer.from(JSON.stringify(h));
}

const vectorsFile = path.join(ROOT, 'tests/vectors/envelope-v1.json');
const SEALED = 65552;

// The vectors give small plaintexts and ciphertexts in hex; large ones as a
// pattern (byte i = i mod 251) and the SHA-256 of the ciphertext, which is
// rebuilt here with node:crypto (an independent implementation) and checked.
function vectorInputs(c, version = 1) {
  const pt = typeof c.plaintext === 'string' ? Buffer.from(c.plaintext, 'hex')
    : Buffer.from(Array.from({ length: c.plaintext.len }, (_, i) => i % 251));
  const header = Buffer.from(c.header, 'hex');
  let ct;
  if (c.ciphertext) ct = Buffer.from(c.ciphertext, 'hex');
  else {
    ct = seal(hkdf(Buffer.from(c.server_part, 'hex'), Buffer.from(c.mail_part, 'hex'), c.id, version), Buffer.from(c.np, 'hex'), header, pt);
    assert.equal(crypto.createHash('sha256').update(ct).digest('hex'), c.ciphertext_sha256, `${c.name}: ciphertext hash`);
  }
  assert.equal(ct.length, c.ciphertext_len, `${c.name}: ciphertext length`);
  return { pt, header, ct, sp: Buffer.from(c.server_part, 'hex'), mp: Buffer.from(c.mail_part, 'hex') };
}

function applyTamper(t, v) {
  const chunks = [];
  for (let i = 0; i < v.ct.length; i += SEALED) chunks.push(v.ct.subarray(i, i + SEALED));
  let { ct, header, sp, mp } = v;
  switch (t.op) {
    case 'flip': ct = Buffer.from(ct); ct[t.offset] ^= t.mask; break;
    case 'header_flip': header = Buffer.from(header); header[t.offset < 0 ? header.length + t.offset : t.offset] ^= t.mask; break;
    case 'drop_chunk': ct = Buffer.concat(chunks.filter((_, i) => i !== t.index)); break;
    case 'dup_chunk': ct = Buffer.concat(chunks.flatMap((c, i) => (i === t.index ? [c, c] : [c]))); break;
    case 'swap_chunks': { const c = [...chunks]; [c[t.a], c[t.b]] = [c[t.b], c[t.a]]; ct = Buffer.concat(c); break; }
    case 'truncate': ct = ct.subarray(0, t.len); break;
    case 'append_chunk': ct = Buffer.concat([ct, chunks[t.index]]); break;
    case 'append': ct = Buffer.concat([ct, Buffer.from(t.hex, 'hex')]); break;
    case 'server_part': sp = Buffer.from(t.hex, 'hex'); break;
    case 'mail_part': mp = Buffer.from(t.hex, 'hex'); break;
    default: assert.fail(`unknown tamper op ${t.op}`);
  }
  return { ct, header, sp, mp };
}

test('shared vectors: key derivation and decryption match the C code', async () => {
  const v = JSON.parse(fs.readFileSync(vectorsFile, 'utf8'));
  assert.ok(Array.isArray(v.cases) && v.cases.length >= 4, 'vector cases');
  for (const c of v.cases) {
    const { pt, header, ct, sp, mp } = vectorInputs(c);
    const h = spc.parseHeader(new Uint8Array(header));
    assert.equal(h.id, c.id);
    assert.equal(Buffer.from(h.noncePrefix).toString('hex'), c.np);
    assert.equal(Buffer.from(await spc.deriveKeyBytes(sp, mp, c.id)).toString('hex'), c.key, `${c.name}: key`);
    const key = await spc.deriveKey(new Uint8Array(sp), new Uint8Array(mp), c.id);
    const got = await spc.decryptStream(key, h.noncePrefix, new Uint8Array(header), new Uint8Array(ct));
    assert.ok(Buffer.from(got).equals(pt), `${c.name}: plaintext`);
  }
});

test('shared vectors: every tampered stream is refused', async () => {
  const v = JSON.parse(fs.readFileSync(vectorsFile, 'utf8'));
  assert.ok(Array.isArray(v.tamper) && v.tamper.length >= 10, 'tamper cases');
  const byName = new Map(v.cases.map((c) => [c.name, c]));
  for (const t of v.tamper) {
    const c = byName.get(t.case);
    assert.ok(c, `tamper ${t.name}: case ${t.case}`);
    const base = vectorInputs(c);
    const x = applyTamper(t, base);
    const h = spc.parseHeader(new Uint8Array(base.header));
    const key = await spc.deriveKey(new Uint8Array(x.sp), new Uint8Array(x.mp), c.id);
    await assert.rejects(spc.decryptStream(key, h.noncePrefix, new Uint8Array(x.header), new Uint8Array(x.ct)),
      (e) => e instanceof spc.EnvelopeError && e.kind === 'auth', `tamper ${t.name}`);
  }
});

test('base64 decoders: standard with white space, base64url, errors', () => {
  const data = crypto.randomBytes(1000);
  const txt = data.toString('base64').replace(/.{76}/g, '$&\r\n');
  assert.deepEqual(Buffer.from(spc.b64decode(txt)), data);
  for (let n = 0; n < 8; n++) {
    const d = crypto.randomBytes(n);
    assert.deepEqual(Buffer.from(spc.b64decode(d.toString('base64'))), d);
    assert.deepEqual(Buffer.from(spc.b64urlDecode(d.toString('base64url'))), d);
  }
  assert.throws(() => spc.b64decode('ab$d'), /base64/);
  assert.throws(() => spc.b64decode('abcde'), /base64/);
  assert.throws(() => spc.b64urlDecode('ab+d'), /base64url/);
  assert.throws(() => spc.b64urlDecode('a=bc'), /base64url/);
});

test('the holder tag of a mail part: the same vector as envelope_test.c, null for a malformed part', async () => {
  const mp = Buffer.from(Array.from({ length: 32 }, (_, i) => i)).toString('base64url');
  assert.equal(await spc.holderTag(mp), 'kEZfNVZYsNjUbKzXoYiGX4AFjTyRColmQnJVPDIcGlI');
  assert.equal(Buffer.from(await spc.holderTag(mp), 'base64url').toString('hex'),
    '90465f355658b0d8d46cacd7a188865f80058d3c910a89664272553c321c1a52');
  for (const bad of ['', mp.slice(1), mp + 'A', mp.replace(/.$/, '+'), 5, null]) assert.equal(await spc.holderTag(bad), null);
});

test('HKDF matches node:crypto and STREAM decrypts 0, 1, 64K and multi-chunk plaintexts', async () => {
  const sp = crypto.randomBytes(32), mp = crypto.randomBytes(32);
  const header = makeHeader();
  const h = spc.parseHeader(new Uint8Array(header));
  const k = hkdf(sp, mp, ID);
  assert.deepEqual(Buffer.from(await spc.deriveKeyBytes(sp, mp, ID)), k);
  const key = await spc.deriveKey(new Uint8Array(sp), new Uint8Array(mp), ID);
  for (const n of [0, 1, 65535, 65536, 65537, 3 * 65536, 200000]) {
    const pt = crypto.randomBytes(n);
    const ct = seal(k, h.noncePrefix, header, pt);
    const got = await spc.decryptStream(key, h.noncePrefix, header, new Uint8Array(ct));
    assert.deepEqual(Buffer.from(got), pt, `length ${n}`);
  }
});

test('STREAM refuses flipped bits, changed header, dropped, reordered, duplicated and truncated chunks, wrong key', async () => {
  const sp = crypto.randomBytes(32), mp = crypto.randomBytes(32);
  const header = makeHeader();
  const h = spc.parseHeader(new Uint8Array(header));
  const k = hkdf(sp, mp, ID);
  const key = await spc.deriveKey(new Uint8Array(sp), new Uint8Array(mp), ID);
  const pt = crypto.randomBytes(3 * 65536 + 100);
  const ct = seal(k, h.noncePrefix, header, pt);
  const S = 65552;
  const chunk = (i) => ct.subarray(i * S, Math.min((i + 1) * S, ct.length));
  const bad = {
    flip: (() => { const c = Buffer.from(ct); c[70000] ^= 1; return c; })(),
    flipTag: (() => { const c = Buffer.from(ct); c[c.length - 1] ^= 0x80; return c; })(),
    drop: Buffer.concat([chunk(0), chunk(2), chunk(3)]),
    reorder: Buffer.concat([chunk(1), chunk(0), chunk(2), chunk(3)]),
    duplicate: Buffer.concat([chunk(0), chunk(0), chunk(1), chunk(2), chunk(3)]),
    truncatedAtChunk: ct.subarray(0, 3 * S),
    truncatedMid: ct.subarray(0, ct.length - 5),
    tooShort: ct.subarray(0, 10),
    empty: Buffer.alloc(0),
  };
  for (const [name, c] of Object.entries(bad)) {
    await assert.rejects(spc.decryptStream(key, h.noncePrefix, header, new Uint8Array(c)),
      (e) => e instanceof spc.EnvelopeError && e.kind === 'auth', name);
  }
  const header2 = makeHeader({ org: 'Example Clinlc' });
  await assert.rejects(spc.decryptStream(key, h.noncePrefix, header2, new Uint8Array(ct)), (e) => e.kind === 'auth', 'header');
  const wrong = await spc.deriveKey(new Uint8Array(crypto.randomBytes(32)), new Uint8Array(mp), ID);
  await assert.rejects(spc.decryptStream(wrong, h.noncePrefix, header, new Uint8Array(ct)), (e) => e.kind === 'auth', 'key');
});

test('decryptor: fed in pieces of every size it gives the same plaintext; nothing before the last chunk; a flipped bit fed late is refused', async () => {
  const sp = crypto.randomBytes(32), mp = crypto.randomBytes(32);
  const header = makeHeader();
  const h = spc.parseHeader(new Uint8Array(header));
  const k = hkdf(sp, mp, ID);
  const key = await spc.deriveKey(new Uint8Array(sp), new Uint8Array(mp), ID);
  const pt = crypto.randomBytes(40 * 65536 + 123);
  const ct = new Uint8Array(seal(k, h.noncePrefix, header, pt));
  for (const step of [1000, 65552, 65553, 300000, ct.length]) {
    const d = spc.decryptor(key, h.noncePrefix, header, ct.length);
    let settled = false;
    d.result().then(() => { settled = true; }, () => { settled = true; });
    // The buffer fills as a download would: the same buffer, growing.
    const buf = new Uint8Array(ct.length);
    for (let at = 0; at < ct.length;) {
      const n = Math.min(step, ct.length - at);
      buf.set(ct.subarray(at, at + n), at);
      at += n;
      d.feed(buf, at);
      if (at < ct.length) {
        await new Promise((r) => setImmediate(r));
        assert.equal(settled, false, `step ${step}: settled before the last byte`);
      }
    }
    assert.deepEqual(Buffer.from(await d.result()), pt, `step ${step}`);
  }
  // A byte flipped near the end, fed after most chunks were decrypted.
  const bad = Uint8Array.from(ct);
  bad[bad.length - 20] ^= 1;
  const d = spc.decryptor(key, h.noncePrefix, header, bad.length);
  d.feed(bad, bad.length - 30);
  d.feed(bad, bad.length);
  await assert.rejects(d.result(), (e) => e instanceof spc.EnvelopeError && e.kind === 'auth');
  // Feeding backwards or past the announced length is refused.
  const d2 = spc.decryptor(key, h.noncePrefix, header, ct.length);
  d2.feed(ct, 100);
  assert.throws(() => d2.feed(ct, 50), spc.EnvelopeError);
  assert.throws(() => spc.decryptor(key, h.noncePrefix, header, 10), (e) => e.kind === 'auth');
});

test('header parsing refuses bad fields', () => {
  assert.throws(() => spc.parseHeader(new Uint8Array(Buffer.from('not json'))), /JSON/);
  assert.throws(() => spc.parseHeader(new Uint8Array(makeHeader({ v: 3 }))), /version/);
  assert.throws(() => spc.parseHeader(new Uint8Array(makeHeader({ v: 2 }))), /missing header field "kid"/);
  assert.throws(() => spc.parseHeader(new Uint8Array(makeHeader({ id: 'short' }))), /id/);
  // every recipient a blind copy: none named, as the C reader takes it
  assert.deepEqual(spc.parseHeader(new Uint8Array(makeHeader({ to: [] }))).to, []);
  assert.throws(() => spc.parseHeader(new Uint8Array(makeHeader({ to: 'a@b.c' }))), /recipients/);
  assert.throws(() => spc.parseHeader(new Uint8Array(makeHeader({ to: Array(501).fill('a@b') }))), /recipients/);
  assert.throws(() => spc.parseHeader(new Uint8Array(makeHeader({ alg: 'X' }))), /algorithm/);
  assert.throws(() => spc.parseHeader(new Uint8Array(makeHeader({ np: 'AAAA' }))), /nonce/);
  assert.throws(() => spc.parseHeader(new Uint8Array(65537)), /size/);
  assert.equal(spc.parseHeader(new Uint8Array(makeHeader())).noncePrefix.length, 7);
});

// Build a container: blobs is a list of {data, z}; manifest fields merged.
function container(blobs, manifest) {
  const area = [];
  let off = 0;
  const entries = blobs.map((b) => {
    const stored = b.z ? zlib.deflateRawSync(b.data) : b.data;
    area.push(stored);
    const e = { off, len: stored.length, z: b.z ? 1 : 0, ulen: b.data.length };
    off += stored.length;
    return e;
  });
  const m = Buffer.from(JSON.stringify({ blobs: entries, ...manifest(entries) }));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(m.length);
  return new Uint8Array(Buffer.concat([Buffer.from('SPC1'), len, m, ...area]));
}

test('container: manifest, plain and deflated blobs, parts, raw rebuild', async () => {
  const text = Buffer.from('Hello \u00e9t\u00e9\n', 'utf8');
  const html = Buffer.from('<p>Hello <img src="cid:img1@x"></p>'.repeat(50));
  const att = crypto.randomBytes(5000);
  const head = Buffer.from('From: a@b\r\nSubject: hi\r\n\r\n');
  const c = container([{ data: text }, { data: html, z: 1 }, { data: att }, { data: head, z: 1 }], () => ({
    headers: { from: 'a@b', to: 'c@d', cc: null, date: 'Mon', subject: 'Caf\u00e9' },
    text: 0, html: 1,
    parts: [{ name: 'r\u00e9sum\u00e9.pdf', type: 'application/pdf', blob: 2, cid: null, inline: false }],
    raw: [{ lit: 3 }, { b64: 2, line: 76, eol: '\r\n', end: true }, { lit: 0 }],
  }));
  const p = spc.parseContainer(c);
  assert.equal(p.headers.subject, 'Caf\u00e9');
  assert.equal(p.headers.cc, '');
  assert.equal(p.text, 0);
  assert.equal(p.html, 1);
  assert.deepEqual(Buffer.from(await p.blob(0)), text);
  assert.deepEqual(Buffer.from(await p.blob(1)), html);
  assert.equal(p.parts[0].name, 'r\u00e9sum\u00e9.pdf');
  assert.equal(p.parts[0].size, 5000);
  assert.deepEqual(Buffer.from(await p.blob(p.parts[0].blob)), att);
  const want = Buffer.concat([head, Buffer.from(att.toString('base64').replace(/.{76}/g, '$&\r\n').replace(/\r\n$/, '') + '\r\n'), text]);
  assert.deepEqual(Buffer.from(await spc.rawMessage(p)), want);
});

test('container: bounds and format errors', async () => {
  const ok = (m) => container([{ data: Buffer.from('abc') }], () => m);
  assert.throws(() => spc.parseContainer(new Uint8Array(Buffer.from('SPC2\0\0\0\0'))), /container/);
  assert.throws(() => spc.parseContainer(new Uint8Array(4)), /container/);
  const big = Buffer.from('SPC1\x7f\0\0\0{}', 'latin1');
  assert.throws(() => spc.parseContainer(new Uint8Array(big)), /manifest length/);
  const c = Buffer.from(ok({ text: 0 }));
  c.writeUInt32BE(c.length, 4);
  assert.throws(() => spc.parseContainer(new Uint8Array(c)), /manifest length/);
  assert.throws(() => spc.parseContainer(ok({ text: 1 })), /text blob out of range/);
  assert.throws(() => spc.parseContainer(ok({ html: -1 })), /html blob out of range/);
  assert.throws(() => spc.parseContainer(ok({ parts: [{ name: 'a', type: 't', blob: 7 }] })), /part blob out of range/);
  assert.throws(() => spc.parseContainer(ok({ raw: [{ lit: 2 }] })), /raw blob out of range/);
  assert.throws(() => spc.parseContainer(ok({ raw: [{ b64: 0, line: 75, eol: '\n' }] })), /line length/);
  assert.throws(() => spc.parseContainer(ok({ raw: Array(100001).fill({ lit: 0 }) })), /raw recipe/);
  const over = container([{ data: Buffer.from('abc') }], () => ({}));
  const m = JSON.stringify({ blobs: [{ off: 1, len: 3, z: 0, ulen: 3 }] });
  const hand = Buffer.concat([Buffer.from('SPC1'), Buffer.from([0, 0, 0, m.length]), Buffer.from(m), Buffer.from('abc')]);
  assert.throws(() => spc.parseContainer(new Uint8Array(hand)), /blob out of range/);
  assert.ok(spc.parseContainer(over));
  const notJson = Buffer.concat([Buffer.from('SPC1'), Buffer.from([0, 0, 0, 3]), Buffer.from('{x}')]);
  assert.throws(() => spc.parseContainer(new Uint8Array(notJson)), /not JSON/);
  // Inflated length must match ulen exactly, in both directions.
  const data = Buffer.from('x'.repeat(1000));
  for (const ulen of [999, 1001]) {
    const z = zlib.deflateRawSync(data);
    const mm = JSON.stringify({ blobs: [{ off: 0, len: z.length, z: 1, ulen }] });
    const l = Buffer.alloc(4);
    l.writeUInt32BE(mm.length);
    const p = spc.parseContainer(new Uint8Array(Buffer.concat([Buffer.from('SPC1'), l, Buffer.from(mm), z])));
    await assert.rejects(p.blob(0), /longer|shorter/);
  }
  const tiny = zlib.deflateRawSync(Buffer.from('x'));
  const mt = JSON.stringify({ blobs: [{ off: 0, len: tiny.length, z: 1, ulen: 100 << 20 }] });
  const lt = Buffer.alloc(4);
  lt.writeUInt32BE(mt.length);
  const pt = spc.parseContainer(new Uint8Array(Buffer.concat([Buffer.from('SPC1'), lt, Buffer.from(mt), tiny])));
  await assert.rejects(pt.blob(0), /impossible length/);
  const junk = Buffer.from('not deflate at all, surely');
  const mj = JSON.stringify({ blobs: [{ off: 0, len: junk.length, z: 1, ulen: 10 }] });
  const lj = Buffer.alloc(4);
  lj.writeUInt32BE(mj.length);
  const pj = spc.parseContainer(new Uint8Array(Buffer.concat([Buffer.from('SPC1'), lj, Buffer.from(mj), junk])));
  await assert.rejects(pj.blob(0), /damaged|longer|shorter/);
});

test('openEnvelope and compareRecord: whole path, record mismatch detected', async () => {
  const sp = crypto.randomBytes(32), mp = crypto.randomBytes(32);
  const header = makeHeader({ to: ['Pat@Example.org', 'b@c.d'] });
  const h = spc.parseHeader(new Uint8Array(header));
  const pt = Buffer.from(container([{ data: Buffer.from('body') }], () => ({ text: 0, headers: { subject: 's' } })));
  const ct = seal(hkdf(sp, mp, ID), h.noncePrefix, header, pt);
  const r = await spc.openEnvelope({ headerB64: header.toString('base64').replace(/.{76}/g, '$&\n'),
    payload: new Uint8Array(ct), mailPart: b64url(mp), serverPart: b64url(sp) });
  assert.equal(r.header.org, 'Example Clinic');
  assert.deepEqual(Buffer.from(await r.container.blob(r.container.text)), Buffer.from('body'));
  const rec = { id: ID, org: 'Example Clinic', from: 'dr@clinic.example', recipients: ['b@c.d', 'pat@example.org'] };
  assert.deepEqual(spc.compareRecord(r.header, rec), []);
  assert.deepEqual(spc.compareRecord(r.header, { ...rec, org: 'Evil' }), ['organisation']);
  assert.deepEqual(spc.compareRecord(r.header, { ...rec, recipients: ['b@c.d'] }), ['recipients']);
  assert.deepEqual(spc.compareRecord(r.header, { ...rec, id: 'x' }), ['id']);
  await assert.rejects(spc.openEnvelope({ headerB64: header.toString('base64'), payload: new Uint8Array(ct),
    mailPart: b64url(crypto.randomBytes(32)), serverPart: b64url(sp) }), (e) => e.kind === 'auth');
});

// ---- header rules (the C reader's, docs/envelope-format.md sections 2, 7.1) --

const raw = (s) => new Uint8Array(Buffer.from(s));
const V1_TEXT = makeHeader().toString();

test('header parsing has the C reader\'s strictness', () => {
  const ok = (s) => spc.parseHeader(raw(s));
  const bad = (s, re) => assert.throws(() => spc.parseHeader(raw(s)), re, s.slice(0, 120));
  assert.equal(ok(V1_TEXT).v, 1);
  // white space around tokens is JSON; trailing bytes are not
  assert.equal(ok(' ' + V1_TEXT.replace(/,/g, ', ') + '\n').id, ID);
  bad(V1_TEXT + ' x', /JSON/);
  bad(V1_TEXT + '{}', /JSON/);
  // duplicate keys (JSON.parse would keep the last one), unknown keys
  bad(V1_TEXT.replace('{"v":1,', '{"v":1,"v":1,'), /duplicate/);
  bad(V1_TEXT.replace('"org":"Example Clinic"', '"org":"Evil","org":"Example Clinic"'), /duplicate/);
  bad(V1_TEXT.replace('{"v":1,', '{"v":1,"extra":1,'), /unknown/);
  bad(V1_TEXT.replace('{"v":1,', '{"v":1,"__proto__":{},'), /unknown/);
  // integers are integers: no fraction, exponent, string or unsafe size
  bad(V1_TEXT.replace('"v":1', '"v":1.0'), /version/);
  bad(V1_TEXT.replace('"created":1795000000', '"created":1.795e9'), /dates/);
  bad(V1_TEXT.replace('"created":1795000000', '"created":-1'), /dates/);
  bad(V1_TEXT.replace('"expires":0', '"expires":"0"'), /dates/);
  bad(V1_TEXT.replace('"expires":0', '"expires":99999999999999999999'), /range/);
  // strings: no \u0000, no lone surrogates, no controls in org or from
  bad(V1_TEXT.replace('Example Clinic', 'Example\\u0000Clinic'), /JSON/);
  bad(V1_TEXT.replace('Example Clinic', 'Example \\ud800Clinic'), /JSON/);
  bad(V1_TEXT.replace('Example Clinic', 'Example \\udc00Clinic'), /JSON/);
  bad(V1_TEXT.replace('Example Clinic', 'Example\\nClinic'), /org/);
  bad(V1_TEXT.replace('dr@clinic.example', 'dr@clinic.example\\u007f'), /from/);
  assert.equal(ok(V1_TEXT.replace('Example Clinic', 'Cl\\u00EDnica \\uD83D\\uDD12')).org, 'Cl\u00ednica \u{1f512}');
  bad(V1_TEXT.replace('"Example Clinic"', JSON.stringify('x'.repeat(1025))), /org/);
  assert.ok(ok(V1_TEXT.replace('"Example Clinic"', JSON.stringify('x'.repeat(1024)))));
  bad(V1_TEXT.replace('"Example Clinic"', JSON.stringify('\u00e9'.repeat(513))), /org/);
  // keyd: http(s), no trailing '/', only safe characters
  for (const k of ['javascript:x', 'https://k.example/', 'https://k.example; script-src *', 'http://', 'https:///x', 'https://k<x', 'ftp://k.example']) {
    bad(V1_TEXT.replace('https://keys.example.org', k), /key server/);
  }
  assert.ok(ok(V1_TEXT.replace('https://keys.example.org', 'http://[::1]:8443/sub%20dir')));
  // ids and nonce prefixes decode exactly (no stray low bits)
  bad(V1_TEXT.replace(ID, 'AAECAwQFBgcICQoLDA0ODx'), /id/);
  bad(V1_TEXT.replace(/"np":"[^"]*"/, '"np":"AQIDBAUGBx"'), /nonce/);
  // recipients
  for (const a of ['nobody', 'a <b@c>', 'a@b@c', '@b.c', 'b.c@', 'a b@c', 'a,b@c', 'a;b@c', 'a"b@c', 'a\\b@c', 'x@', 'a\tb@c', 'ab']) {
    bad(V1_TEXT.replace('"pat@example.org"', JSON.stringify(a)), /recipient/);
  }
  assert.ok(ok(V1_TEXT.replace('"pat@example.org"', '"a@b"')));
  assert.ok(ok(V1_TEXT.replace('"pat@example.org"', '"j\\u00FCrgen@m\\u00FCnchen.example"')));
  const long = (n) => V1_TEXT.replace('"pat@example.org"', JSON.stringify('a'.repeat(n - 4) + '@b.c'));
  assert.ok(ok(long(319)));
  bad(long(320), /recipient/);
  const amps = (n) => V1_TEXT.replace('"pat@example.org"', JSON.stringify('&'.repeat(n) + '@b'));
  assert.ok(ok(amps(159)));
  bad(amps(160), /recipient/);
  bad(V1_TEXT.replace('["pat@example.org"]', '[1]'), /recipient/);
  bad(V1_TEXT.replace('["pat@example.org"]', '"pat@example.org"'), /recipients/);
  bad(V1_TEXT.replace('"alg":"A256GCM-STREAM-64K"', '"alg":"A256GCM-STREAM-64K\\u0000"'), /JSON/);
  bad(V1_TEXT.replace(',"np"', ',"x":1,"np"'), /unknown/);
  bad(V1_TEXT.replace(/,"np":"[^"]*"/, ''), /missing header field "np"/);
});

const KID = 'If4x36FUomE';
function makeHeaderV2(over = {}) {
  const h = { v: 2, id: ID, keyd: 'https://keys.example.org', org: 'Example Clinic', from: 'dr@clinic.example',
    to: ['pat@example.org'], created: 1795000000, expires: 0, alg: 'A256GCM-STREAM-64K',
    np: b64url(Buffer.from([1, 2, 3, 4, 5, 6, 7])), kid: KID, level: 'high', verify: true, ...over };
  return Buffer.from(JSON.stringify(h));
}

test('format 2 headers: kid, level and verify, in that order; format 1 must not have them', () => {
  const h = spc.parseHeader(new Uint8Array(makeHeaderV2()));
  assert.equal(h.v, 2);
  assert.equal(h.kid, KID);
  assert.equal(h.level, 'high');
  assert.equal(h.verify, true);
  assert.equal(h.noncePrefix.length, 7);
  for (const level of ['high', 'medium', 'low']) {
    assert.equal(spc.parseHeader(new Uint8Array(makeHeaderV2({ level, verify: false }))).level, level);
  }
  const bad = (buf, re) => assert.throws(() => spc.parseHeader(new Uint8Array(buf)), re);
  bad(makeHeaderV2({ kid: 'If4x36FUomF' }), /signing key/);
  bad(makeHeaderV2({ kid: 'If4x36FUom' }), /signing key/);
  bad(makeHeaderV2({ kid: 'If4x36FU+mE' }), /signing key/);
  bad(makeHeaderV2({ kid: 7 }), /signing key/);
  bad(makeHeaderV2({ level: 'High' }), /level/);
  bad(makeHeaderV2({ level: '' }), /level/);
  bad(makeHeaderV2({ verify: 1 }), /verify/);
  bad(makeHeaderV2({ verify: 'true' }), /verify/);
  bad(makeHeaderV2({ verify: null }), /verify/);
  bad(makeHeaderV2({ extra: 1 }), /unknown/);
  const text = makeHeaderV2().toString();
  bad(Buffer.from(text.replace(/,"verify":true/, '')), /missing header field "verify"/);
  bad(Buffer.from(text.replace(`"kid":"${KID}","level":"high"`, `"level":"high","kid":"${KID}"`)), /order/);
  bad(Buffer.from(text.replace('{"v":2,"id"', '{"id"').replace(`"id":"${ID}",`, `"id":"${ID}","v":2,`)), /order/);
  bad(Buffer.from(text.replace('"kid"', '"kid":"x","kid"')), /duplicate/);
  bad(makeHeader({ kid: KID }), /format 2/);
  bad(makeHeader({ level: 'high' }), /format 2/);
  bad(makeHeader({ verify: false }), /format 2/);
  assert.equal(spc.parseHeader(new Uint8Array(makeHeader())).kid, undefined);
});

// ---- format 2 vectors ---------------------------------------------------------

const vectorsV2File = path.join(ROOT, 'tests/vectors/envelope-v2.json');
const nodeVerify = (pubHex, msg, sig) => crypto.verify(null, msg,
  crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(pubHex, 'hex').toString('base64url') }, format: 'jwk' }), sig);

function recordOf(v, c, vin, over = {}) {
  return {
    id: c.id, org: spc.parseHeader(new Uint8Array(vin.header)).org, from: 'dr@clinic.example',
    recipients: spc.parseHeader(new Uint8Array(vin.header)).to, format: 2,
    header_sha256: c.header_sha256, ct_sha256: c.ciphertext_sha256, sig: Buffer.from(c.sig, 'hex').toString('base64url'),
    kid: v.kid, sig_key: Buffer.from(v.sign_pub, 'hex').toString('base64url'), ...over,
  };
}

test('format 2 vectors: keys, decryption, digests and signatures match the C code', async () => {
  const v = JSON.parse(fs.readFileSync(vectorsV2File, 'utf8'));
  assert.equal(v.format, 'sealpost envelope v2 test vectors');
  assert.equal(await spc.kidOf(new Uint8Array(Buffer.from(v.sign_pub, 'hex'))), v.kid);
  assert.equal(await spc.kidOf(new Uint8Array(Buffer.from(v.other_pub, 'hex'))), v.other_kid);
  // the public key of the seed (node:crypto, independently)
  const priv = crypto.createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(v.sign_seed, 'hex')]), format: 'der', type: 'pkcs8' });
  assert.equal(crypto.createPublicKey(priv).export({ format: 'jwk' }).x, Buffer.from(v.sign_pub, 'hex').toString('base64url'));
  assert.ok(v.cases.length >= 7);
  const pubB64 = Buffer.from(v.sign_pub, 'hex').toString('base64url');
  const otherB64 = Buffer.from(v.other_pub, 'hex').toString('base64url');
  for (const c of v.cases) {
    const vin = vectorInputs(c, 2);
    const header = new Uint8Array(vin.header);
    const ct = new Uint8Array(vin.ct);
    const h = spc.parseHeader(header);
    assert.equal(h.v, 2);
    assert.equal(h.kid, c.kid);
    assert.equal(h.level, c.level);
    assert.equal(h.verify, c.verify);
    assert.equal(Buffer.from(await spc.deriveKeyBytes(vin.sp, vin.mp, c.id, 2)).toString('hex'), c.key, `${c.name}: key`);
    assert.notEqual(Buffer.from(await spc.deriveKeyBytes(vin.sp, vin.mp, c.id, 1)).toString('hex'), c.key, `${c.name}: salt`);
    const key = await spc.deriveKey(new Uint8Array(vin.sp), new Uint8Array(vin.mp), c.id, 2);
    assert.ok(Buffer.from(await spc.decryptStream(key, h.noncePrefix, header, ct)).equals(vin.pt), `${c.name}: plaintext`);
    // the format 1 key does not open it
    const k1 = await spc.deriveKey(new Uint8Array(vin.sp), new Uint8Array(vin.mp), c.id, 1);
    await assert.rejects(spc.decryptStream(k1, h.noncePrefix, header, ct), (e) => e.kind === 'auth');
    assert.equal(await spc.sha256Hex(header), c.header_sha256);
    assert.equal(await spc.sha256Hex(ct), c.ciphertext_sha256);
    const msg = await spc.signedMessage(header, ct);
    assert.equal(Buffer.from(msg).toString('hex'), c.signed_message);
    assert.ok(nodeVerify(v.sign_pub, msg, Buffer.from(c.sig, 'hex')), `${c.name}: node verifies`);
    const sig = Buffer.from(c.sig, 'hex').toString('base64url');
    assert.equal(await spc.verifyEnvelopeSignature({ headerBytes: header, ct, sigB64url: sig, pubB64url: pubB64 }), true, c.name);
    assert.equal(await spc.verifyEnvelopeSignature({ headerBytes: header, ct, sigB64url: sig, pubB64url: otherB64 }), false);
    // openEnvelope derives with the header's version
    const pt = Buffer.from(container([{ data: Buffer.from('x') }], () => ({ text: 0 })));
    if (c.name === 'one-byte') {
      const ct2 = seal(hkdf(vin.sp, vin.mp, c.id, 2), h.noncePrefix, vin.header, pt);
      const r = await spc.openEnvelope({ headerB64: vin.header.toString('base64'), payload: new Uint8Array(ct2),
        mailPart: b64url(vin.mp), serverPart: b64url(vin.sp) });
      assert.equal(r.header.v, 2);
    }
    // the whole record check passes
    assert.deepEqual(await spc.checkRecord(h, header, ct, sig, recordOf(v, c, vin)), [], c.name);
  }
});

test('format 2 vectors: every tamper case fails decryption or the signature, as listed', async () => {
  const v = JSON.parse(fs.readFileSync(vectorsV2File, 'utf8'));
  const byName = new Map(v.cases.map((c) => [c.name, c]));
  const pubB64 = Buffer.from(v.sign_pub, 'hex').toString('base64url');
  assert.ok(v.tamper.length >= 15);
  const ops = new Set();
  for (const t of v.tamper) {
    const c = byName.get(t.case);
    assert.ok(c, `tamper ${t.name}: case ${t.case}`);
    ops.add(t.op);
    const base = vectorInputs(c, 2);
    let { ct, header, sp, mp, pt } = base;
    let sig = Buffer.from(c.sig, 'hex');
    const chunks = [];
    for (let i = 0; i < ct.length; i += SEALED) chunks.push(ct.subarray(i, i + SEALED));
    const k = hkdf(base.sp, base.mp, c.id, 2);
    switch (t.op) {
      case 'flip': ct = Buffer.from(ct); ct[t.offset] ^= t.mask; break;
      case 'truncate': ct = ct.subarray(0, t.len); break;
      case 'drop_chunk': ct = Buffer.concat(chunks.filter((_, i) => i !== t.index)); break;
      case 'header_flip': header = Buffer.from(header); header[t.offset < 0 ? header.length + t.offset : t.offset] ^= t.mask; break;
      case 'server_part': sp = Buffer.from(t.hex, 'hex'); break;
      case 'reencrypt':
        pt = Buffer.from(t.plaintext, 'hex');
        ct = seal(k, Buffer.from(c.np, 'hex'), header, pt);
        break;
      case 'resign': {
        header = Buffer.from(t.header, 'hex');
        const h2 = spc.parseHeader(new Uint8Array(header));
        assert.equal(h2.kid, v.other_kid);
        pt = Buffer.from(t.plaintext, 'hex');
        ct = seal(k, h2.noncePrefix, header, pt);
        assert.equal(ct.toString('hex'), t.ciphertext);
        sig = Buffer.from(t.sig, 'hex');
        // a genuine signature, by the other key
        assert.ok(nodeVerify(v.other_pub, await spc.signedMessage(new Uint8Array(header), new Uint8Array(ct)), sig));
        break;
      }
      case 'sig_flip': sig = Buffer.from(sig); sig[t.offset] ^= t.mask; break;
      case 'sig_from': sig = Buffer.from(byName.get(t.from).sig, 'hex'); break;
      default: assert.fail(`unknown tamper op ${t.op}`);
    }
    const h = spc.parseHeader(new Uint8Array(base.header));
    const hh = t.op === 'resign' ? spc.parseHeader(new Uint8Array(header)) : h;
    const key = await spc.deriveKey(new Uint8Array(sp), new Uint8Array(mp), c.id, 2);
    const dec = spc.decryptStream(key, hh.noncePrefix, new Uint8Array(header), new Uint8Array(ct));
    if (t.decrypt === 'ok') assert.ok(Buffer.from(await dec).equals(pt), `tamper ${t.name}: decrypts`);
    else await assert.rejects(dec, (e) => e instanceof spc.EnvelopeError && e.kind === 'auth', `tamper ${t.name}`);
    const good = await spc.verifyEnvelopeSignature({ headerBytes: new Uint8Array(header), ct: new Uint8Array(ct),
      sigB64url: sig.toString('base64url'), pubB64url: pubB64 });
    assert.equal(good, t.signature === 'ok', `tamper ${t.name}: signature`);
    // and the record check refuses every case that changed the envelope
    if (t.op !== 'server_part') {
      let hp;
      try {
        hp = spc.parseHeader(new Uint8Array(header));
      } catch {
        continue; // a flipped header byte may not even parse
      }
      const reasons = await spc.checkRecord(hp, new Uint8Array(header), new Uint8Array(ct), sig.toString('base64url'), recordOf(v, c, base));
      assert.ok(reasons.length > 0, `tamper ${t.name}: record check`);
      if (t.op === 'reencrypt') assert.deepEqual(reasons, ['ciphertext digest', 'signature']);
      if (t.op === 'resign') assert.deepEqual(reasons, ['header digest', 'ciphertext digest', 'signing key', 'signature']);
      if (t.op === 'sig_flip' || t.op === 'sig_from') assert.deepEqual(reasons, ['signature']);
    }
  }
  for (const op of ['flip', 'truncate', 'header_flip', 'server_part', 'reencrypt', 'resign', 'sig_flip', 'sig_from']) {
    assert.ok(ops.has(op), `vectors cover ${op}`);
  }
});

test('checkRecord: format, digests, kid, key and the old record checks', async () => {
  const v = JSON.parse(fs.readFileSync(vectorsV2File, 'utf8'));
  const c = v.cases.find((x) => x.name === 'text-unicode-header');
  const vin = vectorInputs(c, 2);
  const header = new Uint8Array(vin.header);
  const ct = new Uint8Array(vin.ct);
  const h = spc.parseHeader(header);
  const sig = Buffer.from(c.sig, 'hex').toString('base64url');
  const rec = recordOf(v, c, vin);
  const check = (over, s = sig) => spc.checkRecord(h, header, ct, s, { ...rec, ...over });
  assert.deepEqual(await check({}), []);
  // the record's fields in other forms still agree
  assert.deepEqual(await check({ recipients: [...rec.recipients].reverse().map((a) => a.toUpperCase()) }), []);
  // a format 1 record for a format 2 envelope, and the reverse below
  assert.deepEqual(await check({ format: 1 }), ['format']);
  assert.deepEqual(await check({ format: undefined }), ['format']);
  assert.deepEqual(await check({ header_sha256: 'ab'.repeat(32) }), ['header digest']);
  assert.deepEqual(await check({ header_sha256: c.header_sha256.toUpperCase() }), ['header digest']);
  assert.deepEqual(await check({ header_sha256: null }), ['header digest']);
  assert.deepEqual(await check({ ct_sha256: 'ab'.repeat(32) }), ['ciphertext digest']);
  assert.deepEqual(await check({ ct_sha256: undefined }), ['ciphertext digest']);
  assert.deepEqual(await check({ kid: v.other_kid }), ['signing key']);
  assert.deepEqual(await check({ kid: null }), ['signing key']);
  const otherB64 = Buffer.from(v.other_pub, 'hex').toString('base64url');
  assert.deepEqual(await check({ sig_key: otherB64 }), ['signing key', 'signature']);
  assert.deepEqual(await check({ sig_key: otherB64, kid: v.other_kid }), ['signing key', 'signature']);
  assert.deepEqual(await check({ sig_key: null }), ['signing key', 'signature']);
  assert.deepEqual(await check({ sig_key: 'not base64url!' }), ['signing key', 'signature']);
  assert.deepEqual(await check({}, null), ['signature']);
  assert.deepEqual(await check({}, ''), ['signature']);
  assert.deepEqual(await check({}, sig.slice(1)), ['signature']);
  assert.deepEqual(await check({ org: 'Evil' }), ['organisation']);
  assert.deepEqual(await check({ id: 'x', from: 'x@y.z' }), ['id', 'sender']);
  assert.deepEqual(await check({ recipients: ['pat@example.org'] }), ['recipients']);
  assert.deepEqual(await spc.checkRecord(h, header, ct, sig, null), ['no record from the key server']);
  // format 1: no signature needed, a format 2 record refuses it (downgrade)
  const h1bytes = makeHeader();
  const h1 = spc.parseHeader(new Uint8Array(h1bytes));
  const rec1 = { id: ID, org: 'Example Clinic', from: 'dr@clinic.example', recipients: ['pat@example.org'], format: 1,
    header_sha256: null, ct_sha256: null, sig: null, kid: null, sig_key: null };
  assert.deepEqual(await spc.checkRecord(h1, new Uint8Array(h1bytes), ct, null, rec1), []);
  assert.deepEqual(await spc.checkRecord(h1, new Uint8Array(h1bytes), ct, null, { ...rec1, format: undefined }), []);
  assert.deepEqual(await spc.checkRecord(h1, new Uint8Array(h1bytes), ct, null, { ...rec, ...rec1, format: 2 }), ['format']);
  assert.deepEqual(await spc.checkRecord(h1, new Uint8Array(h1bytes), ct, null, { ...rec1, org: 'Evil' }), ['organisation']);
});

test('sha256Hex, kidOf and verifyEnvelopeSignature on malformed input', async () => {
  assert.equal(await spc.sha256Hex(new Uint8Array(0)), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(await spc.sha256Hex(raw('abc')), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  await assert.rejects(spc.sha256Hex('abc'), /bytes/);
  await assert.rejects(spc.kidOf(new Uint8Array(31)), /public key/);
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
  const pub = publicKey.export({ format: 'jwk' }).x;
  const headerBytes = raw('h');
  const ct = raw('c'.repeat(20));
  const msg = await spc.signedMessage(headerBytes, ct);
  assert.equal(Buffer.from(msg.subarray(0, 31)).toString(), 'sealpost envelope v2 signature\n');
  const sig = crypto.sign(null, msg, privateKey).toString('base64url');
  const ver = (o) => spc.verifyEnvelopeSignature({ headerBytes, ct, sigB64url: sig, pubB64url: pub, ...o });
  assert.equal(await ver({}), true);
  assert.equal(await ver({ ct: raw('c'.repeat(19)) }), false);
  assert.equal(await ver({ headerBytes: raw('H') }), false);
  assert.equal(await ver({ sigB64url: sig.slice(0, -1) + (sig.endsWith('A') ? 'B' : 'A') }), false);
  assert.equal(await ver({ sigB64url: sig + 'A' }), false);
  assert.equal(await ver({ sigB64url: Buffer.from(sig, 'base64url').toString('base64') }), sig === Buffer.from(sig, 'base64url').toString('base64'));
  assert.equal(await ver({ sigB64url: undefined }), false);
  assert.equal(await ver({ pubB64url: pub.slice(0, -1) }), false);
  assert.equal(await ver({ pubB64url: 'A'.repeat(43) }), false);
  assert.equal(await ver({ pubB64url: 42 }), false);
  await assert.rejects(spc.deriveKey(new Uint8Array(32), new Uint8Array(32), ID, 3), /version/);
});
