// demo.test.mjs - `make demo` keeps working: scripts/demo.sh starts the key
// server, seals the sample (signed, format 2), prints what to open, and
// stops cleanly on Ctrl-C.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, SANITIZED, freePort, tmpDir, sealpost, passwordFile } from '../lib/harness.mjs';

test('demo runs, prints what to open, the envelope opens, Ctrl-C stops it', { skip: SANITIZED, timeout: 60000 }, async () => {
  const dir = tmpDir('sealpost-demo-');
  const port = await freePort();
  const child = spawn('bash', [path.join(ROOT, 'scripts/demo.sh')], {
    env: { ...process.env, DEMO_PORT: String(port), DEMO_DIR: dir },
    stdio: ['ignore', 'pipe', 'pipe'], detached: false,
  });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const exited = new Promise((r) => child.once('exit', (code, sig) => r({ code, sig })));
  const until = Date.now() + 30000;
  while (!out.includes('Press Ctrl-C') && Date.now() < until && child.exitCode === null) {
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    assert.match(out, /Press Ctrl-C/, out);
    const html = path.join(dir, 'sealed/securedoc.html');
    assert.match(out, new RegExp(`file://${html.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.ok(fs.existsSync(html));
    const r = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(r.status, 200);
    const o = sealpost(['open', '--keyd', `http://127.0.0.1:${port}`, '--email', 'demo@example.org',
      '--password-file', path.join(dir, 'demo-password.txt'), html]);
    assert.equal(o.status, 0, o.stderr);
    // signed with the demo organisation's key (format 2)
    assert.doesNotMatch(o.stderr, /unsigned/);
    assert.match(fs.readFileSync(html, 'latin1'), /<textarea id="sp-sig"/);
    assert.ok(fs.existsSync(path.join(dir, 'org-sign.pem')));
    assert.match(out, /open --keyd http:\/\/127\.0\.0\.1:/);
    assert.match(o.stdout.toString(), /your test results are attached/);
    assert.match(o.stdout.toString(), /results\.txt/);
  } finally {
    child.kill('SIGINT');
    const t = setTimeout(() => child.kill('SIGKILL'), 10000);
    await exited;
    clearTimeout(t);
  }
  // the key server is gone with the demo
  await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`));
});
