// pg.mjs - a throwaway PostgreSQL server for the integration tests, through
// tests/lib/pg.sh: startPostgres() starts one in a temporary directory and
// returns { url, dir, stop(), pause(), resume() }; createDatabase(url, name)
// makes an empty database on that server with the psql client and returns
// its URI; psql(url, sql) runs SQL and returns its unaligned output.  The
// *Sync forms do the same without a promise (for synchronous helpers).
// hasPostgres() tells whether the server binaries are installed (Debian
// package postgresql), so a test can skip without them.  A server still
// running when the process exits (or is interrupted) is stopped by its own
// pid file (pg_ctl stop) and its directory removed.  pause() and resume()
// stop a server and start it again on the same port and data (pg_ctl stop
// -m fast, start) without blocking the event loop, so a test can take the
// database away under running clients.
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'pg.sh');
const running = new Set();

function destroyAll() {
  for (const dir of running) {
    try {
      pgsh(['destroy', dir]);
    } catch (e) {
      process.stderr.write(`${e.message}\n`);
    }
  }
  running.clear();
}
process.on('exit', destroyAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    destroyAll();
    process.kill(process.pid, sig);
  });
}

// pg.sh without blocking the event loop (bounded like pgsh).
function pgshAsync(args) {
  return new Promise((resolve, reject) => {
    execFile('bash', [SCRIPT, ...args], { encoding: 'utf8', timeout: 120000 }, (e, out, err) => {
      if (e) reject(new Error(`pg.sh ${args[0]} failed: ${(err || e.message).trim()}`));
      else resolve(out.trim());
    });
  });
}

function pgsh(args) {
  const r = spawnSync('bash', [SCRIPT, ...args], { encoding: 'utf8', timeout: 120000 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`pg.sh ${args[0]} failed: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

export function hasPostgres() {
  try {
    return fs.readdirSync('/usr/lib/postgresql').some((v) =>
      fs.existsSync(path.join('/usr/lib/postgresql', v, 'bin', 'pg_ctl')));
  } catch {
    return false;
  }
}

// Start a server on 127.0.0.1 (trust authentication for user sealpost).
// stop() stops it and removes its directory (kept with KEEP_TMP=1); a server
// left running is stopped when the process exits.
export async function startPostgres() {
  return startPostgresSync();
}

export function startPostgresSync() {
  const dir = fs.mkdtempSync(path.join(process.env.TMPDIR || os.tmpdir(), 'sealpost-pg.'));
  running.add(dir);
  let url;
  try {
    url = pgsh(['start', dir]);
  } catch (e) {
    running.delete(dir);
    pgsh(['destroy', dir]);
    throw e;
  }
  return {
    url,
    dir,
    async stop() {
      if (!running.delete(dir)) return;
      pgsh(['destroy', dir]);
    },
    // Stop the server for a while (fast shutdown: clients are disconnected);
    // the directory and port stay for resume().
    async pause() {
      await pgshAsync(['stop', dir]);
    },
    // Start it again on the same port; resolves once it accepts connections.
    async resume() {
      const again = await pgshAsync(['start', dir]);
      if (again !== url) throw new Error(`pg.sh start came back as ${again}, not ${url}`);
    },
  };
}

// CREATE DATABASE name on the server of url; returns the new database's URI.
// The name goes to psql as a variable and is quoted there as an identifier.
export async function createDatabase(url, name) {
  return createDatabaseSync(url, name);
}

export function createDatabaseSync(url, name) {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(name)) throw new Error(`bad database name ${name}`);
  const r = spawnSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-v', `name=${name}`, '-d', url],
    { input: 'CREATE DATABASE :"name";\n', encoding: 'utf8', timeout: 60000 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`CREATE DATABASE ${name} failed: ${r.stderr.trim()}`);
  const u = new URL(url);
  u.pathname = '/' + name;
  return u.toString();
}

// Run SQL on url with psql; returns its output, unaligned without headers
// (one row a line, columns separated by '|'), trimmed.
export function psql(url, sql) {
  const r = spawnSync('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', url],
    { input: sql, encoding: 'utf8', timeout: 60000 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`psql failed: ${r.stderr.trim()}`);
  return r.stdout.trim();
}
