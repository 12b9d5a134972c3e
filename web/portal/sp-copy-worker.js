// sp-copy-worker.js - the key server's copy of an envelope, downloaded and
// decrypted off the open page's main thread (open.js, copy mode), so that
// decryption keeps pace with the download and the page stays responsive
// on a phone.  The page asks, in this order:
//   {type: 'fetch', url}     download the ciphertext (the answer's
//                            Content-Length is its size);
//   {type: 'key', headerB64, size, mailPart, serverPart}
//                            decrypt with these, as the bytes arrive.
// The worker answers {type: 'refused', status, data} (the key server's
// refusal), {type: 'error', error} (a catalogue key, sp-i18n.js: the download broke off, or was longer
// or shorter than said), {type: 'data', size, digest} (every byte is there:
// SHA-256 of the ciphertext, for the page's checks), {type: 'plain', pt}
// (the whole plaintext, its buffer transferred) or {type: 'fail', kind,
// message} (spc.EnvelopeError: a wrong key or forged bytes).
// SECURITY: the page shows nothing of the plaintext before its own checks
// of the header, the key server's record, the ciphertext's digest and the
// signature have passed; the worker only saves it the time.  The key parts
// are wiped here once the key is derived.
// The download starts before the crypto module has loaded.
const spcModule = import('./sp-crypto.js');
const TAG = 16;
const MAX_PAYLOAD = 512 * 1024 * 1024;	// sp-crypto.js's, checked there again

let buf = null;		// the ciphertext so far
let have = 0;
let feed = null;	// the decryptor's, once the key came

const say = (m, transfer = []) => postMessage(m, transfer);

async function download(url) {
  let res;
  try {
    res = await fetch(url, { credentials: 'same-origin' });
  } catch {
    say({ type: 'error', error: 'js.unreachable' });
    return;
  }
  if (res.status !== 200 || !res.body) {
    let data = {};
    try {
      data = await res.json();
    } catch { /* not JSON */ }
    say({ type: 'refused', status: res.status, data: data && typeof data === 'object' ? data : {} });
    return;
  }
  const len = res.headers.get('Content-Length');
  const size = len !== null && /^[0-9]{1,10}$/.test(len) ? Number(len) : -1;
  if (size < TAG || size > MAX_PAYLOAD) {
    res.body.cancel().catch(() => {});
    say({ type: 'error', error: 'js.no_length' });
    return;
  }
  buf = new Uint8Array(size);
  const reader = res.body.getReader();
  let shown = -1;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (value.length > size - have) {
        reader.cancel().catch(() => {});
        say({ type: 'error', error: 'js.too_much' });
        return;
      }
      buf.set(value, have);
      have += value.length;
      if (feed) feed(buf, have);
      const pct = Math.floor((have * 10) / size) * 10;
      if (pct !== shown) {
        shown = pct;
        say({ type: 'progress', pct });
      }
    }
  } catch {
    say({ type: 'error', error: 'js.download_broke' });
    return;
  }
  if (have !== size) {
    say({ type: 'error', error: 'js.download_broke' });
    return;
  }
  const dg = new Uint8Array(await crypto.subtle.digest('SHA-256', buf));
  say({ type: 'data', size, digest: dg });
}

async function decrypt({ headerB64, size, mailPart, serverPart }) {
  let d;
  try {
    const spc = await spcModule;
    const headerBytes = spc.b64decode(headerB64);
    const header = spc.parseHeader(headerBytes);
    const mp = spc.b64urlDecode(mailPart);
    const sp = spc.b64urlDecode(serverPart);
    try {
      d = spc.decryptor(await spc.deriveKey(sp, mp, header.id, header.v), header.noncePrefix, headerBytes, size);
    } finally {
      mp.fill(0);
      sp.fill(0);
    }
  } catch (e) {
    say({ type: 'fail', kind: e && e.kind ? e.kind : 'format', message: String(e && e.message) });
    return;
  }
  feed = d.feed;
  if (buf) feed(buf, have);
  try {
    const pt = await d.result();
    say({ type: 'plain', pt }, [pt.buffer]);
  } catch (e) {
    say({ type: 'fail', kind: e && e.kind ? e.kind : 'auth', message: String(e && e.message) });
  }
}

onmessage = (ev) => {
  const m = ev.data;
  if (!m || typeof m !== 'object') return;
  if (m.type === 'fetch' && typeof m.url === 'string') download(m.url);
  else if (m.type === 'key') decrypt(m);
};
