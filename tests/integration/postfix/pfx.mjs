// pfx.mjs - a real Postfix for the milter tests: its own config_directory,
// queue and data directories on loopback ports, relaying to smtp-sink which
// writes every delivered message to a file; plus a small SMTP client and a
// runner for sealpost-milter.  Everything is stopped by its own pid or with
// `postfix -c DIR stop`, and every wait is bounded.
//
// Layout (the one docs/postfix.md recommends for submission):
//   client -> smtpd 127.0.0.1:PORT (no milter) -> queue
//          -> smtp to 127.0.0.1:PORT2 -> smtpd with smtpd_milters -> queue
//          -> relayhost [127.0.0.1]:SINKPORT (smtp-sink)
// A milter tempfail on the second smtpd leaves the mail deferred in the
// queue of the first (visible in `postqueue -p`), retried by `postqueue -f`.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { BIN, SANITIZED, freePort, spawnDaemon, tmpDir } from '../../lib/harness.mjs';

export const POSTFIX_SBIN = '/usr/sbin';

export function havePostfix() {
  return fs.existsSync(path.join(POSTFIX_SBIN, 'postfix')) && fs.existsSync(path.join(POSTFIX_SBIN, 'smtp-sink'))
    && process.getuid && process.getuid() === 0;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitPort(port, limitMs, proc) {
  const until = Date.now() + limitMs;
  while (Date.now() < until) {
    if (proc && proc.exitCode !== null) throw new Error(`process exited with ${proc.exitCode}`);
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${limitMs} ms`);
}

// Directories Postfix daemons (user postfix) must reach: open the path up.
function openDir(d) {
  fs.mkdirSync(d, { recursive: true });
  fs.chmodSync(d, 0o755);
}

// Stopped before the harness removes the temporary directories (which
// would leave `postfix -c DIR stop` without its configuration).
const stops = new Set();
process.prependListener('exit', () => { for (const s of stops) s(); });

function psync(dir, args) {
  return spawnSync(path.join(POSTFIX_SBIN, 'postfix'), ['-c', dir, ...args], { timeout: 60000 });
}

// Start smtp-sink and Postfix.  milterPort: where sealpost-milter listens
// (null: no milter at all).  Returns functions to drive it; stop() is safe to call twice.
export async function startPostfix({ milterPort = null, extraMain = [] } = {}) {
  const base = tmpDir('sealpost-pfx-');
  openDir(base);
  const conf = path.join(base, 'conf');
  const sinkDir = path.join(base, 'sink');
  for (const d of [conf, path.join(base, 'queue'), sinkDir]) openDir(d);
  fs.mkdirSync(path.join(base, 'data'));
  spawnSync('chown', ['postfix', path.join(base, 'data'), sinkDir]);
  const [port, port2, sinkPort] = [await freePort(), await freePort(), await freePort()];
  // the same path without the milter, in the same Postfix (for baselines)
  const [plainPort, plainPort2] = [await freePort(), await freePort()];
  const main = [
    'compatibility_level = 3.6',
    `queue_directory = ${base}/queue`,
    `data_directory = ${base}/data`,
    'command_directory = /usr/sbin',
    'daemon_directory = /usr/lib/postfix/sbin',
    'shlib_directory = /usr/lib/postfix',
    'mail_owner = postfix',
    'setgid_group = postdrop',
    'inet_interfaces = 127.0.0.1',
    'inet_protocols = ipv4',
    'myhostname = mx.clinic.example',
    'mydestination =',
    'relay_domains =',
    'mynetworks = 127.0.0.0/8',
    `relayhost = [127.0.0.1]:${sinkPort}`,
    'smtpd_recipient_restrictions = permit_mynetworks, reject',
    'smtp_dns_support_level = disabled',
    `maillog_file = ${base}/maillog`,
    `maillog_file_prefixes = ${base}`,
    'message_size_limit = 104857600',
    'milter_default_action = tempfail',
    'milter_protocol = 6',
    'milter_connect_timeout = 10s',
    'milter_command_timeout = 60s',
    'milter_content_timeout = 300s',
    // deferred mail is retried only when the test flushes the queue
    'minimal_backoff_time = 300s',
    'maximal_backoff_time = 600s',
    'queue_run_delay = 300s',
    'smtp_connection_cache_on_demand = no',
    ...extraMain,
  ];
  fs.writeFileSync(path.join(conf, 'main.cf'), main.join('\n') + '\n');
  const milter = milterPort
    ? `  -o smtpd_milters=inet:127.0.0.1:${milterPort}\n`
    : '  -o smtpd_milters=\n';
  const master = [
    `127.0.0.1:${port} inet n - n - - smtpd`,
    `  -o content_filter=smtp:[127.0.0.1]:${port2}`,
    `127.0.0.1:${port2} inet n - n - - smtpd`,
    '  -o content_filter=',
    milter +
    '  -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_address_mappings',
    `127.0.0.1:${plainPort} inet n - n - - smtpd`,
    `  -o content_filter=smtp:[127.0.0.1]:${plainPort2}`,
    `127.0.0.1:${plainPort2} inet n - n - - smtpd`,
    '  -o content_filter=',
    '  -o smtpd_milters=',
    '  -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_address_mappings',
    'pickup unix n - n 60 1 pickup',
    'cleanup unix n - n - 0 cleanup',
    'qmgr unix n - n 300 1 qmgr',
    'rewrite unix - - n - - trivial-rewrite',
    'bounce unix - - n - 0 bounce',
    'defer unix - - n - 0 bounce',
    'trace unix - - n - 0 bounce',
    'verify unix - - n - 1 verify',
    'flush unix n - n 1000? 0 flush',
    'proxymap unix - - n - - proxymap',
    'smtp unix - - n - - smtp',
    'relay unix - - n - - smtp',
    'showq unix n - n - - showq',
    'error unix - - n - - error',
    'retry unix - - n - - error',
    'discard unix - - n - - discard',
    'anvil unix - - n - 1 anvil',
    'scache unix - - n - 1 scache',
    'postlog unix-dgram n - n - 1 postlogd',
  ];
  fs.writeFileSync(path.join(conf, 'master.cf'), master.join('\n') + '\n');

  const sink = spawn(path.join(POSTFIX_SBIN, 'smtp-sink'),
    ['-u', 'postfix', '-d', `${sinkDir}/m.`, `127.0.0.1:${sinkPort}`, '50'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  let sinkErr = '';
  sink.stderr.on('data', (s) => { sinkErr += s; });
  const sent = logCounter(path.join(base, 'maillog'),
    new RegExp(`relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${sinkPort},.*status=sent`, 'g'));
  let stopped = false;
  let masterPid = 0;
  const stopSync = () => {
    if (stopped) return;
    stopped = true;
    const r = psync(conf, ['stop']);
    if (r.status !== 0 && masterPid > 0) {
      try { process.kill(masterPid, 'SIGTERM'); } catch { /* already gone */ }
    }
    if (sink.exitCode === null) sink.kill('SIGTERM');
    stops.delete(stopSync);
  };
  stops.add(stopSync);
  try {
    await waitPort(sinkPort, 10000, sink);
    const r = psync(conf, ['start']);
    if (r.status !== 0) throw new Error(`postfix start failed: ${r.stderr}${r.stdout}\n${readLog(base)}`);
    await waitPort(port, 20000);
    try {
      masterPid = Number(fs.readFileSync(path.join(base, 'queue/pid/master.pid'), 'utf8').trim()) || 0;
    } catch { /* stop falls back to postfix stop only */ }
    await waitPort(port2, 20000);
    await waitPort(plainPort, 20000);
  } catch (e) {
    stopSync();
    throw new Error(`${e.message}\n${sinkErr}`);
  }

  const h = {
    base, conf, port, port2, plainPort, sinkPort, sinkDir,
    log: () => readLog(base),
    // Messages smtp-sink wrote, oldest first: {file, raw (as delivered, LF)}.
    delivered: () => fs.readdirSync(sinkDir).filter((f) => f.startsWith('m.'))
      .map((f) => path.join(sinkDir, f))
      .map((file) => ({ file, mtime: fs.statSync(file).mtimeMs, raw: sinkMessage(fs.readFileSync(file)) }))
      .sort((a, b) => a.mtime - b.mtime || a.file.localeCompare(b.file)),
    // Wait until n messages were accepted by smtp-sink (Postfix logged
    // status=sent for the sink's port: the file is complete by then).
    // read incrementally: the benchmark asks every 50 ms, and reading the
    // whole growing log each time would take CPU from Postfix
    sentCount: () => sent.count(),
    async waitDelivered(n, limitMs = 30000) {
      const until = Date.now() + limitMs;
      while (Date.now() < until) {
        if (h.sentCount() >= n) return h.delivered();
        await sleep(100);
      }
      throw new Error(`expected ${n} delivered messages, have ${h.sentCount()}\n${h.log()}`);
    },
    queue() {
      const r = spawnSync(path.join(POSTFIX_SBIN, 'postqueue'), ['-c', conf, '-p'], { timeout: 30000 });
      return r.stdout.toString();
    },
    flush() {
      const r = spawnSync(path.join(POSTFIX_SBIN, 'postqueue'), ['-c', conf, '-f'], { timeout: 30000 });
      if (r.status !== 0) throw new Error(`postqueue -f failed: ${r.stderr}`);
    },
    async waitLog(re, limitMs = 30000) {
      const until = Date.now() + limitMs;
      while (Date.now() < until) {
        if (re.test(h.log())) return;
        await sleep(100);
      }
      throw new Error(`log never matched ${re}\n${h.log()}`);
    },
    stop: async () => { stopSync(); },
  };
  return h;
}

// Lines of the log file that match re (global), counted as the file grows:
// {count()} reads only what was appended since the last call.
function logCounter(file, re) {
  let off = 0, tail = '', n = 0;
  return {
    count() {
      let fd;
      try {
        fd = fs.openSync(file, 'r');
      } catch {
        return n;
      }
      try {
        const size = fs.fstatSync(fd).size;
        if (size > off) {
          const b = Buffer.alloc(size - off);
          const got = fs.readSync(fd, b, 0, b.length, off);
          off += got;
          const text = tail + b.toString('latin1', 0, got);
          const cut = text.lastIndexOf('\n') + 1;
          tail = text.slice(cut);
          n += (text.slice(0, cut).match(re) || []).length;
        }
      } finally {
        fs.closeSync(fd);
      }
      return n;
    },
  };
}

function readLog(base) {
  try { return fs.readFileSync(path.join(base, 'maillog'), 'utf8'); } catch { return ''; }
}

// smtp-sink's dump: its own header lines up to and including its three-line
// Received field, then the message as received (lines end in LF), then an
// empty line.
export function sinkMessage(buf) {
  const s = buf.toString('latin1');
  const i = s.indexOf('Received: from ');
  if (i < 0) return null;
  // skip the three lines of smtp-sink's Received field
  let p = i;
  for (let k = 0; k < 3; k++) p = s.indexOf('\n', p) + 1;
  let msg = s.slice(p);
  if (msg.endsWith('\n\n')) msg = msg.slice(0, -1);
  return Buffer.from(msg, 'latin1');
}

// Drop the leading trace fields (Received and their continuation lines).
export function stripTrace(buf) {
  const s = buf.toString('latin1');
  const lines = s.split('\n');
  let i = 0;
  while (i < lines.length && /^Received:/i.test(lines[i])) {
    i++;
    while (i < lines.length && /^[ \t]/.test(lines[i])) i++;
  }
  return Buffer.from(lines.slice(i).join('\n'), 'latin1');
}

export const toLF = (b) => Buffer.from(b.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');

// A small SMTP client: sends one message; resolves to the final reply
// {code, text} of DATA (or of the first command that failed).
export function smtpSend(port, from, rcpts, data, { timeoutMs = SANITIZED ? 600000 : 120000 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = '';
    let step = 0;
    const cmds = [`EHLO client.example`, `MAIL FROM:<${from}>`, ...rcpts.map((r) => `RCPT TO:<${r}>`), 'DATA'];
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('SMTP timeout')); }, timeoutMs);
    const done = (v) => { clearTimeout(timer); sock.end('QUIT\r\n'); resolve(v); };
    sock.on('error', (e) => { clearTimeout(timer); reject(e); });
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      for (;;) {
        // a complete reply: lines "NNN-..." then "NNN ..."
        const m = buf.match(/^((?:\d{3}-[^\n]*\n)*)(\d{3}) ([^\n]*)\n/);
        if (!m) return;
        buf = buf.slice(m[0].length);
        const code = Number(m[2]);
        const text = (m[1] + m[2] + ' ' + m[3]).trim();
        if (step === 0) { // greeting
          if (code !== 220) return done({ code, text });
          sock.write(cmds[0] + '\r\n'); step = 1; continue;
        }
        if (step < cmds.length) {
          const expect = cmds[step - 1] === 'DATA' ? 354 : 250;
          if (code !== expect) return done({ code, text });
          sock.write(cmds[step] + '\r\n'); step++; continue;
        }
        if (step === cmds.length) { // reply to DATA
          if (code !== 354) return done({ code, text });
          let body = data.toString('latin1');
          if (!body.endsWith('\r\n')) body += '\r\n';
          body = body.replace(/^\./gm, '..');
          sock.write(Buffer.from(body + '.\r\n', 'latin1'));
          step++; continue;
        }
        return done({ code, text });
      }
    });
  });
}

// Run sealpost-milter with a config made of lines; resolves when it listens.
export async function startMilter(lines, { dir } = {}) {
  dir = dir || tmpDir('sealpost-milter-');
  const port = await freePort();
  const cfg = path.join(dir, 'milter.conf');
  fs.writeFileSync(cfg, [`socket = inet:${port}@127.0.0.1`, 'user = nobody', ...lines].join('\n') + '\n');
  const { proc, log, stop } = spawnDaemon(path.join(BIN, 'sealpost-milter'), ['-c', cfg], 'MILTER_LOG');
  const kill = () => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL'); };
  process.on('exit', kill);
  try {
    await waitPort(port, SANITIZED ? 60000 : 15000, proc);
  } catch (e) {
    await stop();
    throw new Error(`${e.message}\n${log.join('\n')}`);
  }
  return { port, cfg, pid: proc.pid, proc, log, stop };
}

// Wait until the milter logged a line matching re (bounded), looking only
// at lines from index `from` on; returns the line.
export async function waitMilterLog(m, re, { limitMs = 30000, from = 0 } = {}) {
  const until = Date.now() + limitMs;
  while (Date.now() < until) {
    const l = m.log.slice(from).find((x) => re.test(x));
    if (l) return l;
    await sleep(50);
  }
  throw new Error(`milter never logged ${re}\n${m.log.join('\n')}`);
}
