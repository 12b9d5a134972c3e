// cluster.test.mjs - two sealpost-keyd on one PostgreSQL database behind a
// real HAProxy (Debian's, in the foreground with -db), configured from the
// defaults, frontend and backend sections of etc/haproxy.cfg on loopback
// ports.  Both key servers run with --db, --trusted-proxy 127.0.0.1 and the
// proxy's URL as --public-url, and share one master key (the second gets a
// copy of the first one's keys/).
// Asserts: a session made through the proxy works on either server; an
// activation link works whichever server answers; log-in throttling counts
// across both (per address and per client), and the proxy replaces a
// client's own X-Forwarded-For; a mail one server's transport refuses is
// sent by the other from the shared queue; a master key rotated on one server, copied
// to the other and reloaded, then rewrapped, opens old and new envelopes
// on both; under faults (one key server killed with
// SIGKILL midway, then PostgreSQL restarted) every acknowledged deposit
// releases afterwards with the part it was acknowledged with, sealed
// messages open byte for byte, no id is acknowledged twice, failures are
// 502/503 or connection errors, and a retry of each failure succeeds;
// sealpost-milter behind Postfix, pointed at the proxy, defers mail while
// the store is down and seals it after a flush, never delivering it in the
// clear.
// SEALPOST_FAULT_MESSAGES (default 300; `make cluster-fault` uses 2000)
// sets how many deposits the fault run makes; the milter part sends a
// tenth of that through Postfix (at least 20).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BIN, PGSQL, ROOT, SANITIZED, freePort, makeMail, passwordFile, readOutbox, sealpost,
  spawnDaemon, startKeyd, tmpDir } from '../lib/harness.mjs';
import { createDatabase, hasPostgres, startPostgres } from '../lib/pg.mjs';
import { havePostfix, smtpSend, startMilter, startPostfix, stripTrace, waitMilterLog }
  from './postfix/pfx.mjs';

const HAPROXY = '/usr/sbin/haproxy';
const N = Math.max(20, Number(process.env.SEALPOST_FAULT_MESSAGES) || 300);
const MILTER_N = Math.max(20, Math.round(N / 10));
const PW = 'correct horse battery staple';
const pat = 'pat@example.org';
// The key servers here are always on PostgreSQL: the suite's second pass
// (SEALPOST_TEST_DB=pgsql, `make integration`) would only repeat the first.
const skip = !fs.existsSync(HAPROXY) ? 'no haproxy (Debian package haproxy)'
  : !hasPostgres() ? 'no PostgreSQL server (Debian package postgresql)'
    : PGSQL ? 'always on PostgreSQL: runs in the first pass' : false;

let pg, db, work, proxy, token, signKey;
const nodes = [];	// the two key servers: { name, keyd, dataDir, port }
const uid = () => crypto.randomUUID().slice(0, 8);

// --- HAProxy ----------------------------------------------------------------

// The test's configuration: etc/haproxy.cfg without its global section
// (chroot, user, syslog), bound to our port, with our servers and checks
// every 200 ms; plus an admin socket to read the servers' state.
function haproxyConfig(port, servers, sock) {
  const src = fs.readFileSync(path.join(ROOT, 'etc/haproxy.cfg'), 'utf8');
  const start = src.search(/^defaults\b/m);
  assert.ok(start > 0, 'etc/haproxy.cfg has a defaults section');
  let cfg = src.slice(start);
  const swap = (re, to) => {
    assert.match(cfg, re, `etc/haproxy.cfg still has ${re}`);
    cfg = cfg.replace(re, to);
  };
  swap(/^\tbind 127\.0\.0\.1:8443$/m, `\tbind 127.0.0.1:${port}`);
  swap(/^(\tdefault-server check) inter 2s fall 3 rise 2 (.*)$/m, '$1 inter 200ms fall 2 rise 1 $2');
  swap(/^\tserver keyd1 .*\n\tserver keyd2 .*\n/m,
    servers.map((s, i) => `\tserver keyd${i + 1} 127.0.0.1:${s}\n`).join(''));
  return `global\n\tmaxconn 2000\n\tstats socket ${sock} mode 600 level admin\n\n${cfg}`;
}

async function waitPort(port, limitMs, proc) {
  const until = Date.now() + limitMs;
  while (Date.now() < until) {
    if (proc.exitCode !== null) throw new Error(`haproxy exited with ${proc.exitCode}`);
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`haproxy does not listen on ${port} after ${limitMs} ms`);
}

// One command on the admin socket; resolves to its answer.
function adminCommand(sock, cmd) {
  return new Promise((resolve, reject) => {
    const c = net.connect(sock);
    let out = '';
    const t = setTimeout(() => { c.destroy(); reject(new Error(`haproxy socket: no answer to ${cmd}`)); }, 5000);
    c.on('connect', () => c.write(cmd + '\n'));
    c.on('data', (d) => { out += d; });
    c.on('end', () => { clearTimeout(t); resolve(out); });
    c.on('error', (e) => { clearTimeout(t); reject(e); });
  });
}

async function startHaproxy(port, servers) {
  const dir = tmpDir('sealpost-haproxy-');
  const cfg = path.join(dir, 'haproxy.cfg');
  const sock = path.join(dir, 'admin.sock');
  fs.writeFileSync(cfg, haproxyConfig(port, servers, sock));
  const check = spawnSync(HAPROXY, ['-c', '-q', '-f', cfg], { encoding: 'utf8', timeout: 30000 });
  assert.equal(check.status, 0, `haproxy -c: ${check.stderr}`);
  // -db: stay in the foreground, so the pid is HAProxy's own
  const d = spawnDaemon(HAPROXY, ['-f', cfg, '-db'], 'HAPROXY_LOG');
  try {
    await waitPort(port, 15000, d.proc);
    // HAProxy makes its admin socket under a temporary name and renames
    // it; the TCP port can be open a moment before the socket is there.
    for (let i = 0; i < 300 && !fs.existsSync(sock); i++) {
      if (d.proc.exitCode !== null) throw new Error(`haproxy exited with ${d.proc.exitCode}`);
      await sleep(20);
    }
    if (!fs.existsSync(sock)) throw new Error(`haproxy made no admin socket at ${sock}`);
  } catch (e) {
    await d.stop();
    throw new Error(`${e.message}\n${d.log.join('\n')}`);
  }
  const h = {
    url: `http://127.0.0.1:${port}`, port, cfg, pid: d.proc.pid, log: d.log, stop: d.stop,
    // { keyd1: 'UP', keyd2: 'DOWN', ... } from `show stat`
    async servers() {
      const csv = (await adminCommand(sock, 'show stat')).split('\n');
      const head = csv[0].replace(/^# /, '').split(',');
      const [px, sv, st] = ['pxname', 'svname', 'status'].map((f) => head.indexOf(f));
      const out = {};
      for (const l of csv.slice(1)) {
        const f = l.split(',');
        if (f[px] === 'keyd' && /^keyd\d+$/.test(f[sv])) out[f[sv]] = f[st].split(' ')[0];
      }
      return out;
    },
    async waitServers(want, limitMs = 20000) {
      const until = Date.now() + limitMs;
      let got;
      while (Date.now() < until) {
        got = await h.servers();
        if (Object.entries(want).every(([k, v]) => got[k] === v)) return got;
        await sleep(50);
      }
      throw new Error(`haproxy servers ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    },
  };
  return h;
}

// --- the key servers ----------------------------------------------------------

function keydArgs() {
  return ['--db', db, '--trusted-proxy', '127.0.0.1', '--public-url', proxy.url,
    '--max-connections-per-client', '1000'];
}

async function startNode(node) {
  node.keyd = await startKeyd({ dataDir: node.dataDir, port: node.port, args: keydArgs() });
  return node.keyd;
}

// SIGKILL the key server by its pid; its key holder sees the socket close
// and exits by itself (killed by its pid too if it has not after 5 s).
async function killNode(node) {
  const { proc, keyholderPid } = node.keyd;
  const gone = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGKILL');
  await gone;
  if (keyholderPid > 0) {
    for (let i = 0; i < 100 && alive(keyholderPid); i++) await sleep(50);
    if (alive(keyholderPid)) process.kill(keyholderPid, 'SIGKILL');
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    // a zombie is gone for our purposes
    return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

function cli(args, opts) {
  return sealpost(['--db', db, '--data-dir', nodes[0].dataDir, ...args], opts);
}

function recipientAdd(email, password) {
  const r = cli(['recipient', 'add', email, '--password-file', passwordFile(password)]);
  assert.equal(r.status, 0, `recipient add: ${r.stderr}`);
}

before(async () => {
  if (skip) return;
  work = tmpDir('sealpost-cluster-');
  pg = await startPostgres();
  db = await createDatabase(pg.url, 'cluster');
  const pport = await freePort();
  proxy = { url: `http://127.0.0.1:${pport}`, port: pport };
  for (const name of ['keyd1', 'keyd2']) {
    nodes.push({ name, dataDir: path.join(work, name), port: await freePort() });
  }
  // The first key server's key holder makes the master key; the second gets
  // the same file, with the same modes, before it starts.
  await startNode(nodes[0]);
  const from = path.join(nodes[0].dataDir, 'keys');
  const to = path.join(nodes[1].dataDir, 'keys');
  fs.mkdirSync(nodes[1].dataDir, { mode: 0o700 });
  fs.mkdirSync(to, { mode: 0o700 });
  for (const f of fs.readdirSync(from).filter((x) => /^master-\d+\.key$/.test(x))) {
    fs.copyFileSync(path.join(from, f), path.join(to, f));
    fs.chmodSync(path.join(to, f), fs.statSync(path.join(from, f)).mode & 0o777);
  }
  await startNode(nodes[1]);
  Object.assign(proxy, await startHaproxy(pport, nodes.map((n) => n.port)));
  await proxy.waitServers({ keyd1: 'UP', keyd2: 'UP' });
  signKey = path.join(work, 'sign.pem');
  const r = cli(['org', 'add', 'Example Clinic', '--domain', 'clinic.example', '--key-out', signKey]);
  assert.equal(r.status, 0, `org add: ${r.stderr}`);
  token = r.stdout.toString().trim();
  recipientAdd(pat, PW);
});

after(async () => {
  await proxy?.stop?.();
  for (const n of nodes) await n.keyd?.stop();
  await pg?.stop();
});

// --- HTTP helpers -----------------------------------------------------------------

const api = (base, p, { method = 'POST', body, auth, headers = {}, timeout = 60000 } = {}) =>
  fetch(base + p, {
    method,
    headers: { ...(auth ? { Authorization: `Bearer ${auth}` } : {}),
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeout),
  });

async function login(base, email, password, headers) {
  const r = await api(base, '/api/v1/session', { body: { email, password }, headers });
  return { status: r.status, body: await r.json() };
}

async function depositVia(base, rcpts = [pat]) {
  const r = await api(base, '/api/v1/envelopes', { auth: token,
    body: { from: 'doc@clinic.example', recipients: rcpts, expires: 0, format: 2 } });
  assert.equal(r.status, 201);
  return r.json();
}

const releaseLines = (node, id) => node.keyd.log.filter((l) => / keyd release /.test(l) && l.includes(`id=${id}`));

function cookieOf(res, name) {
  for (const c of res.headers.getSetCookie()) {
    const m = c.match(new RegExp(`^${name}=([^;]*)`));
    if (m) return m[1];
  }
  return null;
}

// --- (a) one service, two servers ------------------------------------------------

test('a session made through the proxy works on both key servers', { skip }, async () => {
  const d = await depositVia(proxy.url);
  assert.equal(d.keyd, proxy.url, 'envelopes name the proxy, not a key server');
  const s = await login(proxy.url, pat, PW);
  assert.equal(s.status, 200);
  for (let i = 0; i < 8; i++) {
    const r = await api(proxy.url, `/api/v1/envelopes/${d.id}/release`, { auth: s.body.session });
    assert.equal(r.status, 200);
    assert.equal((await r.json()).server_part, d.server_part);
  }
  // the proxy spread them over both servers, each of which knew the session
  for (const n of nodes) {
    assert.ok(releaseLines(n, d.id).length >= 1, `${n.name} served a release:\n${n.keyd.log.join('\n')}`);
  }
  // and straight at each server, the same session
  for (const n of nodes) {
    const r = await api(n.keyd.url, `/api/v1/envelopes/${d.id}/release`, { auth: s.body.session });
    assert.equal(r.status, 200, n.name);
  }
  // log out on one, gone on the other
  const del = await api(nodes[0].keyd.url, '/api/v1/session', { method: 'DELETE', auth: s.body.session });
  assert.equal(del.status, 204);
  const r = await api(nodes[1].keyd.url, `/api/v1/envelopes/${d.id}/release`, { auth: s.body.session });
  assert.equal(r.status, 401);
  // the client address the servers log is the one the proxy forwarded
  assert.ok(nodes.every((n) => releaseLines(n, d.id).every((l) => /client=127\.0\.0\.1\b/.test(l))));
});

test('a registration made through the proxy activates on whichever server answers', { skip }, async () => {
  const email = `reg-${uid()}@example.org`;
  let r = await fetch(`${proxy.url}/register?email=${encodeURIComponent(email)}`);
  assert.equal(r.status, 200);
  const csrf = cookieOf(r, 'sp_csrf');
  const fields = { csrf, email, id: '', language: 'en', first_name: 'Robin', last_name: 'Roe',
    password: 'violet trumpet winter', password2: 'violet trumpet winter', phrase: 'the owl flies at noon',
    q1: '1', a1: 'Rex', a1c: 'Rex', q2: '3', a2: 'Martin', a2c: 'Martin', q3: '5', a3: 'Volvo', a3c: 'Volvo' };
  r = await fetch(`${proxy.url}/register`, { method: 'POST', redirect: 'manual',
    headers: { Cookie: `sp_csrf=${csrf}` }, body: new URLSearchParams(fields) });
  assert.equal(r.status, 200);
  const reg = cookieOf(r, 'sp_reg');
  assert.ok(reg);
  // the mail left from the server that took the registration
  let sender, link;
  const re = new RegExp(`${proxy.url.replace(/[.]/g, '\\.')}/activate\\?t=[A-Za-z0-9_-]+`);
  for (let i = 0; i < 100 && !link; i++) {
    for (const n of nodes) {
      const m = readOutbox(n.keyd.outbox).find((x) => x.text.includes(`To: ${email}`));
      const l = m && m.text.replace(/=\r?\n/g, '').match(re);
      if (l) { sender = n; link = l[0]; }
    }
    if (!link) await sleep(50);
  }
  assert.ok(link, 'an activation mail with a link to the proxy');
  const other = nodes.find((n) => n !== sender);
  const t = new URL(link).searchParams.get('t');
  // the link's page on each server (a GET consumes nothing)
  for (const n of nodes) {
    const g = await fetch(`${n.keyd.url}/activate?t=${t}`, { headers: { Cookie: `sp_reg=${reg}` } });
    assert.equal(g.status, 200, n.name);
    assert.match(await g.text(), /Confirm my address/);
  }
  // confirmed on the server that did not send the mail
  r = await fetch(`${other.keyd.url}/activate`, { method: 'POST', redirect: 'manual',
    headers: { Cookie: `sp_csrf=${csrf}; sp_reg=${reg}` }, body: new URLSearchParams({ csrf, t }) });
  assert.equal(r.status, 200);
  assert.match(await r.text(), /is confirmed/);
  // used up on the first one too
  r = await fetch(`${sender.keyd.url}/activate`, { method: 'POST', redirect: 'manual',
    headers: { Cookie: `sp_csrf=${csrf}; sp_reg=${reg}` }, body: new URLSearchParams({ csrf, t }) });
  assert.equal(r.status, 400);
  assert.equal((await login(proxy.url, email, 'violet trumpet winter')).status, 200);
});

// A mail one key server's transport refuses waits in the shared store's
// queue; when that server is gone, the other one sends it.
test('a mail one key server cannot send is sent by the other', { skip }, async () => {
  const [n1, n2] = nodes;
  const aside = n1.keyd.outbox + '.aside';
  fs.renameSync(n1.keyd.outbox, aside);
  fs.writeFileSync(n1.keyd.outbox, 'not a directory\n');
  try {
    // a sign-in link asked for on keyd1 (its form, with the CSRF cookie)
    const g = await fetch(`${n1.keyd.url}/register`);
    assert.equal(g.status, 200);
    const csrf = cookieOf(g, 'sp_csrf');
    const r = await fetch(`${n1.keyd.url}/signin-link`, { method: 'POST', redirect: 'manual',
      headers: { Cookie: `sp_csrf=${csrf}`, Origin: proxy.url, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf, email: pat }) });
    assert.equal(r.status, 200);
    const kept = () => n1.keyd.log.some((l) => /\bkeyd mail-kept\b/.test(l));
    for (let i = 0; i < 100 && !kept(); i++) await sleep(50);
    assert.ok(kept(), n1.keyd.log.slice(-20).join('\n'));
    await n1.keyd.stop();
  } finally {
    fs.rmSync(n1.keyd.outbox);
    fs.renameSync(aside, n1.keyd.outbox);
  }
  // keyd2 looks at the queue every 10 s; the mail is due 5 s after the refusal
  let mail;
  for (let i = 0; i < 300 && !mail; i++) {
    mail = readOutbox(n2.keyd.outbox).find((x) => x.text.includes(`To: ${pat}`) &&
      x.text.replace(/=\r?\n/g, '').includes(`${proxy.url}/signin?t=`));
    if (!mail) await sleep(100);
  }
  assert.ok(mail, `keyd2 sent the mail keyd1 kept:\n${n2.keyd.log.slice(-20).join('\n')}`);
  // its log line follows the mail file (the transport answers first)
  const sent = () => n2.keyd.log.some((l) => /\bkeyd mail-sent\b.*\btries=2\b/.test(l));
  for (let i = 0; i < 100 && !sent(); i++) await sleep(50);
  assert.ok(sent(), n2.keyd.log.slice(-20).join('\n'));
  await startNode(n1);
  await proxy.waitServers({ keyd1: 'UP', keyd2: 'UP' });
});

test('log-in throttling counts across both servers', { skip }, async () => {
  // per address: five failures through the proxy (spread over both), then
  // the lock holds on each server, even for the right password
  const tess = `tess-${uid()}@example.org`;
  recipientAdd(tess, PW);
  for (let i = 0; i < 5; i++) assert.equal((await login(proxy.url, tess, 'not the password')).status, 401);
  assert.ok(nodes.every((n) => n.keyd.log.some((l) => / keyd login-failed /.test(l))),
    'both servers counted failures');
  for (const n of nodes) {
    const r = await login(n.keyd.url, tess, PW);
    assert.equal(r.status, 429, n.name);
    assert.match(r.body.error, /try again in \d+ seconds/);
  }
  // per client: the client address a trusted proxy forwards; 20 failures
  // (--login-free-ip) spread over both servers lock that client on both
  const xff = { 'X-Forwarded-For': `198.51.100.${crypto.randomInt(1, 250)}` };
  for (let i = 0; i < 20; i++) {
    const r = await login(nodes[i % 2].keyd.url, `ghost-${i}-${uid()}@example.org`, 'not the password', xff);
    assert.equal(r.status, 401, `attempt ${i}`);
  }
  for (const n of nodes) assert.equal((await login(n.keyd.url, pat, PW, xff)).status, 429, n.name);
  // the proxy puts in its own X-Forwarded-For: the same header from the
  // client does not make it that locked client (or any other)
  assert.equal((await login(proxy.url, pat, PW, xff)).status, 200);
  assert.equal((await login(proxy.url, pat, PW, { Forwarded: `for=${xff['X-Forwarded-For']}` })).status, 200);
});

test('master key rotation across both servers (docs/operations.md)', { skip }, async () => {
  const old = await depositVia(proxy.url);
  // rotate on the first, copy the new file to the second, then reload both
  const r = sealpost(['--db', db, '--data-dir', nodes[0].dataDir, 'key', 'rotate']);
  assert.equal(r.status, 0, r.stderr);
  const file = r.stdout.toString().trim();
  assert.match(file, /\/keys\/master-2\.key$/);
  const copy = path.join(nodes[1].dataDir, 'keys', path.basename(file));
  fs.copyFileSync(file, copy);
  fs.chmodSync(copy, 0o600);
  const marks = nodes.map((n) => n.keyd.log.length);
  for (const n of nodes) process.kill(n.keyd.pid, 'SIGHUP');
  for (const [j, n] of nodes.entries()) {
    for (let i = 0; i < 100 && !n.keyd.log.slice(marks[j]).some((l) => /keyholder reload current=2\b/.test(l)); i++) {
      await sleep(50);
    }
    assert.ok(n.keyd.log.slice(marks[j]).some((l) => /keyholder reload current=2\b/.test(l)),
      `${n.name}'s key holder read key 2:\n${n.keyd.log.join('\n')}`);
  }
  // new deposits, made by either server under key 2, release on both, as
  // does the old one under key 1; and after the rewrap, all of them
  const fresh = [];
  for (let i = 0; i < 4; i++) fresh.push(await depositVia(proxy.url));
  const s = await login(proxy.url, pat, PW);
  const releaseAll = async () => {
    for (const d of [old, ...fresh]) {
      for (const n of nodes) {
        const x = await api(n.keyd.url, `/api/v1/envelopes/${d.id}/release`, { auth: s.body.session });
        assert.equal(x.status, 200, `${d.id} on ${n.name}`);
        assert.equal((await x.json()).server_part, d.server_part);
      }
    }
  };
  await releaseAll();
  const w = sealpost(['--db', db, '--data-dir', nodes[0].dataDir, 'key', 'rewrap']);
  assert.equal(w.status, 0, w.stderr);
  assert.match(w.stdout.toString(), /^rewrapped: key=2 envelopes=[1-9]\d* .*failed=0/m);
  const dry = sealpost(['--db', db, '--data-dir', nodes[0].dataDir, 'key', 'rewrap', '--dry-run']);
  assert.match(dry.stdout.toString(), /^would rewrap: key=2 envelopes=0 totp=0 /m);
  await releaseAll();
});

// --- (b) faults -------------------------------------------------------------------------

// One sealpost process, without blocking the event loop; bounded.
function runAsync(cmd, args, { timeout = SANITIZED ? 600000 : 120000 } = {}) {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => p.kill('SIGKILL'), timeout);
    p.on('exit', (status, signal) => { clearTimeout(t); resolve({ status, signal, stderr }); });
  });
}

// Message i: every tenth is sealed by `sealpost seal` through the proxy (and
// kept to be opened), the rest are deposits as the milter makes them.
async function attempt(i) {
  if (i % 10 === 0) {
    const inp = path.join(work, `m${i}.eml`);
    const out = path.join(work, `m${i}.sealed.eml`);
    if (!fs.existsSync(inp)) {
      fs.writeFileSync(inp, makeMail({ subject: `[secure] fault ${i}`, text: `FAULT-MARKER-${i} lab values\n`,
        messageId: `<fault-${i}-${uid()}@clinic.example>` }));
    }
    const r = await runAsync(path.join(BIN, 'sealpost'), ['seal', '--keyd', proxy.url, '--token', token,
      '--sign-key', signKey, '-i', inp, '-o', out]);
    if (r.status === 0) {
      const m = fs.readFileSync(out, 'latin1').match(/^X-Sealpost-Envelope: (\S+)$/m);
      return { i, ok: true, kind: 'seal', id: m && m[1], inp, out };
    }
    return { i, ok: false, kind: 'seal', status: `exit ${r.status ?? r.signal}`, stderr: r.stderr };
  }
  try {
    const r = await api(proxy.url, '/api/v1/envelopes', { auth: token,
      body: { from: 'doc@clinic.example', recipients: [pat], expires: 0, format: 2 }, timeout: 60000 });
    const text = await r.text();
    if (r.status === 201) {
      const b = JSON.parse(text);
      return { i, ok: true, kind: 'api', id: b.id, part: b.server_part };
    }
    return { i, ok: false, kind: 'api', status: r.status, text };
  } catch (e) {
    return { i, ok: false, kind: 'api', status: 'connection', text: String(e.cause?.code || e.message) };
  }
}

test(`faults: ${N} deposits while a key server is killed and PostgreSQL restarts`, { skip }, async () => {
  const results = [];
  let next = 0;
  let done = 0;
  const events = [];
  const t0 = Date.now();
  const killed = nodes[1];
  // The faults, each once the run has come that far: a key server killed,
  // back, PostgreSQL stopped and started again (the same port and data).
  const plan = [
    [0.25, async () => { await killNode(killed); events.push(`killed ${killed.name} at ${done}`); }],
    [0.4, async () => { await startNode(killed); events.push(`restarted ${killed.name} at ${done}`); }],
    [0.6, async () => {
      await pg.pause();
      events.push(`PostgreSQL stopped at ${done}`);
      await sleep(1000);
      await pg.resume();
      events.push(`PostgreSQL started at ${done}`);
    }],
  ];
  let chain = Promise.resolve();
  const fire = () => {
    while (plan.length && done >= plan[0][0] * N) {
      const [, fn] = plan.shift();
      chain = chain.then(fn);
    }
  };
  const worker = async () => {
    while (next < N) {
      const r = await attempt(next++);
      results.push(r);
      done++;
      fire();
      // a failure waits a little, as a gateway would, so the run spans the faults
      if (!r.ok) await sleep(200);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  await chain;
  assert.equal(plan.length, 0, 'every fault happened');
  const secs = (Date.now() - t0) / 1000;

  const acked = results.filter((r) => r.ok);
  const failed = results.filter((r) => !r.ok);
  const tally = {};
  for (const r of failed) {
    const key = r.status === 'connection' ? `connection ${r.text}` : r.status;
    tally[key] = (tally[key] || 0) + 1;
  }
  console.log(`${N} deposits in ${secs.toFixed(1)} s: ${acked.length} acknowledged, ` +
    `${failed.length} failed ${JSON.stringify(tally)}; ${events.join('; ')}`);
  // a failure is the proxy's 502/503, the server's 503, a lost connection,
  // or the CLI's temporary failure (75): never anything else
  for (const r of failed) {
    const okStatus = r.kind === 'api' ? [502, 503, 'connection'].includes(r.status) : r.status === 'exit 75';
    assert.ok(okStatus, `message ${r.i} failed with ${r.status}: ${r.text || r.stderr}`);
  }
  assert.ok(failed.length > 0, 'the faults were felt');

  // the system is back: both servers up behind the proxy, and every failed
  // message, sent again once, is acknowledged
  await proxy.waitServers({ keyd1: 'UP', keyd2: 'UP' });
  for (const f of failed) {
    const r = await attempt(f.i);
    assert.ok(r.ok, `retry of message ${f.i}: ${r.status} ${r.text || r.stderr}`);
    acked.push(r);
  }
  assert.equal(acked.length, N);
  const ids = acked.map((r) => r.id);
  assert.ok(ids.every((id) => /^[A-Za-z0-9_-]{22}$/.test(id)));
  assert.equal(new Set(ids).size, ids.length, 'no id acknowledged twice');

  // every acknowledged deposit releases, through the proxy, the part it was
  // acknowledged with
  const s = await login(proxy.url, pat, PW);
  assert.equal(s.status, 200);
  let k = 0;
  const releaser = async () => {
    while (k < acked.length) {
      const a = acked[k++];
      const r = await api(proxy.url, `/api/v1/envelopes/${a.id}/release`, { auth: s.body.session });
      assert.equal(r.status, 200, `release of message ${a.i} (${a.id})`);
      const b = await r.json();
      if (a.part) assert.equal(b.server_part, a.part, `message ${a.i}: the part it was acknowledged with`);
    }
  };
  await Promise.all([releaser(), releaser(), releaser(), releaser()]);

  // sealed messages open to the original bytes: a sample from the whole run
  const sealed = acked.filter((r) => r.kind === 'seal').sort((a, b) => a.i - b.i);
  const step = Math.max(1, Math.floor(sealed.length / 6));
  const sample = sealed.filter((_, j) => j % step === 0);
  const pw = passwordFile(PW);
  for (const m of sample) {
    const text = fs.readFileSync(m.out, 'latin1');
    assert.ok(!text.includes(`FAULT-MARKER-${m.i} `), 'nothing in the clear');
    const o = sealpost(['open', '--keyd', proxy.url, '--email', pat, '--password-file', pw, '--raw', m.out]);
    assert.equal(o.status, 0, `open message ${m.i}: ${o.stderr}`);
    assert.ok(Buffer.compare(o.stdout, fs.readFileSync(m.inp)) === 0, `message ${m.i} opens byte for byte`);
  }
});

// --- (b) the gateway -----------------------------------------------------------------------

test(`the milter through the proxy: ${MILTER_N} mails, deferred while the store is down, then sealed`,
  { skip: skip || (!havePostfix() && 'no Postfix or not root') }, async () => {
    const dir = tmpDir('sealpost-cluster-milter-');
    const milter = await startMilter([`keyd_url = ${proxy.url}`, `keyd_token = ${token}`,
      `sign_key = ${signKey}`, 'internal_domains = clinic.example', 'timeout_ms = 5000'], { dir });
    const pfx = await startPostfix({ milterPort: milter.port });
    try {
      const mails = [];
      const send = async (j) => {
        const marker = `MILTER-MARKER-${j}-${uid()}`;
        const mail = makeMail({ subject: `[secure] results ${j}`, text: `${marker}\n`,
          messageId: `<mfault-${j}-${uid()}@clinic.example>` });
        const r = await smtpSend(pfx.port, 'alice@clinic.example', [pat], mail);
        assert.equal(r.code, 250, `Postfix queued mail ${j}: ${r.text}`);
        mails.push({ j, marker, mail });
      };
      const half = Math.floor(MILTER_N / 2);
      // the first half with everything up
      for (let j = 0; j < half; j++) await send(j);
      await pfx.waitDelivered(half, SANITIZED ? 300000 : 120000);

      // the store down (and one key server killed): the milter defers every
      // mail with 451, nothing is delivered
      const from = milter.log.length;
      await killNode(nodes[0]);
      await pg.pause();
      try {
        for (let j = half; j < MILTER_N; j++) await send(j);
        const until = Date.now() + (SANITIZED ? 300000 : 120000);
        const deferred = () => (pfx.log().match(/status=deferred \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 451 4\.3\.0 /g) || []).length;
        while (deferred() < MILTER_N - half && Date.now() < until) await sleep(100);
        assert.equal(deferred(), MILTER_N - half, 'every mail deferred with 451 4.3.0');
        await waitMilterLog(milter, /decision=tempfail rule=subject-keyword .*key server unavailable/, { from });
        assert.equal(pfx.sentCount(), half, 'nothing delivered while the store is down');
      } finally {
        await pg.resume();
        await startNode(nodes[0]);
      }
      await proxy.waitServers({ keyd1: 'UP', keyd2: 'UP' });
      pfx.flush();
      const got = await pfx.waitDelivered(MILTER_N, SANITIZED ? 300000 : 120000);
      assert.equal(got.length, MILTER_N, 'each mail delivered once');
      const pw = passwordFile(PW);
      for (const m of mails) {
        const mine = got.filter((d) => d.raw.toString('latin1').includes(m.mail.toString('latin1').match(/^Message-ID: (.*)\r$/m)[1]));
        assert.equal(mine.length, 1, `mail ${m.j} delivered exactly once`);
        const raw = mine[0].raw.toString('latin1');
        assert.match(raw, /^X-Sealpost-Envelope: [A-Za-z0-9_-]{22}$/m, `mail ${m.j} sealed`);
        assert.ok(!raw.includes(m.marker), `mail ${m.j}: nothing in the clear`);
      }
      for (const d of got) {
        assert.ok(!/MILTER-MARKER-/.test(d.raw.toString('latin1')), 'no delivered mail holds a marker in the clear');
      }
      // one from each half opens to the original bytes
      for (const m of [mails[0], mails[MILTER_N - 1]]) {
        const id = m.mail.toString('latin1').match(/^Message-ID: (.*)\r$/m)[1];
        const d = got.find((x) => x.raw.toString('latin1').includes(id));
        const f = path.join(dir, `got-${m.j}.eml`);
        fs.writeFileSync(f, d.raw);
        const o = sealpost(['open', '--keyd', proxy.url, '--email', pat, '--password-file', pw, '--raw', f]);
        assert.equal(o.status, 0, o.stderr);
        assert.ok(Buffer.compare(stripTrace(o.stdout), m.mail) === 0, `mail ${m.j} opens byte for byte`);
      }
    } finally {
      await pfx.stop();
      await milter.stop();
    }
  });
