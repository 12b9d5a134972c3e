// keyholder.test.mjs - the key holder (docs/keyholder.md): the network
// process's memory holds no master key while the key holder's does; the
// key holder answers WRAP and UNWRAP and refuses every malformed or unknown
// frame; a dead key holder makes releases answer 503 without taking keyd
// down; root without --user is refused; keyd and the key holder run as
// their own users; `sealpost key rotate`, SIGHUP and `sealpost key rewrap`
// move every envelope and TOTP secret to the new key, and releases go on;
// SIGHUP reaches a key holder of another user (a RELOAD request over its
// socket), and only then do new deposits use the new key.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BIN, SANITIZED, PGSQL, startKeyd, orgAdd, recipientAdd, sealpost, run, tmpDir,
  storeSql } from '../lib/harness.mjs';

const running = [];
after(async () => { for (const k of running) await k.stop(); });

async function keyd(opts) {
  const k = await startKeyd(opts);
  running.push(k);
  return k;
}

function api(k, p, { method = 'POST', body, auth } = {}) {
  return fetch(k.url + p, {
    method,
    headers: { ...(auth ? { Authorization: `Bearer ${auth}` } : {}),
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function deposit(k, token) {
  const r = await api(k, '/api/v1/envelopes', { auth: token,
    body: { from: 'doc@clinic.example', recipients: ['pat@clinic.example'], expires: 0, format: 2 } });
  assert.equal(r.status, 201);
  return r.json();
}

// The organisation's token releases envelopes sent to its own domain.
const release = (k, token, id) => api(k, `/api/v1/envelopes/${id}/release`, { auth: token });

// Scan every readable mapping of /proc/PID/mem for needle (1 MiB reads,
// overlapping by needle.length - 1; unreadable ranges are skipped).
function scanMemory(pid, needle) {
  const maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n');
  const fd = fs.openSync(`/proc/${pid}/mem`, 'r');
  const CH = 1 << 20;
  const buf = Buffer.alloc(CH + needle.length);
  let found = false, scanned = 0;
  try {
    for (const line of maps) {
      const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4})/.exec(line);
      if (!m || m[3][0] !== 'r' || /\[(vvar|vvar_vclock|vsyscall)\]/.test(line)) continue;
      const start = parseInt(m[1], 16), end = parseInt(m[2], 16);
      for (let off = start; off < end && !found; off += CH) {
        const len = Math.min(CH + needle.length - 1, end - off);
        let n;
        try { n = fs.readSync(fd, buf, 0, len, off); } catch { break; }
        scanned += n;
        found = buf.subarray(0, n).indexOf(needle) >= 0;
      }
      if (found) break;
    }
  } finally {
    fs.closeSync(fd);
  }
  return { found, scanned };
}

function uids(pid) {
  const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('Uid:'));
  return line.split(/\s+/).slice(1, 5).map(Number);
}

// AES-256-GCM as keywrap.c does it: nonce (12) || ciphertext || tag (16).
function wrap(key, aad, part) {
  const nonce = crypto.randomBytes(12);
  const c = crypto.createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(Buffer.from(aad));
  return Buffer.concat([nonce, c.update(part), c.final(), c.getAuthTag()]);
}
function unwrap(key, aad, w) {
  const d = crypto.createDecipheriv('aes-256-gcm', key, w.subarray(0, 12));
  d.setAAD(Buffer.from(aad));
  d.setAuthTag(w.subarray(44));
  return Buffer.concat([d.update(w.subarray(12, 44)), d.final()]);
}

// --- (a) the network process holds no master key -------------------------

test('keyd\'s memory holds no master key; the key holder\'s does', { skip: SANITIZED &&
    'the sanitizer\'s shadow memory is too large to scan' }, async () => {
  const k = await keyd();
  const token = orgAdd(k.dataDir, 'Example Clinic', 'clinic.example');
  const d = await deposit(k, token);
  const r = await release(k, token, d.id);
  assert.equal(r.status, 200);
  assert.equal((await r.json()).server_part, d.server_part);
  const key = fs.readFileSync(path.join(k.dataDir, 'keys', 'master-1.key'));
  assert.equal(key.length, 32);
  assert.ok(k.keyholderPid > 0, 'keyd logs the key holder\'s pid');
  const net = scanMemory(k.pid, key);
  assert.ok(net.scanned > 1 << 20, `scanned ${net.scanned} bytes of keyd`);
  assert.equal(net.found, false, 'the master key is in keyd\'s memory');
  const holder = scanMemory(k.keyholderPid, key);
  assert.equal(holder.found, true, 'the scan finds the key in the key holder (control)');
  // both processes are closed to core dumps
  for (const pid of [k.pid, k.keyholderPid]) {
    const limits = fs.readFileSync(`/proc/${pid}/limits`, 'utf8');
    assert.match(limits, /Max core file size\s+0\s+0/);
  }
  assert.equal(fs.statSync(path.join(k.dataDir, 'keys')).mode & 0o777, 0o700);
  assert.equal(fs.statSync(path.join(k.dataDir, 'keys', 'master-1.key')).mode & 0o777, 0o600);
});

// --- (b) the key holder's protocol ----------------------------------------

const T = { HELLO: 1, WRAP: 2, UNWRAP: 3, RELOAD: 4, HELLO_OK: 0x8001, WRAP_OK: 0x8002,
  UNWRAP_OK: 0x8003, RELOAD_OK: 0x8004, ERROR: 0x80ff };
const F = { KEY_ID: 1, AAD: 2, PART: 3, WRAPPED: 4, STATUS: 5 };

function field(tag, value) {
  const h = Buffer.alloc(4);
  h.writeUInt16BE(tag, 0);
  h.writeUInt16BE(value.length, 2);
  return Buffer.concat([h, value]);
}
const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32BE(v); return b; };
function frame(type, id, fields, { magic = 0x4b01, length } = {}) {
  const payload = Buffer.concat(fields);
  const h = Buffer.alloc(12);
  h.writeUInt16BE(magic, 0);
  h.writeUInt16BE(type, 2);
  h.writeUInt32BE(length ?? payload.length, 4);
  h.writeUInt32BE(id, 8);
  return Buffer.concat([h, payload]);
}
function parse(b) {
  const out = { magic: b.readUInt16BE(0), type: b.readUInt16BE(2), id: b.readUInt32BE(8), fields: [] };
  assert.equal(b.readUInt32BE(4), b.length - 12);
  for (let p = 12; p < b.length;) {
    const tag = b.readUInt16BE(p), n = b.readUInt16BE(p + 2);
    out.fields.push({ tag, value: b.subarray(p + 4, p + 4 + n) });
    p += 4 + n;
  }
  return out;
}

// A key holder of our own on a socket pair as its fd 3.
function holder(dataDir = tmpDir('sealpost-kh-')) {
  const proc = spawn(path.join(BIN, 'sealpost-keyholder'),
    ['--fd', '3', '--data-dir', dataDir, '--allow-root'], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
  const sock = proc.stdio[3];
  let data = Buffer.alloc(0), ended = false, waiter = null;
  let stderr = '';
  proc.stderr.on('data', (s) => { stderr += s; });
  const wake = () => { if (waiter) { const w = waiter; waiter = null; w(); } };
  sock.on('data', (b) => { data = Buffer.concat([data, b]); wake(); });
  sock.on('end', () => { ended = true; wake(); });
  sock.on('close', () => { ended = true; wake(); });
  sock.on('error', () => { ended = true; wake(); });
  const exited = new Promise((r) => proc.once('exit', (code) => r(code)));
  // The next whole answer frame, or null when the key holder hung up.
  async function answer(ms = 10000) {
    const until = Date.now() + ms;
    for (;;) {
      if (data.length >= 12 && data.length >= 12 + data.readUInt32BE(4)) {
        const n = 12 + data.readUInt32BE(4);
        const f = data.subarray(0, n);
        data = data.subarray(n);
        return parse(f);
      }
      if (ended) return null;
      if (Date.now() > until) throw new Error(`no answer; key holder said: ${stderr}`);
      await new Promise((r) => { waiter = r; setTimeout(r, 100); });
    }
  }
  async function closed(ms = 10000) {
    const until = Date.now() + ms;
    while (!ended && Date.now() < until) await new Promise((r) => { waiter = r; setTimeout(r, 100); });
    return ended;
  }
  return { proc, sock, dataDir, answer, closed, exited, stderr: () => stderr };
}

test('the key holder wraps and unwraps, and keeps going after a refused unwrap', async () => {
  const h = holder();
  try {
    h.sock.write(frame(T.HELLO, 1, []));
    let a = await h.answer();
    assert.equal(a.magic, 0x4b01);
    assert.equal(a.type, T.HELLO_OK);
    assert.equal(a.id, 1);
    assert.equal(a.fields[0].value.readUInt32BE(), 1);
    const key = fs.readFileSync(path.join(h.dataDir, 'keys', 'master-1.key'));
    const part = crypto.randomBytes(32);
    const aad = Buffer.from('q3Zr8Kx1TmWc2Yb9LpNaEg');
    h.sock.write(frame(T.WRAP, 2, [field(F.AAD, aad), field(F.PART, part)]));
    a = await h.answer();
    assert.equal(a.type, T.WRAP_OK);
    assert.equal(a.id, 2);
    assert.deepEqual(a.fields.map((f) => [f.tag, f.value.length]), [[F.KEY_ID, 4], [F.WRAPPED, 60]]);
    const wrapped = a.fields[1].value;
    // the same AES-256-GCM layout as before the key holder
    assert.deepEqual(unwrap(key, aad, wrapped), part);
    h.sock.write(frame(T.UNWRAP, 3, [field(F.KEY_ID, u32(1)), field(F.AAD, aad), field(F.WRAPPED, wrapped)]));
    a = await h.answer();
    assert.equal(a.type, T.UNWRAP_OK);
    assert.deepEqual(a.fields[0].value, part);
    // another envelope's id: refused with AUTH (3), the connection stays
    h.sock.write(frame(T.UNWRAP, 4, [field(F.KEY_ID, u32(1)), field(F.AAD, Buffer.from('other')),
      field(F.WRAPPED, wrapped)]));
    a = await h.answer();
    assert.equal(a.type, T.ERROR);
    assert.equal(a.fields[0].value.readUInt32BE(), 3);
    // no such key: NOTFOUND (4)
    h.sock.write(frame(T.UNWRAP, 5, [field(F.KEY_ID, u32(9)), field(F.AAD, aad), field(F.WRAPPED, wrapped)]));
    a = await h.answer();
    assert.equal(a.type, T.ERROR);
    assert.equal(a.fields[0].value.readUInt32BE(), 4);
    h.sock.write(frame(T.HELLO, 6, []));
    assert.equal((await h.answer()).type, T.HELLO_OK);
    // the end of the socket ends the key holder, cleanly
    h.sock.end();
    assert.equal(await h.exited, 0);
  } finally {
    h.proc.kill('SIGKILL');
  }
});

test('the key holder reads its keys again on RELOAD, and keeps them when that fails', async () => {
  const h = holder();
  try {
    h.sock.write(frame(T.HELLO, 1, []));
    assert.equal((await h.answer()).fields[0].value.readUInt32BE(), 1);
    const aad = field(F.AAD, Buffer.from('q3Zr8Kx1TmWc2Yb9LpNaEg'));
    const keyOf = async (id) => {
      h.sock.write(frame(T.WRAP, id, [aad, field(F.PART, crypto.randomBytes(32))]));
      const a = await h.answer();
      assert.equal(a.type, T.WRAP_OK);
      return a.fields[0].value.readUInt32BE();
    };
    // a new key file is not used until the key holder is asked
    fs.writeFileSync(path.join(h.dataDir, 'keys', 'master-2.key'), crypto.randomBytes(32), { mode: 0o600 });
    assert.equal(await keyOf(2), 1);
    h.sock.write(frame(T.RELOAD, 3, []));
    let a = await h.answer();
    assert.deepEqual([a.type, a.id, a.fields.length], [T.RELOAD_OK, 3, 1]);
    assert.deepEqual([a.fields[0].tag, a.fields[0].value.readUInt32BE()], [F.KEY_ID, 2]);
    assert.equal(await keyOf(4), 2);
    // a key file it cannot take: ERROR with status 8 (SP_ERR_CONFIG), the
    // keys it had stay, and so does the connection
    fs.writeFileSync(path.join(h.dataDir, 'keys', 'master-3.key'), crypto.randomBytes(32), { mode: 0o644 });
    h.sock.write(frame(T.RELOAD, 5, []));
    a = await h.answer();
    assert.deepEqual([a.type, a.id, a.fields[0].value.readUInt32BE()], [T.ERROR, 5, 8]);
    assert.equal(await keyOf(6), 2);
    assert.match(h.stderr(), /keyholder reload current=2 why=request/);
    assert.match(h.stderr(), /keyholder reload-failed why=request/);
    h.sock.end();
    assert.equal(await h.exited, 0);
  } finally {
    h.proc.kill('SIGKILL');
  }
});

const part32 = Buffer.alloc(32, 7);
const goodAad = field(F.AAD, Buffer.from('q3Zr8Kx1TmWc2Yb9LpNaEg'));
const malformed = [
  ['bad magic', frame(T.HELLO, 7, [], { magic: 0x4c01 })],
  ['another version', frame(T.HELLO, 7, [], { magic: 0x4b02 })],
  ['a payload over the limit', frame(T.WRAP, 7, [goodAad, field(F.PART, part32)], { length: 100000 })],
  ['a length shorter than the fields', frame(T.WRAP, 7, [goodAad, field(F.PART, part32)], { length: 30 })
    .subarray(0, 12 + 30)],
  ['an unknown type', frame(9, 7, [])],
  ['an answer type sent as a request', frame(T.HELLO_OK, 7, [field(F.KEY_ID, u32(1))])],
  ['a reload answer sent as a request', frame(T.RELOAD_OK, 7, [field(F.KEY_ID, u32(1))])],
  ['a reload with a field', frame(T.RELOAD, 7, [field(F.KEY_ID, u32(2))])],
  ['trailing bytes', frame(T.WRAP, 7, [goodAad, field(F.PART, part32), Buffer.from([0])])],
  ['a key part of 31 bytes', frame(T.WRAP, 7, [goodAad, field(F.PART, part32.subarray(0, 31))])],
  ['fields in the wrong order', frame(T.WRAP, 7, [field(F.PART, part32), goodAad])],
  ['associated data over the limit', frame(T.WRAP, 7, [field(F.AAD, Buffer.alloc(385, 'a')),
    field(F.PART, part32)])],
  ['associated data not printable', frame(T.WRAP, 7, [field(F.AAD, Buffer.from('id\nforged')),
    field(F.PART, part32)])],
  ['key id 0', frame(T.UNWRAP, 7, [field(F.KEY_ID, u32(0)), goodAad, field(F.WRAPPED, Buffer.alloc(60))])],
];

for (const [what, bytes] of malformed) {
  test(`the key holder refuses ${what}: an error answer, then it hangs up`, async () => {
    const h = holder();
    try {
      h.sock.write(frame(T.HELLO, 1, []));
      assert.equal((await h.answer()).type, T.HELLO_OK);
      h.sock.write(bytes);
      const a = await h.answer();
      assert.ok(a, `an answer to ${what}`);
      assert.equal(a.type, T.ERROR);
      assert.equal(a.fields[0].value.readUInt32BE(), 2);	// SP_ERR_INVALID
      assert.equal(a.id, 7, 'the request id is echoed whenever the header was read');
      assert.equal(await h.closed(), true, 'the connection is closed');
      assert.equal(await h.exited, 1);
      assert.match(h.stderr(), /keyholder malformed/);
    } finally {
      h.proc.kill('SIGKILL');
    }
  });
}

test('the key holder refuses a truncated frame', async () => {
  const h = holder();
  try {
    h.sock.write(frame(T.HELLO, 1, []));
    assert.equal((await h.answer()).type, T.HELLO_OK);
    h.sock.end(frame(T.WRAP, 8, [goodAad, field(F.PART, part32)]).subarray(0, 30));
    const a = await h.answer();
    assert.equal(a?.type, T.ERROR);
    assert.equal(a.id, 8);
    assert.equal(await h.exited, 1);
  } finally {
    h.proc.kill('SIGKILL');
  }
});

// --- root without a user ----------------------------------------------------

test('as root, keyd and the key holder refuse to start without --user or --allow-root', {
  skip: process.getuid() !== 0 && 'not root' }, () => {
  const dir = tmpDir('sealpost-kh-');
  let r = run(path.join(BIN, 'sealpost-keyd'), ['--data-dir', dir, '--listen', '127.0.0.1:1']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /refusing to run as root: give --user NAME/);
  r = run(path.join(BIN, 'sealpost-keyholder'), ['--fd', '0', '--data-dir', dir]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /refusing to run as root/);
  assert.equal(fs.existsSync(path.join(dir, 'keys')), false);
  r = run(path.join(BIN, 'sealpost-keyd'), ['--data-dir', dir, '--user', 'no-such-user-sp']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown user/);
});

// --- (c) many requests in flight; a dead or lying key holder ---------------

// The pid keyd logged for the key holder it started last.
const holderPid = (k) => Number([...k.log].reverse()
  .map((l) => /\bkeyd keyholder-start pid=(\d+)/.exec(l)).find(Boolean)[1]);

async function waitFor(what, cond, ms = 10000) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

// Bytes waiting in the receive queue of pid's unix sockets (ss -x).
function unixRecvQ(pid) {
  const r = spawnSync('ss', ['-xpnH']);
  let n = 0;
  for (const line of r.stdout.toString().split('\n')) {
    if (!line.includes(`pid=${pid},`)) continue;
    const cols = line.trim().split(/\s+/);
    n += Number(cols[2]) || 0;
  }
  return n;
}

test('many releases at once: each gets the key part of its own envelope', async () => {
  const k = await keyd({ args: ['--max-connections-per-client', '100'] });
  const token = orgAdd(k.dataDir, 'Example Clinic', 'clinic.example');
  const ds = [];
  for (let i = 0; i < 16; i++) ds.push(await deposit(k, token));
  const all = await Promise.all(ds.flatMap((d) => [0, 1, 2, 3].map(async () => {
    const r = await release(k, token, d.id);
    return { d, status: r.status, body: await r.json() };
  })));
  assert.equal(all.length, 64);
  for (const { d, status, body } of all) {
    assert.equal(status, 200);
    assert.equal(body.id, d.id);
    assert.equal(body.server_part, d.server_part, `the key part of ${d.id}`);
  }
  assert.equal(new Set(ds.map((d) => d.server_part)).size, 16, 'every envelope has its own part');
});

test('a key holder killed with requests in flight: each gets 503, then keyd starts it again', async () => {
  const k = await keyd();
  const token = orgAdd(k.dataDir, 'Example Clinic', 'clinic.example');
  const d = await deposit(k, token);
  assert.equal((await release(k, token, d.id)).status, 200);
  const pid = holderPid(k);
  process.kill(pid, 'SIGSTOP');
  let killedAt = 0;
  const waiting = [...Array.from({ length: 12 }, () => release(k, token, d.id)),
    api(k, '/api/v1/envelopes', { auth: token,
      body: { from: 'doc@clinic.example', recipients: ['pat@clinic.example'], format: 2 } })]
    .map((p) => p.then((r) => ({ status: r.status, after: Date.now() - killedAt })));
  // every request has reached the stopped key holder's socket
  await waitFor('13 requests queued at the key holder', () => unixRecvQ(pid) >= 13 * 60, 4000);
  killedAt = Date.now();
  process.kill(pid, 'SIGKILL');
  const answers = await Promise.all(waiting);
  for (const a of answers) {
    assert.equal(a.status, 503);
    assert.ok(a.after < 3000, `answered ${a.after} ms after the kill, not at the 5 s deadline`);
  }
  await waitFor('the exit logged', () => k.log.some((l) => /\bkeyd keyholder-exit pid=\d+ how="signal 9"/.test(l)));
  // keyd starts another key holder, and everything works again
  await waitFor('the key holder back', () => k.log.some((l) => /\bkeyd keyholder-back\b/.test(l)));
  assert.notEqual(holderPid(k), pid);
  const r = await release(k, token, d.id);
  assert.equal(r.status, 200);
  assert.equal((await r.json()).server_part, d.server_part);
  assert.equal((await fetch(k.url + '/healthz')).status, 200);
  assert.equal((await deposit(k, token)).server_part.length > 0, true);
  assert.equal(k.proc.exitCode, null, 'keyd is still running');
  await k.stop();
  assert.equal(k.proc.exitCode, 0);
});

// A key holder of the test's own (keyd's --keyholder): it keeps a key in
// its directory and wraps and unwraps honestly on its first start; from
// the second start on it answers each UNWRAP with one kind of garbage.
const LIAR = `#!/usr/bin/env node
const fs = require('fs'), net = require('net'), crypto = require('crypto'), path = require('path');
const dir = __DIR__;
const n = (fs.existsSync(path.join(dir, 'starts')) ? Number(fs.readFileSync(path.join(dir, 'starts'), 'utf8')) : 0) + 1;
fs.writeFileSync(path.join(dir, 'starts'), String(n));
if (!fs.existsSync(path.join(dir, 'key'))) fs.writeFileSync(path.join(dir, 'key'), crypto.randomBytes(32));
const key = fs.readFileSync(path.join(dir, 'key'));
const kinds = ['honest', 'another id', 'another type', 'bad magic', 'a short part'];
const kind = kinds[Math.min(n, kinds.length) - 1];
fs.appendFileSync(path.join(dir, 'kinds'), kind + '\\n');
const sock = new net.Socket({ fd: 3, readable: true, writable: true });
const field = (t, v) => { const h = Buffer.alloc(4); h.writeUInt16BE(t, 0); h.writeUInt16BE(v.length, 2); return Buffer.concat([h, v]); };
const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32BE(v); return b; };
function frame(type, id, fields, magic = 0x4b01) {
  const p = Buffer.concat(fields), h = Buffer.alloc(12);
  h.writeUInt16BE(magic, 0); h.writeUInt16BE(type, 2); h.writeUInt32BE(p.length, 4); h.writeUInt32BE(id, 8);
  return Buffer.concat([h, p]);
}
let buf = Buffer.alloc(0);
sock.on('data', (b) => {
  buf = Buffer.concat([buf, b]);
  while (buf.length >= 12 && buf.length >= 12 + buf.readUInt32BE(4)) {
    const f = buf.subarray(0, 12 + buf.readUInt32BE(4));
    buf = buf.subarray(f.length);
    const type = f.readUInt16BE(2), id = f.readUInt32BE(8), fl = [];
    for (let p = 12; p < f.length;) { const t = f.readUInt16BE(p), l = f.readUInt16BE(p + 2); fl.push(f.subarray(p + 4, p + 4 + l)); p += 4 + l; }
    if (type === 1) sock.write(frame(0x8001, id, [field(1, u32(1))]));
    else if (type === 2) {
      const nonce = crypto.randomBytes(12), c = crypto.createCipheriv('aes-256-gcm', key, nonce);
      c.setAAD(fl[0]);
      const w = Buffer.concat([nonce, c.update(fl[1]), c.final(), c.getAuthTag()]);
      sock.write(frame(0x8002, id, [field(1, u32(1)), field(4, w)]));
    } else if (type === 3) {
      const w = fl[2], d = crypto.createDecipheriv('aes-256-gcm', key, w.subarray(0, 12));
      d.setAAD(fl[1]); d.setAuthTag(w.subarray(44));
      const part = Buffer.concat([d.update(w.subarray(12, 44)), d.final()]);
      if (kind === 'honest') sock.write(frame(0x8003, id, [field(3, part)]));
      else if (kind === 'another id') sock.write(frame(0x8003, id + 1, [field(3, part)]));
      else if (kind === 'another type') sock.write(frame(0x8001, id, [field(1, u32(1))]));
      else if (kind === 'bad magic') sock.write(frame(0x8003, id, [field(3, part)], 0x4c01));
      else sock.write(frame(0x8003, id, [field(3, part.subarray(0, 31))]));
    }
  }
});
sock.on('end', () => process.exit(0));
sock.on('error', () => process.exit(1));
`;

test('a key holder that answers garbage: 503, never a key part, and keyd starts it again', async () => {
  const dir = tmpDir('sealpost-liar-');
  const prog = path.join(dir, 'liar.cjs');
  fs.writeFileSync(prog, LIAR.replace('__DIR__', JSON.stringify(dir)), { mode: 0o755 });
  const k = await keyd({ args: ['--keyholder', prog] });
  const token = orgAdd(k.dataDir, 'Example Clinic', 'clinic.example');
  const d = await deposit(k, token);
  let r = await release(k, token, d.id);
  assert.equal(r.status, 200, 'the honest start (control)');
  assert.equal((await r.json()).server_part, d.server_part);
  process.kill(holderPid(k), 'SIGKILL');
  // each start from here on lies one way; keyd refuses each answer, ends
  // the connection (the key holder exits) and starts the next
  const lies = ['another id', 'another type', 'bad magic', 'a short part'];
  for (let i = 0; i < lies.length; i++) {
    await waitFor(`start ${i + 2}`, () => k.log.filter((l) => /\bkeyd keyholder-back\b/.test(l)).length >= i + 1);
    r = await release(k, token, d.id);
    const body = await r.text();
    assert.equal(r.status, 503, `${lies[i]}: ${body}`);
    assert.ok(!body.includes(d.server_part));
  }
  assert.deepEqual(fs.readFileSync(path.join(dir, 'kinds'), 'utf8').trim().split('\n'), ['honest', ...lies]);
  assert.ok(k.log.some((l) => /\bkeyd unwrap-failed\b/.test(l)), k.log.join('\n'));
});

// --- keyd and the key holder as their own users ------------------------------

function ensureUser(name) {
  if (spawnSync('id', ['-u', name]).status === 0) return;
  const r = spawnSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', name]);
  assert.equal(r.status, 0, `useradd ${name}: ${r.stderr}`);
}
const idOf = (name) => Number(spawnSync('id', ['-u', name]).stdout.toString().trim());
// keyd's user and the key holder's, made when missing; false (the test
// skipped) when not root
function twoUsers(t) {
  if (process.getuid() !== 0) {
    t.skip('not root: cannot create users or change them');
    return false;
  }
  ensureUser('sealpost-test');
  ensureUser('sealpost-test-keys');
  return true;
}

test('--user: keyd and the key holder give up root, each for its own user', async (t) => {
  if (!twoUsers(t)) return;
  const dataDir = tmpDir('sealpost-kh-user-');
  fs.chownSync(dataDir, idOf('sealpost-test'), idOf('sealpost-test'));
  const k = await keyd({ dataDir, args: ['--user', 'sealpost-test', '--keyholder-user', 'sealpost-test-keys'] });
  const u = idOf('sealpost-test'), ku = idOf('sealpost-test-keys');
  assert.deepEqual(uids(k.pid), [u, u, u, u]);
  assert.ok(k.keyholderPid > 0);
  assert.deepEqual(uids(k.keyholderPid), [ku, ku, ku, ku]);
  const gids = (pid) => fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')
    .find((l) => l.startsWith('Groups:')).split(/\s+/).slice(1).filter(Boolean);
  assert.ok(!gids(k.pid).includes('0'), 'no supplementary group root');
  // the key directory and key are the key holder's alone
  const kd = fs.statSync(path.join(dataDir, 'keys'));
  assert.equal(kd.uid, ku);
  assert.equal(kd.mode & 0o777, 0o700);
  const kf = fs.statSync(path.join(dataDir, 'keys', 'master-1.key'));
  assert.equal(kf.uid, ku);
  assert.equal(kf.mode & 0o777, 0o600);
  // the rest of the data directory is keyd's
  assert.equal(fs.statSync(dataDir).uid, u);
  if (!PGSQL) assert.equal(fs.statSync(path.join(dataDir, 'keyd.sqlite')).uid, u);
  // and it works
  const token = orgAdd(dataDir, 'Example Clinic', 'clinic.example');
  const d = await deposit(k, token);
  const r = await release(k, token, d.id);
  assert.equal(r.status, 200);
  assert.equal((await r.json()).server_part, d.server_part);
  await k.stop();
  assert.equal(k.proc.exitCode, 0);
  // keyd's user (taken over, say) moves the key directory aside: at the next
  // start, root hands over only what root made, never the key holder's
  // files under another name
  fs.renameSync(path.join(dataDir, 'keys'), path.join(dataDir, 'stash'));
  const k2 = await keyd({ dataDir, args: ['--user', 'sealpost-test', '--keyholder-user', 'sealpost-test-keys'] });
  await k2.stop();
  assert.equal(fs.statSync(path.join(dataDir, 'stash')).uid, ku);
  assert.equal(fs.statSync(path.join(dataDir, 'stash', 'master-1.key')).uid, ku);
  // root's `audit anchor` makes the anchor file keyd's, which appends to it
  const anchors = path.join(dataDir, 'audit-anchors');
  fs.rmSync(anchors, { force: true });
  const an = sealpost(['--data-dir', dataDir, 'audit', 'anchor']);
  assert.equal(an.status, 0, String(an.stderr));
  assert.equal(fs.statSync(anchors).uid, u);
});

// --- rotation -----------------------------------------------------------------

// the store's SQL, for both backends
const sql = storeSql;
const blob = (buf) => (PGSQL ? `'\\x${buf.toString('hex')}'::bytea` : `X'${buf.toString('hex')}'`);
const hex = (col) => (PGSQL ? `encode(${col}, 'hex')` : `hex(${col})`);

test('key rotate, SIGHUP, key rewrap: everything moves to the new key and releases go on', async () => {
  const k = await keyd();
  const token = orgAdd(k.dataDir, 'Example Clinic', 'clinic.example');
  const before = [];
  for (let i = 0; i < 3; i++) before.push(await deposit(k, token));
  // an account with a TOTP secret wrapped under key 1 ("totp:EMAIL")
  recipientAdd(k.dataDir, 'tom@clinic.example', 'correct horse battery staple');
  const key1 = fs.readFileSync(path.join(k.dataDir, 'keys', 'master-1.key'));
  const box = Buffer.alloc(32);
  box[0] = 20;
  crypto.randomBytes(20).copy(box, 1);
  const tw = wrap(key1, 'totp:tom@clinic.example', box);
  sql(k.dataDir, `UPDATE accounts SET totp_wrapped = ${blob(tw)}, totp_key_id = 1
    WHERE email = 'tom@clinic.example'`);
  // a refused mail waiting in the queue, its key wrapped under key 1
  // ("mailq:REF"); due in an hour, so the key server leaves it alone
  const mref = 'rotAAAAAAAAAAAAAAAAAAA';
  const mkey = crypto.randomBytes(32);
  sql(k.dataDir, `INSERT INTO mailq VALUES ('${mref}', ${Math.floor(Date.now() / 1000) + 3600}, 1, 0, 1,
    ${blob(wrap(key1, `mailq:${mref}`, mkey))}, ${blob(crypto.randomBytes(80))})`);
  // the organisation's reply signing key, its seed wrapped under key 1
  // ("replykey:KID")
  const rkid = 'rkTESTAAAAA';
  const seed = crypto.randomBytes(32);
  sql(k.dataDir, `INSERT INTO org_keys (kid, org_id, pub, created, reply, wrapped, wrap_key_id)
    VALUES ('${rkid}', (SELECT id FROM orgs WHERE name = 'Example Clinic'), ${blob(crypto.randomBytes(32))}, 1, 1,
    ${blob(wrap(key1, `replykey:${rkid}`, seed))}, 1)`);

  let r = sealpost(['--data-dir', k.dataDir, 'key', 'rotate']);
  assert.equal(r.status, 0, r.stderr);
  const file = r.stdout.toString().trim();
  assert.equal(file, path.join(k.dataDir, 'keys', 'master-2.key'));
  const st = fs.statSync(file);
  assert.equal(st.size, 32);
  assert.equal(st.mode & 0o777, 0o600);
  // until the key holder reads it again, new deposits stay on key 1
  const mid = await deposit(k, token);
  assert.equal(sql(k.dataDir, `SELECT key_id FROM envelopes WHERE id = '${mid.id}'`), '1');
  process.kill(k.pid, 'SIGHUP');
  const until = Date.now() + 5000;
  while (!k.log.some((l) => /\bkeyholder reload current=2/.test(l)) && Date.now() < until) await sleep(50);
  assert.ok(k.log.some((l) => /\bkeyholder reload current=2/.test(l)), k.log.join('\n'));
  const after2 = await deposit(k, token);
  assert.equal(sql(k.dataDir, `SELECT key_id FROM envelopes WHERE id = '${after2.id}'`), '2');
  assert.deepEqual(sql(k.dataDir, 'SELECT DISTINCT key_id FROM envelopes ORDER BY 1').split('\n'), ['1', '2']);

  r = sealpost(['--data-dir', k.dataDir, 'key', 'rewrap', '--dry-run']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout.toString(), /would rewrap: key=2 envelopes=4 totp=1 mails=1 replykeys=1 skipped=0 failed=0/);
  assert.equal(sql(k.dataDir, 'SELECT count(*) FROM envelopes WHERE key_id = 1'), '4');
  r = sealpost(['--data-dir', k.dataDir, 'key', 'rewrap']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout.toString(), /rewrapped: key=2 envelopes=4 totp=1 mails=1 replykeys=1 skipped=0 failed=0/);
  assert.equal(sql(k.dataDir, 'SELECT DISTINCT key_id FROM envelopes'), '2');
  assert.equal(sql(k.dataDir, "SELECT totp_key_id FROM accounts WHERE email = 'tom@clinic.example'"), '2');
  const key2 = fs.readFileSync(file);
  const tw2 = Buffer.from(sql(k.dataDir,
    `SELECT ${hex('totp_wrapped')} FROM accounts WHERE email = 'tom@clinic.example'`), 'hex');
  assert.deepEqual(unwrap(key2, 'totp:tom@clinic.example', tw2), box);
  assert.equal(sql(k.dataDir, `SELECT key_id FROM mailq WHERE ref = '${mref}'`), '2');
  const mw2 = Buffer.from(sql(k.dataDir, `SELECT ${hex('wrapped')} FROM mailq WHERE ref = '${mref}'`), 'hex');
  assert.deepEqual(unwrap(key2, `mailq:${mref}`, mw2), mkey);
  assert.equal(sql(k.dataDir, `SELECT wrap_key_id FROM org_keys WHERE kid = '${rkid}'`), '2');
  const rw2 = Buffer.from(sql(k.dataDir, `SELECT ${hex('wrapped')} FROM org_keys WHERE kid = '${rkid}'`), 'hex');
  assert.deepEqual(unwrap(key2, `replykey:${rkid}`, rw2), seed);
  assert.match(sql(k.dataDir, "SELECT detail FROM audit WHERE event = 'key-rewrap'"), /envelopes=4 totp=1 mails=1 replykeys=1/);
  // every envelope still releases its own part
  for (const d of [...before, mid, after2]) {
    const rr = await release(k, token, d.id);
    assert.equal(rr.status, 200);
    assert.equal((await rr.json()).server_part, d.server_part);
  }
  // nothing left to move
  r = sealpost(['--data-dir', k.dataDir, 'key', 'rewrap']);
  assert.match(r.stdout.toString(), /envelopes=0 totp=0 mails=0 replykeys=0/);
  // rotate and rewrap without telling the key holder: it reads its keys
  // again by itself at the first unwrap under a key newer than its own
  r = sealpost(['--data-dir', k.dataDir, 'key', 'rotate']);
  assert.equal(r.status, 0, r.stderr);
  r = sealpost(['--data-dir', k.dataDir, 'key', 'rewrap']);
  assert.match(r.stdout.toString(), /rewrapped: key=3 envelopes=5 totp=1 mails=1 replykeys=1 skipped=0 failed=0/);
  assert.equal(sql(k.dataDir, 'SELECT DISTINCT key_id FROM envelopes'), '3');
  for (const d of [...before, mid, after2]) {
    const rr = await release(k, token, d.id);
    assert.equal(rr.status, 200);
    assert.equal((await rr.json()).server_part, d.server_part);
  }
  assert.ok(k.log.some((l) => /\bkeyholder reload current=3 why=newer-key/.test(l)), k.log.join('\n'));
  const last = await deposit(k, token);
  assert.equal(sql(k.dataDir, `SELECT key_id FROM envelopes WHERE id = '${last.id}'`), '3');
});

test('two users: SIGHUP after key rotate reaches the key holder over its socket', async (t) => {
  if (!twoUsers(t)) return;
  const dataDir = tmpDir('sealpost-kh-reload-');
  fs.chownSync(dataDir, idOf('sealpost-test'), idOf('sealpost-test'));
  const k = await keyd({ dataDir, args: ['--user', 'sealpost-test', '--keyholder-user', 'sealpost-test-keys'] });
  const token = orgAdd(dataDir, 'Example Clinic', 'clinic.example');
  const keyOf = (d) => sql(dataDir, `SELECT key_id FROM envelopes WHERE id = '${d.id}'`);
  const first = await deposit(k, token);
  assert.equal(keyOf(first), '1');
  const r = sealpost(['--data-dir', dataDir, 'key', 'rotate']);
  assert.equal(r.status, 0, String(r.stderr));
  assert.equal(fs.statSync(path.join(dataDir, 'keys', 'master-2.key')).uid, idOf('sealpost-test-keys'));
  // the operator decides when the new key is used: not before the reload
  const mid = await deposit(k, token);
  assert.equal(keyOf(mid), '1');
  process.kill(k.pid, 'SIGHUP');
  await waitFor('keyd logs the reload', () => k.log.some((l) => /\bkeyd keyholder-reload/.test(l)));
  assert.ok(k.log.some((l) => /\bkeyd keyholder-reload pid=\d+ current=2$/.test(l)), k.log.join('\n'));
  assert.ok(k.log.some((l) => /\bkeyholder reload current=2 why=request\b/.test(l)), k.log.join('\n'));
  const after2 = await deposit(k, token);
  assert.equal(keyOf(after2), '2');
  // the same key holder, and every envelope still releases its own part
  assert.equal(holderPid(k), k.keyholderPid);
  for (const d of [first, mid, after2]) {
    const rr = await release(k, token, d.id);
    assert.equal(rr.status, 200);
    assert.equal((await rr.json()).server_part, d.server_part);
  }
  await k.stop();
  assert.equal(k.proc.exitCode, 0);
});

test('old layout, as root: key rotate gives the new key the owner of the key before it', (t) => {
  if (!twoUsers(t)) return;
  // keyd's user owns the data directory; the key holder's user its old key
  const dataDir = tmpDir('sealpost-kh-oldrot-');
  fs.chownSync(dataDir, idOf('sealpost-test'), idOf('sealpost-test'));
  const k1 = path.join(dataDir, 'master-1.key');
  fs.writeFileSync(k1, crypto.randomBytes(32), { mode: 0o600 });
  fs.chownSync(k1, idOf('sealpost-test-keys'), idOf('sealpost-test-keys'));
  const r = sealpost(['--data-dir', dataDir, 'key', 'rotate']);
  assert.equal(r.status, 0, String(r.stderr));
  const k2 = fs.statSync(path.join(dataDir, 'master-2.key'));
  assert.equal(k2.uid, idOf('sealpost-test-keys'));
  assert.equal(k2.gid, fs.statSync(k1).gid);
  assert.equal(k2.mode & 0o777, 0o600);
});

test('old layout: master-N.key in the data directory is still read', async () => {
  const dataDir = tmpDir('sealpost-kh-old-');
  const key = crypto.randomBytes(32);
  fs.writeFileSync(path.join(dataDir, 'master-1.key'), key, { mode: 0o600 });
  const k = await keyd({ dataDir });
  assert.equal(fs.existsSync(path.join(dataDir, 'keys')), false);
  assert.ok(k.log.some((l) => /keyholder warning .*old layout/.test(l)));
  const token = orgAdd(dataDir, 'Example Clinic', 'clinic.example');
  const d = await deposit(k, token);
  const w = Buffer.from(sql(dataDir, `SELECT ${hex('wrapped')} FROM envelopes WHERE id = '${d.id}'`), 'hex');
  assert.equal(unwrap(key, d.id, w).toString('base64url'), d.server_part);
  await k.stop();
});
