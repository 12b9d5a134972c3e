// s3peer.mjs - an S3-compatible store on loopback for the tests: s3rver
// (a development dependency) behind a Signature Version 4 check.
//
// s3rver checks the access key id and that x-amz-content-sha256 is present,
// but not SigV4 signatures, so every request under its built-in key id
// (S3RVER / S3RVER) is checked here first, written from the AWS
// specification with node's crypto: a request signed with a wrong secret is
// refused with 403 SignatureDoesNotMatch as S3 would, and every accepted
// request proves the client's signing (canonical URI and query, signed
// headers, payload hash).  Requests under other key ids go on to s3rver,
// which refuses them itself (InvalidAccessKeyId).
//
// The store runs in a child process of its own, `node
// --openssl-legacy-provider` (s3rver's continuation tokens use DES), and is
// stopped by its pid.  Each accepted request is appended to
// DIR/requests.jsonl as {method, url, sha} (sha: x-amz-content-sha256).
//
// Use: const peer = await startS3Peer({ buckets: ['copies'] });
//      peer.endpoint, peer.keyId, peer.secret, peer.requests(), await peer.stop()
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const KEY_ID = 'S3RVER';	// s3rver's built-in account
const SECRET = 'S3RVER';
const SELF = fileURLToPath(import.meta.url);

const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');
const hmac = (k, s) => crypto.createHmac('sha256', k).update(s).digest();
// RFC 3986 encoding, as Signature Version 4 canonicalises query parts
const rfc3986 = (s) => encodeURIComponent(s).replace(/[!'()*]/g,
  (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());

// null when req carries a valid SigV4 header signature made with secret,
// else why not.  The payload hash signed is the x-amz-content-sha256 header.
export function sigv4Problem(req, secret) {
  const m = /^AWS4-HMAC-SHA256 Credential=([^/,]+)\/(\d{8})\/([^/,]+)\/s3\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/
    .exec(req.headers.authorization || '');
  if (!m) return 'no SigV4 Authorization header';
  const [, , date, region, signedHeaders, signature] = m;
  const signed = signedHeaders.split(';');
  for (const h of ['host', 'x-amz-date', 'x-amz-content-sha256']) {
    if (!signed.includes(h)) return `${h} is not signed`;
  }
  const amzDate = req.headers['x-amz-date'] || '';
  if (!amzDate.startsWith(date)) return 'x-amz-date does not match the credential scope';
  const url = new URL(req.url, 'http://placeholder');
  const query = [...url.searchParams.entries()]
    .map(([k, v]) => [rfc3986(k), rfc3986(v)])
    .sort((a, b) => (a[0] !== b[0] ? (a[0] < b[0] ? -1 : 1) : (a[1] < b[1] ? -1 : 1)))
    .map(([k, v]) => `${k}=${v}`).join('&');
  const headers = signed
    .map((h) => `${h}:${String(req.headers[h] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonical = [req.method, url.pathname, query, headers, signedHeaders,
    req.headers['x-amz-content-sha256']].join('\n');
  const toSign = ['AWS4-HMAC-SHA256', amzDate, `${date}/${region}/s3/aws4_request`,
    sha256(canonical)].join('\n');
  const key = hmac(hmac(hmac(hmac('AWS4' + secret, date), region), 's3'), 'aws4_request');
  return hmac(key, toSign).toString('hex') === signature ? null : 'signature does not match';
}

// The child: serve until killed.
async function serve(dir, buckets) {
  const { default: S3rver } = await import('s3rver');
  const app = new S3rver({ silent: true, directory: path.join(dir, 'data'),
    configureBuckets: buckets.map((name) => ({ name })) });
  await app.configureBuckets();
  const handler = app.callback();
  const log = path.join(dir, 'requests.jsonl');
  const server = http.createServer((req, res) => {
    const cred = /Credential=([^/]+)\//.exec(req.headers.authorization || '');
    const why = cred && cred[1] === KEY_ID ? sigv4Problem(req, SECRET) : null;
    if (why) {
      res.writeHead(403, { 'Content-Type': 'application/xml', Connection: 'close' });
      res.end('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SignatureDoesNotMatch' +
        `</Code><Message>${why}</Message></Error>`);
      return;
    }
    fs.appendFileSync(log, JSON.stringify({ method: req.method, url: req.url,
      sha: req.headers['x-amz-content-sha256'] }) + '\n');
    handler(req, res);
  });
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`listening ${server.address().port}\n`);
  });
  process.on('SIGTERM', () => process.exit(0));
}

// Start the store in a child process; resolves once it listens.
export function startS3Peer({ dir, buckets = ['copies'], timeoutMs = 15000 } = {}) {
  dir = dir || fs.mkdtempSync(path.join(process.env.TMPDIR || '/tmp', 'sealpost-s3-'));
  const proc = spawn(process.execPath, ['--openssl-legacy-provider', SELF, 'serve', dir,
    buckets.join(',')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((r) => proc.once('exit', r));
  return new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error('the S3 test store did not start'));
    }, timeoutMs);
    proc.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`the S3 test store exited with ${code}`));
    });
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (s) => {
      out += s;
      const m = /listening (\d+)\n/.exec(out);
      if (!m) return;
      clearTimeout(t);
      const port = Number(m[1]);
      resolve({
        dir,
        port,
        endpoint: `http://127.0.0.1:${port}`,
        keyId: KEY_ID,
        secret: SECRET,
        requests: () => {
          const f = path.join(dir, 'requests.jsonl');
          return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').trim().split('\n')
            .filter(Boolean).map((l) => JSON.parse(l)) : [];
        },
        stop: async () => {
          if (proc.exitCode !== null || proc.signalCode !== null) return;
          proc.kill('SIGTERM');
          const k = setTimeout(() => proc.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(k);
        },
      });
    });
  });
}

if (process.argv[1] === SELF && process.argv[2] === 'serve') {
  serve(process.argv[3], process.argv[4].split(',').filter(Boolean));
}
