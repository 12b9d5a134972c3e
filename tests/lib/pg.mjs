// pg.mjs - a throwaway PostgreSQL server for the integration tests, through
// tests/lib/pg.sh: startPostgres() starts one in a temporary directory and
// returns { url, dir, stop() }; createDatabase(url, name) makes an empty
// database on that server with the psql client and returns its URI.
// hasPostgres() tells whether the server binaries are installed (Debian
// package postgresql), so a test can skip without them.  A server's
// halt() and resume() stop it and start it again on the same port and
// data (pg_ctl stop -m fast, start), without blocking the event loop, so a
// test can take the database away under running clients.
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'pg.sh');
const running = new Set();

process.on('exit', () => {
  for (const dir of running) pgsh(['destroy', dir]);
});

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
    // Stop the server (fast shutdown: clients are disconnected); the
    // directory and port stay for resume().
    async halt() {
      await pgshAsync(['stop', dir]);
    },
    // Start it again on the same port; resolves once it accepts connections.
    async resume() {
      const again = await pgshAsync(['start', dir]);
      if (again !== url) throw new Error(`pg.sh start came back as ${again}, not ${url}`);
    },
    async stop() {
      if (!running.delete(dir)) return;
      pgsh(['destroy', dir]);
    },
  };
}

// CREATE DATABASE name on the server of url; returns the new database's URI.
// The name goes to psql as a variable and is quoted there as an identifier.
export async function createDatabase(url, name) {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(name)) throw new Error(`bad database name ${name}`);
  const r = spawnSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-v', `name=${name}`, '-d', url],
    { input: 'CREATE DATABASE :"name";\n', encoding: 'utf8', timeout: 60000 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`CREATE DATABASE ${name} failed: ${r.stderr.trim()}`);
  const u = new URL(url);
  u.pathname = '/' + name;
  return u.toString();
}
