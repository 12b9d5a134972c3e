// blobstore.test.mjs - the ciphertext copy store through `sealpost blob`:
// a local directory, and an S3-compatible store (tests/lib/s3peer.mjs:
// s3rver behind a Signature Version 4 check) on loopback.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, PGSQL, runAsync, tmpDir } from '../lib/harness.mjs';
import { startS3Peer } from '../lib/s3peer.mjs';

// nothing here touches the key server's store: one pass is enough
const skip = PGSQL ? 'no database involved: runs in the SQLite pass' : false;

const BUCKET = 'copies';
const blob = (args, opts) => runAsync(path.join(BIN, 'sealpost'), ['blob', ...args], opts);
const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');

let s3 = null;
let keyFile, badKeyFile, otherIdFile;

before(async () => {
  if (skip) return;
  const dir = tmpDir('sealpost-s3-');
  s3 = await startS3Peer({ dir, buckets: [BUCKET] });
  const secretFile = (name, text) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, text, { mode: 0o600 });
    return f;
  };
  keyFile = secretFile('s3.key', `${s3.keyId}\n${s3.secret}\n`);
  badKeyFile = secretFile('wrong-secret.key', `${s3.keyId}\nnot-the-secret\n`);
  otherIdFile = secretFile('other-id.key', `NOSUCHKEYID\n${s3.secret}\n`);
});

after(async () => {
  if (s3) await s3.stop();
});

function s3Url({ key = keyFile, bucket = BUCKET, extra = '' } = {}) {
  return `s3://${bucket}?endpoint=${encodeURIComponent(s3.endpoint)}&region=us-east-1&key_file=${key}${extra}`;
}

// put, stat, get (file and stdout), ls, rm, get after rm: the same for
// every backend
async function roundTrip(store, work, size) {
  const data = crypto.randomBytes(size);
  const src = path.join(work, 'ct.bin');
  fs.writeFileSync(src, data);

  let r = await blob(['put', '--store', store, '--tmpdir', work, 'env1.ct', src]);
  assert.equal(r.status, 0, r.stderr);
  r = await blob(['stat', '--store', store, '--tmpdir', work, 'env1.ct']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.toString(), `${data.length}\n`);

  const back = path.join(work, 'back.bin');
  r = await blob(['get', '--store', store, '--tmpdir', work, 'env1.ct', back]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(fs.readFileSync(back).equals(data), 'the copy comes back byte for byte');
  r = await blob(['get', '--store', store, '--tmpdir', work, 'env1.ct']);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.stdout.equals(data), 'get to standard output is byte-exact');

  // replacing is whole (the listing shows the new size), from standard input
  r = await blob(['put', '--store', store, '--tmpdir', work, 'env1.ct', '-'], { input: 'short' });
  assert.equal(r.status, 0, r.stderr);
  for (const n of ['env2.ct', 'env3.ct']) {
    r = await blob(['put', '--store', store, '--tmpdir', work, n, '-'], { input: n });
    assert.equal(r.status, 0, r.stderr);
  }
  r = await blob(['ls', '--store', store, '--tmpdir', work]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.toString().trim().split('\n').sort(),
    ['env1.ct\t5', 'env2.ct\t7', 'env3.ct\t7']);

  r = await blob(['rm', '--store', store, '--tmpdir', work, 'env1.ct']);
  assert.equal(r.status, 0, r.stderr);
  r = await blob(['rm', '--store', store, '--tmpdir', work, 'env1.ct']);
  assert.equal(r.status, 0, 'removing an absent object is not an error: ' + r.stderr);
  r = await blob(['get', '--store', store, '--tmpdir', work, 'env1.ct', back + '2']);
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stderr, /no object env1\.ct/);
  assert.equal(fs.existsSync(back + '2'), false, 'a failed get leaves no file');
  r = await blob(['stat', '--store', store, '--tmpdir', work, 'env1.ct']);
  assert.equal(r.status, 3, r.stderr);

  r = await blob(['get', '--store', store, '--tmpdir', work, '../env2.ct']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /not a valid object name/);
  return data;
}

test('dir: put, stat, get, ls, rm through sealpost blob', { skip }, async () => {
  const work = tmpDir('sealpost-blob-');
  const store = path.join(work, 'copies', 'deep');
  // (1 MB: the unit test copies 5 MB; here fsync on a busy disk is the cost)
  await roundTrip(`dir:${store}`, work, 1024 * 1024);
  assert.equal(fs.statSync(store).mode & 0o777, 0o700, 'the store directory is made 0700');
  assert.equal(fs.statSync(path.join(store, 'env2.ct')).mode & 0o777, 0o600);
  assert.deepEqual(fs.readdirSync(store).sort(), ['env2.ct', 'env3.ct'],
    'no temporary files are left behind');
});

test('blob --help and usage errors', { skip }, async () => {
  let r = await blob(['--help']);
  assert.equal(r.status, 0);
  assert.match(r.stdout.toString(), /put\|get\|rm\|ls\|stat --store URL/);
  r = await blob(['get', 'x']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--store URL is required/);
  r = await blob(['frob', '--store', '/tmp']);
  assert.equal(r.status, 2);
  r = await blob(['ls', '--store', 's3://copies?endpoint=http://127.0.0.1:1&key_file=/x&colour=red']);
  assert.equal(r.status, 78);
  assert.match(r.stderr, /unknown parameter 'colour'/);
});

test('s3: signed put of 6 MB, stat, get, ls with continuation, rm', { skip }, async () => {
  const work = tmpDir('sealpost-blob-');
  // one key a page, so the listing of three needs continuation tokens
  const data = await roundTrip(s3Url({ extra: '&max_keys=1' }), work, 6 * 1024 * 1024);
  const seen = s3.requests();
  const put = seen.find((q) => q.method === 'PUT' && q.url === `/${BUCKET}/env1.ct`);
  assert.ok(put, 'the upload reached the store');
  assert.equal(put.sha, sha256(data), 'the signed payload hash is the upload\'s SHA-256');
  const lists = seen.filter((q) => q.method === 'GET' && q.url.startsWith(`/${BUCKET}?`));
  assert.equal(lists.filter((q) => q.url.includes('continuation-token=')).length, 2,
    'the listing followed two continuation tokens');
  // what s3rver keeps is what was sent
  const r = await blob(['get', '--store', s3Url(), '--tmpdir', work, 'env2.ct']);
  assert.equal(r.stdout.toString(), 'env2.ct');
});

test('s3: wrong secret, unknown key id, open key file, no bucket: configuration errors', { skip }, async () => {
  const work = tmpDir('sealpost-blob-');
  let r = await blob(['ls', '--store', s3Url({ key: badKeyFile })]);
  assert.equal(r.status, 78, r.stderr);
  assert.match(r.stderr, /refused access to bucket copies \(HTTP 403 SignatureDoesNotMatch\)/);
  assert.ok(!r.stderr.includes('not-the-secret'), 'the secret is never shown');
  r = await blob(['stat', '--store', s3Url({ key: badKeyFile }), 'env2.ct']);
  assert.equal(r.status, 78, r.stderr);
  assert.match(r.stderr, /refused access to bucket copies \(HTTP 403\)/);

  r = await blob(['put', '--store', s3Url({ key: badKeyFile }), 'env9.ct', '-'], { input: 'x' });
  assert.equal(r.status, 78, r.stderr);

  r = await blob(['ls', '--store', s3Url({ key: otherIdFile })]);
  assert.equal(r.status, 78, r.stderr);
  assert.match(r.stderr, /InvalidAccessKeyId/);

  const open = path.join(work, 'open.key');
  fs.writeFileSync(open, `${s3.keyId}\n${s3.secret}\n`);
  fs.chmodSync(open, 0o644);
  r = await blob(['ls', '--store', s3Url({ key: open })]);
  assert.equal(r.status, 78, r.stderr);
  assert.match(r.stderr, /readable only by its owner/);

  const oneLine = path.join(work, 'one-line.key');
  fs.writeFileSync(oneLine, `${s3.keyId}\n`, { mode: 0o600 });
  r = await blob(['ls', '--store', s3Url({ key: oneLine })]);
  assert.equal(r.status, 78, r.stderr);
  assert.match(r.stderr, /two lines/);

  r = await blob(['stat', '--store', s3Url({ bucket: 'no-such-bucket' }), 'env2.ct']);
  assert.equal(r.status, 78, r.stderr);
  assert.match(r.stderr, /has no bucket no-such-bucket/);
});

test('s3: a stopped store is a temporary failure naming the endpoint', { skip }, async () => {
  await s3.stop();
  const t0 = Date.now();
  const r = await blob(['stat', '--store', s3Url(), 'env2.ct']);
  assert.equal(r.status, 75, r.stderr);
  assert.match(r.stderr, new RegExp(`cannot reach the object store at ${s3.endpoint.replace(/\./g, '\\.')}`));
  assert.ok(Date.now() - t0 < 10000, 'a refused connection fails at once');
});
