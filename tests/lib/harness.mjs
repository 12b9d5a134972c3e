// harness.mjs - shared helpers for the integration and browser tests: temp
// directories, free ports, running the real binaries, starting and stopping
// sealpost-keyd by its own pid, reading the outbox, building test mails.
//
// The store backend: with SEALPOST_TEST_DB=pgsql in the environment every
// key server keeps its store in PostgreSQL.  The first key server of the
// test process starts a throwaway server (tests/lib/pg.mjs, stopped when
// the process exits); each data directory gets a fresh database of its
// own, passed as `--db URL` to sealpost-keyd and to every `sealpost
// --data-dir DIR` command line for that directory (see keydDb()).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPostgresSync, createDatabaseSync, psql } from './pg.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = process.env.SEALPOST_BIN || path.join(ROOT, 'bin');
export const SANITIZED = !!process.env.SEALPOST_SANITIZED;
// the store backend of this run: 'sqlite' (default) or 'pgsql'
export const TEST_DB = process.env.SEALPOST_TEST_DB === 'pgsql' ? 'pgsql' : 'sqlite';
export const PGSQL = TEST_DB === 'pgsql';

const tmpDirs = [];
process.on('exit', () => {
  if (process.env.KEEP_TMP) return;
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

export function tmpDir(prefix = 'sealpost-test-') {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.push(d);
  return d;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export function run(cmd, args = [], opts = {}) {
  const r = spawnSync(cmd, args, {
    input: opts.input,
    env: { ...process.env, ...(opts.env || {}) },
    cwd: opts.cwd,
    timeout: opts.timeout || (SANITIZED ? 600000 : 120000),
    maxBuffer: 1 << 30,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

// --- the store of a key server -------------------------------------------

let pgServer = null;
let dbSeq = 0;
const dbOf = new Map();	// resolved data directory -> its database URL

// The PostgreSQL server of this process, started on first use.
export function pgServerSync() {
  if (pgServer === null) pgServer = startPostgresSync();
  return pgServer;
}

// The store URL of the key server whose data directory is dataDir: under
// SEALPOST_TEST_DB=pgsql a database of its own, made on first use (so two
// key servers on one data directory share it, and a restart finds its
// data); null under SQLite.
export function keydDb(dataDir) {
  if (!PGSQL) return null;
  const key = path.resolve(dataDir);
  if (!dbOf.has(key)) {
    const s = pgServerSync();
    dbOf.set(key, createDatabaseSync(s.url, `keyd_${process.pid}_${++dbSeq}`));
  }
  return dbOf.get(key);
}

// The arguments that give a key server (or the CLI) its store: [] or
// ['--db', URL].
export function keydDbArgs(dataDir) {
  const u = keydDb(dataDir);
  return u ? ['--db', u] : [];
}

// Run SQL on the store of the key server of dataDir; the output, one row a
// line, columns separated by '|'.  q is written for both backends.
export function storeSql(dataDir, q) {
  if (PGSQL) return psql(keydDb(dataDir), q);
  const r = run('sqlite3', [path.join(dataDir, 'keyd.sqlite'), q]);
  if (r.status !== 0) throw new Error(`sqlite3 failed: ${r.stderr}`);
  return r.stdout.toString().trim();
}

const STORE_VERBS = new Set(['org', 'recipient', 'key', 'retract', 'unretract', 'expire', 'audit', 'mailq']);

// The signing key of each organisation token orgAdd() made: token -> PEM file.
const orgKeys = new Map();

// The key file orgAdd() wrote for the organisation of token (undefined for
// a token it did not make).
export function orgKey(token) {
  return orgKeys.get(token);
}

// Where the verb starts in a `sealpost` command line (after the global
// options).
function verbIndex(args) {
  let j = 0;
  while (j < args.length && args[j].startsWith('-')) {
    if (args[j] === '-h' || args[j] === '--help') break;
    j += 2;
  }
  return j;
}

// `seal` calls with an organisation token that orgAdd() made get that
// organisation's --sign-key (format 2), unless they name one themselves or
// carry the marker --unsigned-test (removed here), which seals format 1.
function withSignKey(args) {
  const v = verbIndex(args);
  if (args[v] !== 'seal') return args;
  const rest = args.slice(v + 1);
  if (rest.includes('--unsigned-test')) {
    return [...args.slice(0, v + 1), ...rest.filter((a) => a !== '--unsigned-test')];
  }
  if (rest.includes('--sign-key')) return args;
  let token = null;
  const t = rest.indexOf('--token');
  if (t >= 0) token = rest[t + 1];
  const tf = rest.indexOf('--token-file');
  if (tf >= 0 && fs.existsSync(rest[tf + 1])) {
    token = fs.readFileSync(rest[tf + 1], 'utf8').split(/\r?\n/)[0];
  }
  const key = token !== null ? orgKeys.get(token) : undefined;
  return key ? [...args, '--sign-key', key] : args;
}

// `sealpost ARGS`: a command line that names a key server's data directory
// (`--data-dir DIR` before a verb that opens its store) also gets that key
// server's `--db URL` under PostgreSQL; `seal` gets the signing key of its
// token (withSignKey).
export function sealpost(args, opts) {
  args = withSignKey(args);
  if (PGSQL) {
    // the global options before the verb
    let dir = null, j = 0;
    for (; j < args.length && args[j].startsWith('-'); j += 2) {
      if (args[j] === '--db') break;
      if (args[j] === '--data-dir') dir = args[j + 1];
      if (args[j] === '-h' || args[j] === '--help') break;
    }
    if (dir !== null && args[j] !== '--db' && STORE_VERBS.has(args[j])) {
      args = [...keydDbArgs(dir), ...args];
    }
  }
  return run(path.join(BIN, 'sealpost'), args, opts);
}

// run() without blocking the event loop, for tests that serve HTTP from
// this process while the program runs.  Resolves {status, stdout, stderr}.
export function runAsync(cmd, args = [], opts = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env: { ...process.env, ...(opts.env || {}) }, cwd: opts.cwd });
    const out = [], err = [];
    const t = setTimeout(() => p.kill('SIGKILL'), opts.timeout || (SANITIZED ? 600000 : 120000));
    p.stdout.on('data', (d) => out.push(d));
    p.stderr.on('data', (d) => err.push(d));
    p.on('error', (e) => { clearTimeout(t); reject(e); });
    p.on('close', (status) => {
      clearTimeout(t);
      resolve({ status, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() });
    });
    p.stdin.end(opts.input);
  });
}

// sealpost() without blocking the event loop (PostgreSQL: no store verbs).
export function sealpostAsync(args, opts) {
  return runAsync(path.join(BIN, 'sealpost'), withSignKey(args), opts);
}

async function waitHealthy(url, proc, limitMs) {
  const until = Date.now() + limitMs;
  while (Date.now() < until) {
    if (proc.exitCode !== null) throw new Error(`sealpost-keyd exited with ${proc.exitCode}`);
    try {
      const r = await fetch(url + '/healthz');
      if (r.ok) return;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('sealpost-keyd did not become healthy in time');
}

// Start a long-running program of ours.  Its stderr lines are kept in log
// (and echoed when the environment variable echoEnv is set); stop() ends it
// by its own pid, SIGTERM first, SIGKILL after 10 s.
export function spawnDaemon(cmd, args, echoEnv) {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const log = [];
  // a pipe may hand over part of a line: it waits for the rest
  let partial = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (s) => {
    const lines = (partial + s).split('\n');
    partial = lines.pop();
    log.push(...lines.filter(Boolean));
    if (process.env[echoEnv]) process.stderr.write(s);
  });
  proc.stderr.on('end', () => {
    if (partial) log.push(partial);
    partial = '';
  });
  const exited = new Promise((r) => proc.once('exit', r));
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 10000);
    await exited;
    clearTimeout(t);
  };
  return { proc, log, stop };
}

// Start the real key server on a free loopback port.  Its stderr is kept in
// log (an array of lines) for assertions and failure reports.
export async function startKeyd({ dataDir, args = [], port } = {}) {
  dataDir = dataDir || tmpDir('sealpost-keyd-');
  port = port || (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const { proc, log, stop } = spawnDaemon(path.join(BIN, 'sealpost-keyd'),
    ['--data-dir', dataDir, ...(args.includes('--db') ? [] : keydDbArgs(dataDir)),
      '--listen', `127.0.0.1:${port}`, '--public-url', url,
      ...(args.includes('--user') ? [] : ['--allow-root']), ...args], 'KEYD_LOG');
  try {
    await waitHealthy(url, proc, SANITIZED ? 60000 : 15000);
  } catch (e) {
    await stop();
    throw new Error(`${e.message}\n${log.join('\n')}`);
  }
  // the key holder's pid, as keyd logs it when it starts it
  const kh = log.map((l) => /\bkeyd keyholder-start pid=(\d+)/.exec(l)).find(Boolean);
  return { url, port, dataDir, db: keydDb(dataDir), outbox: path.join(dataDir, 'outbox'), pid: proc.pid,
    keyholderPid: kh ? Number(kh[1]) : 0, proc, log, stop };
}

// Add an organisation to the store of dataDir; returns its token.  Its
// signing key goes to a file of its own (orgKey(token)), which sealpost()
// passes to `seal` calls with that token.
export function orgAdd(dataDir, name, domain) {
  const keyFile = path.join(tmpDir('sealpost-key-'), 'sign.pem');
  const r = sealpost(['--data-dir', dataDir, 'org', 'add', name, '--domain', domain, '--key-out', keyFile]);
  if (r.status !== 0) throw new Error(`org add failed: ${r.stderr}`);
  const token = r.stdout.toString().trim();
  orgKeys.set(token, keyFile);
  return token;
}

export function recipientAdd(dataDir, email, password) {
  const dir = tmpDir('sealpost-pw-');
  const f = path.join(dir, 'pw');
  fs.writeFileSync(f, password + '\n', { mode: 0o600 });
  const r = sealpost(['--data-dir', dataDir, 'recipient', 'add', email, '--password-file', f]);
  if (r.status !== 0) throw new Error(`recipient add failed: ${r.stderr}`);
  return f;
}

export function passwordFile(password) {
  const f = path.join(tmpDir('sealpost-pw-'), 'pw');
  fs.writeFileSync(f, password + '\n', { mode: 0o600 });
  return f;
}

export function readOutbox(outbox) {
  if (!fs.existsSync(outbox)) return [];
  return fs.readdirSync(outbox)
    .filter((f) => f.endsWith('.eml'))
    .map((f) => {
      const file = path.join(outbox, f);
      return { file, mtime: fs.statSync(file).mtimeMs, text: fs.readFileSync(file, 'utf8') };
    })
    .sort((a, b) => a.mtime - b.mtime || a.file.localeCompare(b.file));
}

// Undo quoted-printable soft breaks and =XX escapes (enough to find a link).
function unqp(s) {
  return s.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
}

// Sleep without returning to the event loop (the helpers below are
// synchronous; the key server sends account mail from its own thread, so
// a mail appears a moment after the answer that caused it).
export function sleepSync(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

// The mails to `email` (newest last), decoded enough to read links.
export function mailsTo(outbox, email) {
  const re = new RegExp(`^To:.*${email.replace(/[.+]/g, '\\$&')}`, 'mi');
  return readOutbox(outbox).filter((m) => re.test(m.text)).map((m) => {
    // decode quoted-printable only where the mail says it is (an 8-bit
    // body may hold "=4F" as text, e.g. "?t=4F..." in a link)
    const qp = /^Content-Transfer-Encoding:\s*quoted-printable/mi.test(m.text);
    return { ...m, body: qp ? unqp(m.text) : m.text };
  });
}

// The newest link to PATH?t=... mailed to email; waits up to 5 s for it
// (skip: how many such links of older mails to ignore, e.g. the count seen
// before the request).
export function mailedLink(outbox, email, pathName, { skip = 0, waitMs = 5000 } = {}) {
  const re = new RegExp(`https?:\\/\\/[^\\s"<>]+\\/${pathName}\\?t=[A-Za-z0-9_-]+`, 'g');
  const until = Date.now() + waitMs;
  for (;;) {
    const links = mailsTo(outbox, email).flatMap((m) => m.body.match(re) || []);
    if (links.length > skip) return links[links.length - 1];
    if (Date.now() > until) {
      throw new Error(`no ${pathName} link for ${email} in ${outbox} (${links.length} links, skip ${skip})`);
    }
    sleepSync(50);
  }
}

export function countLinks(outbox, email, pathName) {
  const re = new RegExp(`https?:\\/\\/[^\\s"<>]+\\/${pathName}\\?t=[A-Za-z0-9_-]+`, 'g');
  return mailsTo(outbox, email).flatMap((m) => m.body.match(re) || []).length;
}

export function activationLink(outbox, email, opts) {
  return mailedLink(outbox, email, 'activate', opts);
}

function b64lines(buf, eol) {
  const s = buf.toString('base64');
  const out = [];
  for (let i = 0; i < s.length; i += 76) out.push(s.slice(i, i + 76));
  return out.join(eol) + eol;
}

function encWord(s) {
  return /^[\x20-\x7e]*$/.test(s) ? s : `=?UTF-8?B?${Buffer.from(s).toString('base64')}?=`;
}

// Build a MIME message for tests.  Attachments: {name, type, data, cid, inline}.
export function makeMail({ from = 'Dr Alice <alice@clinic.example>', to = 'pat@example.org', cc,
  subject = 'Your results', text = 'Hello,\nyour results are attached.\n', html, attachments = [],
  eol = '\r\n', date = 'Mon, 23 Nov 2026 10:00:00 +0000', messageId = '<test-1@clinic.example>' } = {}) {
  const L = [];
  L.push(`From: ${from}`, `To: ${to}`);
  if (cc) L.push(`Cc: ${cc}`);
  L.push(`Subject: ${encWord(subject)}`, `Date: ${date}`, `Message-ID: ${messageId}`, 'MIME-Version: 1.0');
  const textPart = [`Content-Type: text/plain; charset=utf-8`, 'Content-Transfer-Encoding: 8bit', '', text.replace(/\n/g, eol)].join(eol);
  let body = textPart;
  if (html) {
    const b = 'alt-boundary-1';
    body = [`Content-Type: multipart/alternative; boundary="${b}"`, '', `--${b}`, textPart, `--${b}`,
      'Content-Type: text/html; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '', html.replace(/\n/g, eol),
      `--${b}--`, ''].join(eol);
  }
  if (attachments.length === 0) {
    return Buffer.from(L.join(eol) + eol + body + (body.endsWith(eol) ? '' : eol));
  }
  const b = 'mixed-boundary-1';
  const parts = [L.join(eol), `Content-Type: multipart/mixed; boundary="${b}"`, '', 'This is a MIME message.', `--${b}`, body];
  for (const a of attachments) {
    const name = a.name;
    const ascii = /^[\x20-\x7e]*$/.test(name);
    const disp = ascii ? `filename="${name}"` : `filename*=UTF-8''${encodeURIComponent(name)}`;
    parts.push(`--${b}`,
      `Content-Type: ${a.type || 'application/octet-stream'}; name="${encWord(name)}"`,
      'Content-Transfer-Encoding: base64',
      `Content-Disposition: ${a.inline ? 'inline' : 'attachment'}; ${disp}`,
      ...(a.cid ? [`Content-ID: <${a.cid}>`] : []),
      '', b64lines(a.data, eol).slice(0, -eol.length));
  }
  parts.push(`--${b}--`, '');
  return Buffer.from(parts.join(eol));
}
