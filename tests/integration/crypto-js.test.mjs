// crypto-js.test.mjs - web/portal/sp-crypto.js under Node: the shared test
// vectors (tests/vectors/envelope-v1.json), a STREAM built here with
// node:crypto (several chunks, tampering of every kind), and SPC1 containers
// built by hand (parsing, inflate, raw rebuild, bounds errors).
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

function hkdf(serverPart, mailPart, id) {
  return Buffer.from(crypto.hkdfSync('sha256', Buffer.concat([serverPart, mailPart]),
    Buffer.from('sealpost/v1'), Buffer.from('message key ' + id), 32));
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
function vectorInputs(c) {
  const pt = typeof c.plaintext === 'string' ? Buffer.from(c.plaintext, 'hex')
    : Buffer.from(Array.from({ length: c.plaintext.len }, (_, i) => i % 251));
  const header = Buffer.from(c.header, 'hex');
  let ct;
  if (c.ciphertext) ct = Buffer.from(c.ciphertext, 'hex');
  else {
    ct = seal(hkdf(Buffer.from(c.server_part, 'hex'), Buffer.from(c.mail_part, 'hex'), c.id), Buffer.from(c.np, 'hex'), header, pt);
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

test('header parsing refuses bad fields', () => {
  assert.throws(() => spc.parseHeader(new Uint8Array(Buffer.from('not json'))), /JSON/);
  assert.throws(() => spc.parseHeader(new Uint8Array(makeHeader({ v: 2 }))), /version/);
  assert.throws(() => spc.parseHeader(new Uint8Array(makeHeader({ id: 'short' }))), /id/);
  assert.throws(() => spc.parseHeader(new Uint8Array(makeHeader({ to: [] }))), /recipients/);
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
