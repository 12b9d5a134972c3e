// bench.mjs - messages per second through a real Postfix with
// sealpost-milter sealing every message, divided by messages per second
// through the same Postfix without the milter: smtp-source to smtp-sink,
// both measured in this run.  Used by bench/postfix.sh.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { startKeyd, orgAdd, orgKey } from '../../lib/harness.mjs';
import { POSTFIX_SBIN, startMilter, startPostfix } from './pfx.mjs';

const N = Number(process.env.BENCH_MESSAGES || 300);
const SIZE = Number(process.env.BENCH_SIZE || 20000);
const CONNS = Number(process.env.BENCH_CONNECTIONS || 4);
// BENCH_PASS=1: a subject the policy lets pass, so that the milter reads
// every message and seals none (what Postfix pays for a milter at all)
const PASS = process.env.BENCH_PASS === '1';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function measure(pfx, port, label) {
  const before = pfx.sentCount();
  const t0 = process.hrtime.bigint();
  const r = spawnSync(path.join(POSTFIX_SBIN, 'smtp-source'),
    ['-s', String(CONNS), '-m', String(N), '-l', String(SIZE), '-S', PASS ? 'bench message' : '[secure] bench message',
      '-f', 'alice@clinic.example', '-t', 'pat@example.org', `127.0.0.1:${port}`],
    { timeout: 600000 });
  if (r.status !== 0) throw new Error(`smtp-source failed: ${r.stderr}`);
  const until = Date.now() + 600000;
  while (pfx.sentCount() < before + N) {
    if (Date.now() > until) throw new Error(`${label}: only ${pfx.sentCount() - before} of ${N} delivered`);
    await sleep(50);
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return N / s;
}

const keyd = await startKeyd({ args: ['--max-connections-per-client', '1000'] });
let milter, pfx;
try {
  const token = orgAdd(keyd.dataDir, 'Bench Clinic', 'clinic.example');
  // the organisation signs its envelopes (org add made its key): so does the milter
  milter = await startMilter([`keyd_url = ${keyd.url}`, `keyd_token = ${token}`,
    `sign_key = ${orgKey(token)}`]);
  pfx = await startPostfix({ milterPort: milter.port });
  // warm up both paths (process start, connection caches): Postfix runs
  // each path's smtpd and cleanup processes apart, and the milter's path
  // needs more of them at once (each message stays longer)
  await measure(pfx, pfx.plainPort, 'warm-up');
  await measure(pfx, pfx.port, 'warm-up with milter');
  const plain = await measure(pfx, pfx.plainPort, 'without milter');
  const mark = milter.log.length;
  const sealed = await measure(pfx, pfx.port, 'with milter');
  const decision = PASS ? 'pass' : 'seal';
  const ndecided = milter.log.slice(mark).filter((l) => l.includes(` decision=${decision} `)).length;
  if (ndecided < N) throw new Error(`only ${ndecided} of ${N} messages were decided ${decision}`);
  console.log(`postfix: ${N} messages of ${SIZE} bytes, ${CONNS} parallel SMTP connections, smtp-source -> Postfix -> smtp-sink`);
  console.log(`postfix: without milter (baseline): ${plain.toFixed(1)} msg/s`);
  console.log(`postfix: with sealpost-milter ${PASS ? 'reading and passing' : 'sealing'} every message: ${sealed.toFixed(1)} msg/s`);
  console.log(`postfix: ratio with/without: ${(sealed / plain).toFixed(3)}`);
  // the milter's own time per sealed message (its log's time_ms)
  const ms = milter.log.slice(mark).filter((l) => l.includes(` decision=${decision} `))
    .map((l) => Number((/ time_ms=(\d+)/.exec(l) || [])[1])).filter((v) => v >= 0).sort((a, b) => a - b);
  const pct = (p) => ms[Math.min(ms.length - 1, Math.floor(ms.length * p))];
  console.log(`postfix: milter time per message: p50 ${pct(0.5)} ms, p90 ${pct(0.9)} ms`);
} catch (e) {
  const why = (milter?.log || []).filter((l) => /decision=(tempfail|reject)/.test(l)).slice(0, 5);
  console.error(`postfix bench failed: ${e.message}\n${why.join('\n')}`);
  process.exitCode = 1;
} finally {
  await pfx?.stop();
  await milter?.stop();
  await keyd.stop();
}
