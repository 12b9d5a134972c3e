// admin.test.mjs - the administrator's commands of `sealpost` on a real
// store (SQLite in the data directory, or PostgreSQL with
// SEALPOST_TEST_DB=pgsql) and a running sealpost-keyd: organisations with
// their signing keys, domains (public and taken ones refused), tokens
// (a revoked one gets 401), keys, settings; retract/unretract and expire
// on envelopes deposited through the API; audit export, verify (edited,
// deleted and swapped records found with sqlite3) and anchors (a deleted
// last record found).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startKeyd, keydDbArgs, storeSql, run, tmpDir, BIN, PGSQL } from '../lib/harness.mjs';

let keyd, dir, keys, token;
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');

// `sealpost --data-dir DIR [--db URL] ARGS` on the key server's store.
function cli(args, opts) {
  const r = run(path.join(BIN, 'sealpost'), ['--data-dir', dir, ...keydDbArgs(dir), ...args], opts);
  return { status: r.status, out: r.stdout.toString(), err: r.stderr };
}

// `org add` with its own key file; returns { token, keyFile }.
function addOrg(name, domain, extra = []) {
  const keyFile = path.join(keys, `${name.replace(/\W/g, '_')}.pem`);
  const r = cli(['org', 'add', name, '--domain', domain, '--key-out', keyFile, ...extra]);
  assert.equal(r.status, 0, r.err);
  return { token: r.out.trim(), keyFile };
}

const api = (p, { method = 'POST', body, auth } = {}) => fetch(keyd.url + p, {
  method,
  headers: { ...(auth ? { Authorization: `Bearer ${auth}` } : {}),
    ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
  body: body === undefined ? undefined : JSON.stringify(body),
});

async function deposit(tok, extra = {}) {
  const r = await api('/api/v1/envelopes', { auth: tok, body: { from: 'doc@clinic.example',
    recipients: ['pat@example.org', 'sam@example.net'], expires: 0, format: 2, ...extra } });
  return { status: r.status, body: await r.json().catch(() => null) };
}

before(async () => {
  keyd = await startKeyd();
  dir = keyd.dataDir;
  keys = tmpDir('sealpost-keys-');
  ({ token } = addOrg('Example Clinic', 'clinic.example'));
});
after(async () => { await keyd?.stop(); });

test('org add prints only the token and writes a new key file of mode 0600', () => {
  const keyFile = path.join(keys, 'bank.pem');
  const r = cli(['org', 'add', 'Example Bank', '--domain', 'Bank.Example', '--key-out', keyFile,
    '--display', 'Example Bank plc']);
  assert.equal(r.status, 0, r.err);
  assert.match(r.out, /^spo_[A-Za-z0-9_-]{20,}\n$/);
  assert.ok(r.err.includes(keyFile));
  assert.match(r.err, /shown only this once/);
  const st = fs.statSync(keyFile);
  assert.equal(st.mode & 0o777, 0o600);
  assert.match(fs.readFileSync(keyFile, 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/);
  const show = cli(['org', 'show', 'Example Bank']);
  assert.equal(show.status, 0, show.err);
  assert.match(show.out, /^domains: bank\.example$/m);
  assert.match(show.out, /^display: Example Bank plc$/m);
  assert.match(show.out, /^  default +created \S+ +last used never +live$/m);
  assert.match(show.out, /^keys:\n  [A-Za-z0-9_-]{11}  created \S+  live$/m);
  // the list: id, name, domains, display, live tokens
  const list = cli(['org', 'list']);
  assert.equal(list.status, 0, list.err);
  assert.match(list.out, /^id\tname\tdomains\tdisplay\ttokens$/m);
  assert.match(list.out, /^\d+\tExample Bank\tbank\.example\tExample Bank plc\t1$/m);
  assert.match(list.out, /^\d+\tExample Clinic\tclinic\.example\tExample Clinic\t1$/m);
});

test('org add refuses an existing key file and leaves no organisation behind', () => {
  const keyFile = path.join(keys, 'exists.pem');
  fs.writeFileSync(keyFile, 'precious\n');
  const r = cli(['org', 'add', 'Keyless', '--domain', 'keyless.example', '--key-out', keyFile]);
  assert.notEqual(r.status, 0);
  assert.equal(r.out, '');
  assert.match(r.err, /exists/);
  assert.equal(fs.readFileSync(keyFile, 'utf8'), 'precious\n');
  assert.notEqual(cli(['org', 'show', 'Keyless']).status, 0);
  // --key-out is required
  const k = cli(['org', 'add', 'Keyless', '--domain', 'keyless.example']);
  assert.equal(k.status, 2);
  assert.match(k.err, /--key-out FILE is required/);
});

test('public mail domains, taken domains and taken names are refused', () => {
  const pub = path.join(tmpDir('sealpost-pub-'), 'public-domains');
  fs.writeFileSync(pub, '# our region\nfreemail.example\n  Other-Free.example # too\n');
  const cases = [
    [['X1', '--domain', 'gmail.com'], /public mail domain/],
    [['X2', '--domain', 'GMAIL.COM'], /public mail domain/],
    [['X3', '--domain', 'outlook.com'], /public mail domain/],
    [['X4', '--domain', 'freemail.example', '--public-domains', pub], /public mail domain/],
    [['X5', '--domain', 'other-free.example', '--public-domains', pub], /public mail domain/],
    [['X6', '--domain', 'Clinic.Example'], /held by another organisation \(Example Clinic\)/],
    [['Example Clinic', '--domain', 'new.example'], /exists already/],
    [['X7', '--domain', 'not a domain'], /not a mail domain/],
    [['X8', '--domain', 'localhost'], /not a mail domain/],
  ];
  for (const [args, re] of cases) {
    const keyFile = path.join(keys, `refused-${args[0]}.pem`);
    const r = cli(['org', 'add', ...args, '--key-out', keyFile]);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.match(r.err, re, args.join(' '));
    assert.equal(r.out, '');
    assert.ok(!fs.existsSync(keyFile), `no key file left for ${args.join(' ')}`);
  }
  // the list of the global option works too
  const g = run(path.join(BIN, 'sealpost'), ['--data-dir', dir, ...keydDbArgs(dir),
    '--public-domains', pub, 'org', 'domain', 'add', 'Example Clinic', 'FreeMail.example']);
  assert.notEqual(g.status, 0);
  assert.match(g.stderr, /public mail domain/);
  // without the file the domain is an ordinary one
  const ok = addOrg('Free Mail Co', 'freemail.example');
  assert.match(ok.token, /^spo_/);
  assert.equal(cli(['org', 'show', 'X4']).status, 1);
});

test('org domain add and remove', () => {
  let r = cli(['org', 'domain', 'add', 'Example Clinic', 'Clinic-Two.example']);
  assert.equal(r.status, 0, r.err);
  r = cli(['org', 'domain', 'add', 'Example Bank', 'clinic-two.example']);
  assert.notEqual(r.status, 0);
  assert.match(r.err, /held by another organisation \(Example Clinic\)/);
  r = cli(['org', 'domain', 'add', 'Example Clinic', 'clinic-two.example']);
  assert.notEqual(r.status, 0);
  assert.match(r.err, /already has/);
  r = cli(['org', 'domain', 'add', 'Example Clinic', 'hotmail.co.uk']);
  assert.notEqual(r.status, 0);
  assert.match(r.err, /public mail domain/);
  assert.match(cli(['org', 'show', 'Example Clinic']).out,
    /^domains: (clinic-two\.example, clinic\.example|clinic\.example, clinic-two\.example)$/m);
  r = cli(['org', 'domain', 'remove', 'Example Clinic', 'clinic-two.example']);
  assert.equal(r.status, 0, r.err);
  r = cli(['org', 'domain', 'remove', 'Example Clinic', 'clinic-two.example']);
  assert.notEqual(r.status, 0);
  assert.match(r.err, /does not have/);
  assert.match(cli(['org', 'show', 'Example Clinic']).out, /^domains: clinic\.example$/m);
  assert.equal(cli(['org', 'domain', 'add', 'Nobody', 'x.example']).status, 1);
  assert.equal(cli(['org', 'domain', 'add', 'Example Clinic']).status, 2);
});

test('tokens: create, list, revoke; a revoked token gets 401 from the key server', async () => {
  const r = cli(['org', 'token', 'create', 'Example Clinic', 'gateway-2']);
  assert.equal(r.status, 0, r.err);
  const t2 = r.out.trim();
  assert.match(t2, /^spo_[A-Za-z0-9_-]{20,}$/);
  assert.notEqual(t2, token);
  let d = await deposit(t2);
  assert.equal(d.status, 201, JSON.stringify(d.body));
  assert.match(cli(['org', 'token', 'create', 'Example Clinic', 'gateway-2']).err, /already/);
  assert.equal(cli(['org', 'token', 'create', 'Example Clinic', 'bad name']).status, 2);
  assert.equal(cli(['org', 'token', 'create', 'Example Clinic', 'x'.repeat(33)]).status, 2);
  assert.equal(cli(['org', 'token', 'create', 'Example Clinic', 'gr\u00fcn']).status, 2);
  let list = cli(['org', 'token', 'list', 'Example Clinic']);
  assert.equal(list.status, 0, list.err);
  assert.match(list.out, /^default\t\S+\t\S+\tlive$/m);
  assert.match(list.out, /^gateway-2\t\S+\t20\d\d-\S+Z\tlive$/m);	// used by the deposit
  const rv = cli(['org', 'token', 'revoke', 'Example Clinic', 'gateway-2']);
  assert.equal(rv.status, 0, rv.err);
  list = cli(['org', 'token', 'list', 'Example Clinic']);
  assert.match(list.out, /^gateway-2\t\S+\t\S+\t20\d\d-\S+Z$/m);
  d = await deposit(t2);
  assert.equal(d.status, 401);
  d = await deposit(token);
  assert.equal(d.status, 201, JSON.stringify(d.body));
  assert.notEqual(cli(['org', 'token', 'revoke', 'Example Clinic', 'gateway-2']).status, 0);
  assert.match(cli(['org', 'token', 'list', 'Example Clinic']).out, /^default\t/m);
});

test('signing keys: rotate, list, retire', () => {
  const before = cli(['org', 'key', 'list', 'Example Clinic']);
  assert.equal(before.status, 0, before.err);
  const oldKid = /^([A-Za-z0-9_-]{11})\t\S+\tlive$/m.exec(before.out)[1];
  const keyFile = path.join(keys, 'clinic-2.pem');
  const r = cli(['org', 'key', 'rotate', 'Example Clinic', '--key-out', keyFile]);
  assert.equal(r.status, 0, r.err);
  const kid = r.out.trim();
  assert.match(kid, /^[A-Za-z0-9_-]{11}$/);
  assert.notEqual(kid, oldKid);
  assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
  // an existing file is refused and kept
  const again = cli(['org', 'key', 'rotate', 'Example Clinic', '--key-out', keyFile]);
  assert.notEqual(again.status, 0);
  assert.match(again.err, /exists/);
  let list = cli(['org', 'key', 'list', 'Example Clinic']).out;
  assert.match(list, new RegExp(`^${oldKid}\\t\\S+\\tlive$`, 'm'));
  assert.match(list, new RegExp(`^${kid}\\t\\S+\\tlive$`, 'm'));
  assert.equal(list.trim().split('\n').length, 3);
  const ret = cli(['org', 'key', 'retire', 'Example Clinic', oldKid]);
  assert.equal(ret.status, 0, ret.err);
  list = cli(['org', 'key', 'list', 'Example Clinic']).out;
  assert.match(list, new RegExp(`^${oldKid}\\t\\S+\\t20\\d\\d-\\S+Z$`, 'm'));
  assert.match(list, new RegExp(`^${kid}\\t\\S+\\tlive$`, 'm'));
  assert.notEqual(cli(['org', 'key', 'retire', 'Example Clinic', oldKid]).status, 0);
  assert.equal(cli(['org', 'key', 'retire', 'Example Clinic', 'short']).status, 2);
  // a key id may begin with '-' (base64url, one in 64): taken as the id,
  // also after --, never as an option
  for (const args of [['-AAAAAAAAAA'], ['--', '-AAAAAAAAAA']]) {
    const dash = cli(['org', 'key', 'retire', 'Example Clinic', ...args]);
    assert.equal(dash.status, 1, dash.err);
    assert.match(dash.err, /has no live key -AAAAAAAAAA/);
  }
  assert.equal(cli(['org', 'key', 'retire', 'Example Clinic', '-x']).status, 2);
  assert.equal(cli(['org', 'key', 'rotate', 'Example Clinic']).status, 2);
  // another organisation's key is not this one's to retire
  const bankKid = /^([A-Za-z0-9_-]{11})\t/m.exec(cli(['org', 'key', 'list', 'Example Bank']).out)[1];
  assert.notEqual(cli(['org', 'key', 'retire', 'Example Clinic', bankKid]).status, 0);
});

test('org set: values persist and bad values are refused', () => {
  const d = tmpDir('sealpost-logo-');
  const logo = path.join(d, 'logo.png');
  fs.writeFileSync(logo, PNG);
  const r = cli(['org', 'set', 'Example Bank', '--display', 'Bank of Examples', '--colour', '#1A2B3C',
    '--logo', logo, '--contact', 'Security@Bank.Example', '--expire-days', '30',
    '--notify-read', 'on', '--replies', 'off', '--forward', 'off', '--verify', 'on',
    '--level', 'high', '--language', 'es']);
  assert.equal(r.status, 0, r.err);
  const show = () => cli(['org', 'show', 'Example Bank']).out;
  let s = show();
  assert.match(s, /^display: Bank of Examples$/m);
  assert.match(s, /^colour: #1a2b3c$/m);
  assert.match(s, new RegExp(`^logo: PNG, ${PNG.length} bytes$`, 'm'));
  assert.match(s, /^contact: Security@bank\.example$/m);
  assert.match(s, /^expire-days: 30$/m);
  assert.match(s, /^notify-read: on$/m);
  assert.match(s, /^replies: off$/m);
  assert.match(s, /^forward: off$/m);
  assert.match(s, /^verify: on$/m);
  assert.match(s, /^level: high$/m);
  assert.match(s, /^language: es$/m);

  const notPng = path.join(d, 'logo.gif');
  fs.writeFileSync(notPng, Buffer.concat([Buffer.from('GIF89a'), Buffer.alloc(100)]));
  const big = path.join(d, 'big.png');
  fs.writeFileSync(big, Buffer.concat([PNG.subarray(0, 33), Buffer.alloc(65536)]));
  const bad = [
    ['--colour', 'red'], ['--colour', '#12345g'], ['--colour', '#1234567'],
    ['--logo', notPng], ['--logo', big], ['--logo', path.join(d, 'missing.png')],
    ['--contact', 'not an address'], ['--contact', 'a@b@c.example'],
    ['--expire-days', '3651'], ['--expire-days', '-1'], ['--expire-days', 'ten'],
    ['--level', 'extreme'], ['--language', 'fr'], ['--notify-read', 'yes'],
    ['--replies', '1'], ['--verify', ''], ['--display', 'a\u0007b'], ['--frobnicate', 'x'],
  ];
  for (const args of bad) {
    const b = cli(['org', 'set', 'Example Bank', ...args]);
    assert.notEqual(b.status, 0, args.join(' '));
    assert.ok(b.err.length > 0, args.join(' '));
  }
  assert.equal(cli(['org', 'set', 'Example Bank']).status, 2);
  assert.equal(show(), s, 'nothing changed by the refused values');

  // clearing and the other end of the ranges
  const c = cli(['org', 'set', 'Example Bank', '--colour', 'none', '--logo', 'none',
    '--contact', 'none', '--expire-days', '3650', '--level', 'low', '--notify-read', 'off']);
  assert.equal(c.status, 0, c.err);
  s = show();
  assert.match(s, /^colour: default$/m);
  assert.match(s, /^logo: none$/m);
  assert.match(s, /^contact: none/m);
  assert.match(s, /^expire-days: 3650$/m);
  assert.match(s, /^level: low$/m);
  assert.match(s, /^notify-read: off$/m);
  assert.match(s, /^verify: on$/m);
});

test('retract and unretract an envelope deposited through the API', async () => {
  const d = await deposit(token);
  assert.equal(d.status, 201, JSON.stringify(d.body));
  const id = d.body.id;
  const state = () => storeSql(dir, `SELECT retracted FROM envelopes WHERE id = '${id}'`);
  const rstate = (addr) => storeSql(dir,
    `SELECT retracted FROM envelope_rcpt WHERE envelope_id = '${id}' AND email = '${addr}'`);
  assert.equal(state(), '0');
  let r = cli(['retract', id]);
  assert.equal(r.status, 0, r.err);
  assert.equal(r.out, `retracted ${id}\n`);
  assert.equal(state(), '1');
  r = cli(['unretract', id]);
  assert.equal(r.status, 0, r.err);
  assert.equal(state(), '0');
  r = cli(['retract', id, '--recipient', 'Sam@Example.NET']);
  assert.equal(r.status, 0, r.err);
  assert.equal(r.out, `retracted ${id} for sam@example.net\n`);
  assert.equal(state(), '0');
  assert.equal(rstate('sam@example.net'), '1');
  assert.equal(rstate('pat@example.org'), '0');
  r = cli(['unretract', id, '--recipient', 'sam@example.net']);
  assert.equal(r.status, 0, r.err);
  assert.equal(rstate('sam@example.net'), '0');

  r = cli(['retract', 'AAAAAAAAAAAAAAAAAAAAAA']);
  assert.equal(r.status, 1);
  assert.match(r.err, /no envelope AAAAAAAAAAAAAAAAAAAAAA/);
  r = cli(['retract', id, '--recipient', 'eve@example.com']);
  assert.equal(r.status, 1);
  assert.match(r.err, /eve@example\.com is not a recipient/);
  assert.equal(cli(['retract', 'not an id!']).status, 2);
  assert.equal(cli(['retract', id, '--recipient', 'nobody']).status, 2);
  assert.equal(cli(['retract']).status, 2);

  // audited in the organisation's chain, by the administrator
  const json = JSON.parse(cli(['audit', 'export', '--org', 'Example Clinic', '--format', 'json']).out);
  const recs = json.records.filter((x) => x.envelope === id && /retract/.test(x.event));
  assert.deepEqual(recs.map((x) => x.event), ['retract', 'unretract', 'retract', 'unretract']);
  assert.ok(recs.every((x) => x.actor === 'admin'));
  assert.equal(recs[2].detail, 'recipient=sam@example.net');
  const orgId = Number(/^id: (\d+)$/m.exec(cli(['org', 'show', 'Example Clinic']).out)[1]);
  assert.ok(recs.every((x) => x.chain === orgId));
});

test('expire --run shreds an expired deposit, then removes stale counters', async () => {
  const d = await deposit(token, { expires: Math.floor(Date.now() / 1000) + 2 });
  assert.equal(d.status, 201, JSON.stringify(d.body));
  const keep = await deposit(token, { expires: Math.floor(Date.now() / 1000) + 3600 });
  assert.equal(keep.status, 201);
  await sleep(3200);
  storeSql(dir, "INSERT INTO throttle(key, failures, last_failed, locked_until) VALUES ('email:stale@admin.example', 3, 1000, 0)");
  let r = cli(['expire', '--run']);
  assert.equal(r.status, 0, r.err);
  assert.match(r.out, /^shredded 1 expired envelope\nremoved \d+ stale counters? and \d+ registrations? never activated\n$/);
  assert.equal(storeSql(dir, "SELECT count(*) FROM throttle WHERE key = 'email:stale@admin.example'"), '0');
  assert.notEqual(storeSql(dir, `SELECT shredded FROM envelopes WHERE id = '${d.body.id}'`), '0');
  assert.equal(storeSql(dir, `SELECT shredded FROM envelopes WHERE id = '${keep.body.id}'`), '0');
  r = cli(['expire', '--run']);
  assert.equal(r.out, 'shredded 0 expired envelopes\nremoved 0 stale counters and 0 registrations never activated\n');
  r = cli(['unretract', d.body.id]);
  assert.equal(r.status, 1);
  assert.match(r.err, /shredded/);
  assert.equal(cli(['expire']).status, 2);
  const j = JSON.parse(cli(['audit', 'export', '--format', 'json']).out);
  assert.ok(j.records.some((x) => x.event === 'shred' && x.envelope === d.body.id));
});

// A minimal RFC 4180 reader: rows of fields, CRLF line ends.
function parseCsv(text) {
  const rows = [];
  let row = [], f = '', q = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (q) {
      if (c === '"' && text[i + 1] === '"') { f += '"'; i++; } else if (c === '"') q = false;
      else f += c;
    } else if (c === '"') q = true;
    else if (c === ',') { row.push(f); f = ''; }
    else if (c === '\r' && text[i + 1] === '\n') { row.push(f); rows.push(row); row = []; f = ''; i++; }
    else f += c;
  }
  assert.equal(f, '');
  assert.equal(row.length, 0, 'every line ends in CRLF');
  return rows;
}

test('audit export: csv and json with the same records', () => {
  addOrg('Quote "Co", Ltd', 'quote.example');
  const csv = cli(['audit', 'export']);
  assert.equal(csv.status, 0, csv.err);
  const rows = parseCsv(csv.out);
  assert.deepEqual(rows[0], ['chain', 'seq', 'time', 'event', 'actor', 'envelope', 'client',
    'detail', 'prev', 'hash']);
  const js = cli(['audit', 'export', '--format', 'json']);
  assert.equal(js.status, 0, js.err);
  const { records } = JSON.parse(js.out);
  assert.equal(rows.length - 1, records.length);
  assert.ok(records.length > 10);
  for (let i = 0; i < records.length; i++) {
    const r = records[i], c = rows[i + 1];
    assert.equal(c.length, 10);
    assert.deepEqual(Object.keys(r), ['chain', 'seq', 'time', 'event', 'actor', 'envelope',
      'client', 'detail', 'prev', 'hash']);
    assert.equal(String(r.chain), c[0]);
    assert.equal(String(r.seq), c[1]);
    assert.equal(r.time, c[2]);
    assert.match(r.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(r.event, c[3]);
    assert.equal(r.detail ?? '', c[7]);
    assert.match(r.hash, /^[0-9a-f]{64}$/);
    assert.equal(r.hash, c[9]);
  }
  // a detail with a comma and quotes is quoted, quotes doubled
  const q = records.find((r) => r.event === 'org-add' && (r.detail ?? '').includes('Quote "Co", Ltd'));
  assert.ok(q);
  assert.ok(csv.out.includes('Quote ""Co"", Ltd'));
  // one organisation's chain, and --since
  const bankId = Number(/^id: (\d+)$/m.exec(cli(['org', 'show', 'Example Bank']).out)[1]);
  const bank = JSON.parse(cli(['audit', 'export', '--org', 'Example Bank', '--format', 'json']).out);
  assert.ok(bank.records.length >= 3);
  assert.ok(bank.records.every((r) => r.chain === bankId));
  assert.deepEqual(bank.records.map((r) => r.seq), bank.records.map((_, i) => i + 1));
  const future = cli(['audit', 'export', '--since', '2999-01-01', '--format', 'json']);
  assert.equal(future.status, 0, future.err);
  assert.deepEqual(JSON.parse(future.out), { records: [] });
  const since = cli(['audit', 'export', '--since', String(Math.floor(Date.now() / 1000) - 3600)]);
  assert.equal(parseCsv(since.out).length, rows.length);
  for (const bad of [['--since', '2026-02-31'], ['--since', 'yesterday'], ['--format', 'xml'], ['--bogus']])
    assert.equal(cli(['audit', 'export', ...bad]).status, 2, bad.join(' '));
  assert.equal(cli(['audit', 'export', '--org', 'Nobody']).status, 1);
});

// A consistent copy of the SQLite store in a directory of its own.
function storeCopy() {
  const d = tmpDir('sealpost-copy-');
  const r = run('sqlite3', [path.join(dir, 'keyd.sqlite'), `.backup '${path.join(d, 'keyd.sqlite')}'`]);
  assert.equal(r.status, 0, r.stderr);
  return d;
}
function sql(d, q) {
  const r = run('sqlite3', [path.join(d, 'keyd.sqlite'), q]);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.toString().trim();
}
function verifyIn(d, extra = []) {
  const r = run(path.join(BIN, 'sealpost'), ['--data-dir', d, 'audit', 'verify', ...extra]);
  return { status: r.status, out: r.stdout.toString(), err: r.stderr };
}

test('audit verify passes on the live store', () => {
  const r = cli(['audit', 'verify']);
  assert.equal(r.status, 0, r.err);
  const m = /^audit trail intact: (\d+) records in (\d+) chains$/m.exec(r.out);
  assert.ok(m, r.out);
  const n = JSON.parse(cli(['audit', 'export', '--format', 'json']).out).records.length;
  assert.equal(Number(m[1]), n);
  assert.ok(Number(m[2]) >= 3);	// the global chain and two organisations at least
});

test('audit verify names an edited, a deleted and a moved record', { skip: PGSQL && 'SQLite only' }, () => {
  const recs = JSON.parse(cli(['audit', 'export', '--org', 'Example Clinic', '--format', 'json']).out).records;
  assert.ok(recs.length >= 6);
  const chain = recs[0].chain;
  const row = (d, seq) => sql(d, `SELECT rowid FROM audit WHERE chain = ${chain} AND seq = ${seq}`);
  const unguard = (d) => {
    for (const t of sql(d, "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit'").split('\n').filter(Boolean))
      sql(d, `DROP TRIGGER "${t}"`);
  };

  // edited: one record's detail changed
  let d = storeCopy();
  unguard(d);
  sql(d, `UPDATE audit SET detail = 'nothing to see' WHERE rowid = ${row(d, 3)}`);
  let r = verifyIn(d);
  assert.equal(r.status, 1);
  assert.match(r.err, new RegExp(`audit trail BROKEN: .*chain ${chain}, seq 3\\b.*changed`));

  // deleted: the record after the gap is named
  d = storeCopy();
  unguard(d);
  sql(d, `DELETE FROM audit WHERE rowid = ${row(d, 2)}`);
  r = verifyIn(d);
  assert.equal(r.status, 1);
  assert.match(r.err, new RegExp(`BROKEN: .*chain ${chain}, seq 3\\b.*(missing|deleted)`));

  // swapped: records 4 and 5 change places in the table
  d = storeCopy();
  unguard(d);
  const a = row(d, 4), b = row(d, 5);
  sql(d, `UPDATE audit SET rowid = -1 WHERE rowid = ${a}; UPDATE audit SET rowid = ${a} WHERE rowid = ${b}; ` +
    `UPDATE audit SET rowid = ${b} WHERE rowid = -1`);
  r = verifyIn(d);
  assert.equal(r.status, 1);
  assert.match(r.err, new RegExp(`BROKEN: .*chain ${chain}, seq [45]\\b`));

  // the untouched copy passes
  r = verifyIn(storeCopy());
  assert.equal(r.status, 0, r.err);
});

let anchors;	// what the anchor test wrote: { file, text, lines }

test('audit anchor writes every chain head; verify --anchors checks them', () => {
  const file = path.join(dir, 'audit-anchors');
  const earlier = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';	// the key server's
  const r = cli(['audit', 'anchor']);
  assert.equal(r.status, 0, r.err);
  const lines = r.out.trim().split('\n');
  assert.ok(lines.length >= 3);
  for (const l of lines) assert.match(l, /^\d{10} \d+ \d+ [0-9a-f]{64}$/);
  assert.equal(fs.readFileSync(file, 'utf8'), earlier + r.out);
  anchors = { file, text: earlier + r.out, lines };
  const own = path.join(tmpDir('sealpost-anchors-'), 'anchors');
  assert.equal(cli(['audit', 'anchor', '--file', own]).status, 0);
  assert.equal(cli(['audit', 'anchor', '--file', own]).status, 0);
  assert.equal(fs.readFileSync(own, 'utf8').trim().split('\n').length, 2 * lines.length);

  let v = cli(['audit', 'verify', '--anchors', file]);
  assert.equal(v.status, 0, v.err);
  assert.match(v.out, /^anchors: all \d+ in .* match$/m);

  // the key server's log line of an anchor counts too
  const [, c0, s0, h0] = lines[0].split(' ');
  const logFile = path.join(tmpDir('sealpost-anchors-'), 'from-log');
  fs.writeFileSync(logFile, `# from the log\nkeyd anchor chain=${c0} seq=${s0} hash=${h0}\n`);
  v = cli(['audit', 'verify', '--anchors', logFile]);
  assert.equal(v.status, 0, v.err);

  // an anchor whose record now has another hash
  const other = (h0[0] === '0' ? '1' : '0') + h0.slice(1);
  const wrong = path.join(tmpDir('sealpost-anchors-'), 'wrong');
  fs.writeFileSync(wrong, `${lines[1]}\n1764550000 ${c0} ${s0} ${other}\n`);
  v = cli(['audit', 'verify', '--anchors', wrong]);
  assert.equal(v.status, 1);
  assert.match(v.err, new RegExp(`BROKEN: anchor .*wrong:2 \\(chain ${c0}, seq ${s0}\\): the record's hash differs`));

  // an anchor file with a bad line is refused, naming the line
  const badFile = path.join(tmpDir('sealpost-anchors-'), 'bad');
  fs.writeFileSync(badFile, `# anchors\n${lines[0]}\n1764550000 1 x 00\n`);
  v = cli(['audit', 'verify', '--anchors', badFile]);
  assert.equal(v.status, 1);
  assert.match(v.err, /bad:3: not an anchor line/);
});

test('a deleted last record is found only with --anchors', { skip: PGSQL && 'SQLite only' }, () => {
  assert.ok(anchors);
  const { file, text, lines } = anchors;
  // the newest record of the clinic's chain goes: the chain still links
  const clinic = Number(/^id: (\d+)$/m.exec(cli(['org', 'show', 'Example Clinic']).out)[1]);
  const head = lines.find((l) => l.split(' ')[1] === String(clinic));
  const seq = Number(head.split(' ')[2]);
  const d = storeCopy();
  for (const t of sql(d, "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit'").split('\n').filter(Boolean))
    sql(d, `DROP TRIGGER "${t}"`);
  sql(d, `DELETE FROM audit WHERE chain = ${clinic} AND seq = ${seq}`);
  let v = verifyIn(d);
  assert.equal(v.status, 0, 'a deleted tail is invisible without anchors');
  v = verifyIn(d, ['--anchors', file]);
  assert.equal(v.status, 1);
  const lineNo = text.split('\n').findIndex((l) => {
    const f = l.split(' ');
    return f[1] === String(clinic) && f[2] === String(seq);
  }) + 1;
  assert.match(v.err, new RegExp(`BROKEN: anchor .*audit-anchors:${lineNo} \\(chain ${clinic}, seq ${seq}\\): the record is missing`));
});

test('org remove asks for --yes, then revokes the tokens', async () => {
  const { token: t } = addOrg('Short Lived', 'short.example');
  let r = cli(['org', 'remove', 'Short Lived']);
  assert.equal(r.status, 2);
  assert.match(r.err, /--yes/);
  r = cli(['org', 'remove', 'Short Lived', '--yes']);
  assert.equal(r.status, 0, r.err);
  assert.ok(!/Short Lived/.test(cli(['org', 'list']).out));
  assert.match(cli(['org', 'show', 'Short Lived']).out, /^removed: 20/m);
  const d = await deposit(t, { from: 'a@short.example' });
  assert.equal(d.status, 401);
  // its domain is free again
  addOrg('Short Lived Again', 'short.example');
  assert.notEqual(cli(['org', 'set', 'Short Lived', '--level', 'low']).status, 0);
});

test('every command has --help; usage errors exit 2', () => {
  for (const v of [['org'], ['org', 'add'], ['org', 'token', 'create'], ['org', 'key', 'rotate'],
    ['org', 'set'], ['org', 'domain', 'add'], ['retract'], ['unretract'], ['expire'], ['audit'],
    ['audit', 'export'], ['audit', 'verify'], ['audit', 'anchor']]) {
    const r = cli([...v, '--help']);
    assert.equal(r.status, 0, v.join(' '));
    assert.match(r.out, /usage:/, v.join(' '));
  }
  assert.equal(cli(['org', 'frob']).status, 2);
  assert.equal(cli(['audit', 'frob']).status, 2);
  assert.equal(cli(['audit']).status, 2);
  const top = run(path.join(BIN, 'sealpost'), ['--help']).stdout.toString();
  for (const v of ['retract', 'unretract', 'expire', 'audit']) assert.match(top, new RegExp(`^  ${v} `, 'm'));
  // a store is required
  const r = run(path.join(BIN, 'sealpost'), ['audit', 'verify']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--data-dir DIR or --db URL is required/);
});
