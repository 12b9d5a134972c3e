// sp-crypto.js - reading a sealpost envelope in the browser (and in Node):
// base64, the header of format 1 and 2, the message key (HKDF-SHA256), the
// chunked AES-256-GCM STREAM decryption, the "SPC1" payload container, the
// Ed25519 envelope signature and the check against the key server's record
// (docs/envelope-format.md sections 1, 2, 3, 5 and 7).
// SECURITY: every input here is untrusted (the envelope comes from mail, the
// key server's answer from the network).  Every length and index is checked
// before use; any failure throws EnvelopeError and nothing partial is returned.
// This module touches no DOM so that the tests can run it under Node.

export const CHUNK = 65536;
export const TAG = 16;
export const MAX_HEADER = 65536;
export const MAX_RECIPIENTS = 500;
export const MAX_PAYLOAD = 512 * 1024 * 1024;
export const MAX_MANIFEST = 16 * 1024 * 1024;
export const MAX_RAW_SEGMENTS = 100000;
export const ALG = 'A256GCM-STREAM-64K';

const enc = new TextEncoder();

export class EnvelopeError extends Error {
  // kind: 'format' (not an envelope / bad bytes), 'auth' (decryption failed:
  // forged, tampered or wrong key), 'mismatch' (the key server's record
  // disagrees with the header), 'unsupported' (the browser lacks Ed25519).
  constructor(kind, message) {
    super(message);
    this.name = 'EnvelopeError';
    this.kind = kind;
  }
}

function fail(message, kind = 'format') {
  throw new EnvelopeError(kind, message);
}

// ---- base64 ---------------------------------------------------------------

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const tables = new Map();

function table(alphabet) {
  let t = tables.get(alphabet);
  if (!t) {
    t = new Int16Array(128).fill(-1);
    for (let i = 0; i < 64; i++) t[alphabet.charCodeAt(i)] = i;
    tables.set(alphabet, t);
  }
  return t;
}

// Portable strict decoder: s has no white space; padding optional.
function decodeWith(s, alphabet) {
  let n = s.length;
  if (n % 4 === 0 && n > 0 && s.charCodeAt(n - 1) === 61) n--;
  if (n % 4 !== 0 && s.charCodeAt(n - 1) === 61) n--;
  if (n % 4 === 1) fail('bad base64 length');
  for (let i = 0; i < n; i++) if (s.charCodeAt(i) === 61) fail('bad base64 padding');
  const t = table(alphabet);
  const out = new Uint8Array(Math.floor((n * 3) / 4));
  let o = 0;
  let i = 0;
  const val = (k) => {
    const c = s.charCodeAt(k);
    const v = c < 128 ? t[c] : -1;
    if (v < 0) fail('bad base64 character');
    return v;
  };
  for (; i + 4 <= n; i += 4) {
    const v = (val(i) << 18) | (val(i + 1) << 12) | (val(i + 2) << 6) | val(i + 3);
    out[o++] = v >> 16;
    out[o++] = (v >> 8) & 255;
    out[o++] = v & 255;
  }
  const rest = n - i;
  if (rest === 2) {
    const v = (val(i) << 18) | (val(i + 1) << 12);
    out[o++] = v >> 16;
  } else if (rest === 3) {
    const v = (val(i) << 18) | (val(i + 1) << 12) | (val(i + 2) << 6);
    out[o++] = v >> 16;
    out[o++] = (v >> 8) & 255;
  }
  return out;
}

const WS = /[\t\n\f\r ]+/g;

// Decode standard base64 (with or without '=' padding), ignoring ASCII white
// space.  Uses Uint8Array.fromBase64 where the engine has it.
export function b64decode(s) {
  if (typeof s !== 'string') fail('base64 text expected');
  const clean = s.replace(WS, '');
  if (typeof Uint8Array.fromBase64 === 'function') {
    try {
      return Uint8Array.fromBase64(clean, { alphabet: 'base64', lastChunkHandling: 'loose' });
    } catch {
      fail('bad base64');
    }
  }
  return decodeWith(clean, B64);
}

// Decode base64url without padding (ids, key parts).
export function b64urlDecode(s) {
  if (typeof s !== 'string' || !/^[A-Za-z0-9_-]*$/.test(s)) fail('bad base64url');
  return decodeWith(s, B64URL);
}

// ---- header ---------------------------------------------------------------

const ID_RE = /^[A-Za-z0-9_-]{22}$/;
export function validId(id) {
  return typeof id === 'string' && ID_RE.test(id);
}

function isInt(x) {
  return typeof x === 'number' && Number.isSafeInteger(x);
}

// The keys of a header in canonical order: format 1 has the first ten,
// format 2 all thirteen (docs/envelope-format.md sections 2 and 7.1).
const KEYS_V1 = ['v', 'id', 'keyd', 'org', 'from', 'to', 'created', 'expires', 'alg', 'np'];
const KEYS_V2 = [...KEYS_V1, 'kid', 'level', 'verify'];
export const LEVELS = Object.freeze(['high', 'medium', 'low']);
const MAX_ORG = 1024;
const MAX_FROM = 319;
const MAX_KEYD = 512;
const MAX_ADDR_JSON = 957;

// A number with a fraction or an exponent: JSON, but never an integer field.
const REAL = Object.freeze({ real: true });

// A strict JSON reader for the header text, with the rules of the C reader
// (jansson with JSON_REJECT_DUPLICATES): duplicate keys, "\u0000", lone
// surrogate escapes, integers past 2^53 and trailing bytes are refused.
// Objects come back as Maps (in their order), reals as REAL.
function strictJson(text) {
  let i = 0;
  const n = text.length;
  const bad = () => fail('header is not JSON');
  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
      i++;
    }
  };
  const hex4 = () => {
    const h = text.slice(i, i + 4);
    if (!/^[0-9A-Fa-f]{4}$/.test(h)) bad();
    i += 4;
    return parseInt(h, 16);
  };
  const string = () => {
    i++; // the opening quote
    let out = '';
    for (;;) {
      if (i >= n) bad();
      const c = text.charCodeAt(i++);
      if (c === 0x22) return out;
      if (c < 0x20) bad();
      if (c !== 0x5c) {
        out += text[i - 1];
        continue;
      }
      const e = text[i++];
      if (e === '"' || e === '\\' || e === '/') out += e;
      else if (e === 'b') out += '\b';
      else if (e === 'f') out += '\f';
      else if (e === 'n') out += '\n';
      else if (e === 'r') out += '\r';
      else if (e === 't') out += '\t';
      else if (e === 'u') {
        const u = hex4();
        if (u === 0 || (u >= 0xdc00 && u <= 0xdfff)) bad();
        if (u >= 0xd800 && u <= 0xdbff) {
          if (text[i] !== '\\' || text[i + 1] !== 'u') bad();
          i += 2;
          const lo = hex4();
          if (lo < 0xdc00 || lo > 0xdfff) bad();
          out += String.fromCharCode(u, lo);
        } else out += String.fromCharCode(u);
      } else bad();
    }
  };
  const number = () => {
    const m = /^-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (!m) bad();
    i += m[0].length;
    if (m[1] !== undefined || m[2] !== undefined) return REAL;
    const v = Number(m[0]);
    if (!Number.isSafeInteger(v)) fail('header integer out of range');
    return v;
  };
  const value = (depth) => {
    if (depth > 64) bad();
    ws();
    const c = text[i];
    if (c === '"') return string();
    if (c === '{') {
      i++;
      const o = new Map();
      ws();
      if (text[i] === '}') {
        i++;
        return o;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') bad();
        const k = string();
        if (o.has(k)) fail('duplicate header field');
        ws();
        if (text[i++] !== ':') bad();
        o.set(k, value(depth + 1));
        ws();
        const d = text[i++];
        if (d === '}') return o;
        if (d !== ',') bad();
      }
    }
    if (c === '[') {
      i++;
      const a = [];
      ws();
      if (text[i] === ']') {
        i++;
        return a;
      }
      for (;;) {
        a.push(value(depth + 1));
        ws();
        const d = text[i++];
        if (d === ']') return a;
        if (d !== ',') bad();
      }
    }
    if (text.startsWith('true', i)) {
      i += 4;
      return true;
    }
    if (text.startsWith('false', i)) {
      i += 5;
      return false;
    }
    if (text.startsWith('null', i)) {
      i += 4;
      return null;
    }
    return number();
  };
  const v = value(0);
  ws();
  if (i !== n) bad();
  return v;
}

export function b64urlEncode(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const v = (bytes[i] << 16) | ((bytes[i + 1] || 0) << 8) | (bytes[i + 2] || 0);
    s += B64URL[v >> 18] + B64URL[(v >> 12) & 63];
    if (i + 1 < bytes.length) s += B64URL[(v >> 6) & 63];
    if (i + 2 < bytes.length) s += B64URL[v & 63];
  }
  return s;
}

// base64url text of exactly len bytes, without stray low bits (as the C
// reader's sp_b64url_decode_exact).  Returns the bytes or null.
export function b64urlExact(s, len) {
  if (typeof s !== 'string' || s.length !== Math.floor((len * 4 + 2) / 3) || !/^[A-Za-z0-9_-]*$/.test(s)) return null;
  const b = decodeWith(s, B64URL);
  return b.length === len && b64urlEncode(b) === s ? b : null;
}

const utf8Len = (s) => enc.encode(s).length;

function validText(s, maxBytes) {
  return typeof s === 'string' && !/[\u0000-\u001f\u007f]/.test(s) && utf8Len(s) <= maxBytes;
}

// An http(s) URL without a trailing '/', only characters safe in an HTML
// attribute and a CSP source list.
function validKeyd(s) {
  if (typeof s !== 'string' || utf8Len(s) > MAX_KEYD) return false;
  let host;
  if (s.length > 8 && s.startsWith('https://')) host = 8;
  else if (s.length > 7 && s.startsWith('http://')) host = 7;
  else return false;
  if (s[host] === '/' || s[host] === ':' || s.endsWith('/')) return false;
  return /^[A-Za-z0-9\-._~:/[\]%]*$/.test(s.slice(host));
}

// A recipient address: 3 to 319 bytes, one '@' not at either end, no white
// space, controls or "<>\,; and at most 957 bytes in the meta JSON.
function validAddr(s) {
  if (typeof s !== 'string') return false;
  const b = enc.encode(s);
  if (b.length < 3 || b.length >= 320) return false;
  let at = -1, nat = 0, json = 0;
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (c <= 0x20 || c === 0x7f || c === 0x22 || c === 0x3c || c === 0x3e || c === 0x5c || c === 0x2c || c === 0x3b) return false;
    if (c === 0x40) {
      at = i;
      nat++;
    }
    json += c === 0x26 ? 6 : c >= 0x80 ? 3 : 1;
  }
  return nat === 1 && at > 0 && at < b.length - 1 && json <= MAX_ADDR_JSON;
}

// Parse and check the header bytes (Uint8Array) of format 1 or 2 with the
// rules of the C reader (sp_env_header_decode).  Returns the header object
// with `noncePrefix` (7 bytes) added.  The bytes stay authoritative: the
// decryption authenticates them, never a re-serialisation.
export function parseHeader(bytes) {
  if (!(bytes instanceof Uint8Array)) fail('header bytes expected');
  if (bytes.length === 0 || bytes.length > MAX_HEADER) fail('header size out of range');
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    fail('header is not JSON');
  }
  const o = strictJson(text);
  if (!(o instanceof Map)) fail('header is not an object');
  const v = o.get('v');
  if (v !== 1 && v !== 2) fail('unsupported envelope version');
  const keys = v === 1 ? KEYS_V1 : KEYS_V2;
  for (const k of o.keys()) {
    if (!KEYS_V2.includes(k)) fail('unknown header field');
    if (!keys.includes(k)) fail('kid, level and verify belong to format 2');
  }
  for (const k of keys) if (!o.has(k)) fail(`missing header field "${k}"`);
  if (v === 2 && [...o.keys()].some((k, i) => k !== KEYS_V2[i])) fail('header fields out of order');
  const h = {};
  for (const k of keys) h[k] = o.get(k);
  if (h.alg !== ALG) fail('unsupported algorithm');
  if (!validId(h.id) || !b64urlExact(h.id, 16)) fail('bad envelope id');
  const np = b64urlExact(h.np, 7);
  if (!np) fail('bad nonce prefix');
  if (!validKeyd(h.keyd)) fail('bad key server address');
  if (!validText(h.org, MAX_ORG)) fail('bad org');
  if (!validText(h.from, MAX_FROM)) fail('bad from');
  // none named: every recipient a blind copy
  if (!Array.isArray(h.to) || h.to.length > MAX_RECIPIENTS) fail('bad recipients');
  h.to.forEach((a, i) => {
    if (!validAddr(a)) fail(`bad recipients: recipient ${i} is not a valid address`);
  });
  if (!isInt(h.created) || h.created < 0 || !isInt(h.expires) || h.expires < 0) fail('bad dates');
  if (v === 2) {
    if (!b64urlExact(h.kid, 8)) fail('bad signing key id');
    if (!LEVELS.includes(h.level)) fail('bad security level');
    if (typeof h.verify !== 'boolean') fail('bad verify flag');
  }
  h.noncePrefix = np;
  return h;
}

// ---- keys -----------------------------------------------------------------

function subtle() {
  const s = globalThis.crypto && globalThis.crypto.subtle;
  if (!s) fail('this browser has no WebCrypto (a secure context is needed)');
  return s;
}

function hkdfParams(id, version) {
  if (version !== 1 && version !== 2) fail('unsupported envelope version');
  return { name: 'HKDF', hash: 'SHA-256', salt: enc.encode('sealpost/v' + version), info: enc.encode('message key ' + id) };
}

// K = HKDF-SHA256(salt "sealpost/v1" (format 1) or "sealpost/v2" (format 2),
// ikm server_part || mail_part, info "message key " || id).  Returns a
// non-extractable AES-GCM CryptoKey.
export async function deriveKey(serverPart, mailPart, id, version = 1) {
  if (!(serverPart instanceof Uint8Array) || serverPart.length !== 32) fail('bad server key part');
  if (!(mailPart instanceof Uint8Array) || mailPart.length !== 32) fail('bad mail key part');
  if (!validId(id)) fail('bad envelope id');
  const params = hkdfParams(id, version);
  const ikm = new Uint8Array(64);
  ikm.set(serverPart, 0);
  ikm.set(mailPart, 32);
  try {
    const base = await subtle().importKey('raw', ikm, 'HKDF', false, ['deriveKey']);
    return await subtle().deriveKey(params, base, { name: 'AES-GCM', length: 256 }, false, ['decrypt']);
  } finally {
    ikm.fill(0);
  }
}

// The same derivation, as raw bytes (for the test vectors only).
export async function deriveKeyBytes(serverPart, mailPart, id, version = 1) {
  const params = hkdfParams(id, version);
  const ikm = new Uint8Array(64);
  ikm.set(serverPart, 0);
  ikm.set(mailPart, 32);
  const base = await subtle().importKey('raw', ikm, 'HKDF', false, ['deriveBits']);
  const bits = await subtle().deriveBits(params, base, 256);
  ikm.fill(0);
  return new Uint8Array(bits);
}

// The holder tag of a mail part (base64url of 32 bytes, as the mail's
// link and the envelope's sp-meta carry it): HKDF-SHA256(ikm mail_part,
// salt "sealpost/holder", info "holder"), base64url.  The sealer deposited
// the same; a page sends it to show that it holds the mail.  null for a
// malformed mail part.
export async function holderTag(mpB64url) {
  const mp = b64urlExact(mpB64url, 32);
  if (!mp) return null;
  try {
    const base = await subtle().importKey('raw', mp, 'HKDF', false, ['deriveBits']);
    const bits = await subtle().deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: enc.encode('sealpost/holder'),
      info: enc.encode('holder') }, base, 256);
    return b64urlEncode(new Uint8Array(bits));
  } finally {
    mp.fill(0);
  }
}

export async function importRawKey(bytes) {
  return subtle().importKey('raw', bytes, { name: 'AES-GCM' }, false, ['decrypt']);
}

// ---- signatures (format 2) ------------------------------------------------

export const SIG_LABEL = 'sealpost envelope v2 signature\n';

// Lower-case hex of SHA-256 of bytes (a Uint8Array).
export async function sha256Hex(bytes) {
  return hexOf(await digestOf(bytes));
}

// The kid of a public key (32 bytes): base64url of the first 8 bytes of its
// SHA-256.
export async function kidOf(pub) {
  if (!(pub instanceof Uint8Array) || pub.length !== 32) fail('bad public key');
  return b64urlEncode(new Uint8Array(await subtle().digest('SHA-256', pub)).subarray(0, 8));
}

// The message an envelope signature covers: the label, SHA-256 of the
// header bytes, SHA-256 of the ciphertext stream (docs/envelope-format.md
// section 7.3).
// ctDigest, when given, is SHA-256 of ct already computed (or a promise of
// it; see digestOf): the ciphertext is then not hashed again.
export async function signedMessage(headerBytes, ct, ctDigest) {
  if (!(headerBytes instanceof Uint8Array) || !(ct instanceof Uint8Array)) fail('bytes expected');
  const label = enc.encode(SIG_LABEL);
  const out = new Uint8Array(label.length + 64);
  out.set(label, 0);
  out.set(new Uint8Array(await subtle().digest('SHA-256', headerBytes)), label.length);
  out.set(await (ctDigest || digestOf(ct)), label.length + 32);
  return out;
}

// SHA-256 of bytes (a Uint8Array) as a promise of 32 bytes.  A reader may
// start it as soon as the ciphertext arrives (while the key is fetched) and
// hand the promise to checkRecord, which then does not hash it again.
export function digestOf(bytes) {
  if (!(bytes instanceof Uint8Array)) fail('bytes expected');
  return subtle().digest('SHA-256', bytes).then((d) => new Uint8Array(d));
}

export const hexOf = (d) => Array.from(d, (x) => x.toString(16).padStart(2, '0')).join('');

// true when sigB64url (base64url of 64 bytes) is the Ed25519 signature of
// the envelope (headerBytes, ct) under pubB64url (base64url of the 32-byte
// public key); false for any other signature, key or malformed text.
// Throws EnvelopeError('unsupported') when the browser has no Ed25519.
export async function verifyEnvelopeSignature({ headerBytes, ct, sigB64url, pubB64url, ctDigest }) {
  const sig = b64urlExact(sigB64url, 64);
  const pub = b64urlExact(pubB64url, 32);
  if (!sig || !pub) return false;
  const msg = await signedMessage(headerBytes, ct, ctDigest);
  let key;
  try {
    key = await subtle().importKey('raw', pub, { name: 'Ed25519' }, false, ['verify']);
  } catch (e) {
    if (e && e.name === 'NotSupportedError') {
      throw new EnvelopeError('unsupported', 'this browser cannot check envelope signatures (no Ed25519)');
    }
    return false;
  }
  try {
    return await subtle().verify({ name: 'Ed25519' }, key, sig, msg);
  } catch {
    return false;
  }
}

// ---- STREAM decryption ----------------------------------------------------

// A decryptor for a ciphertext stream of ctLen bytes under key (CryptoKey),
// nonce prefix np (7 bytes) and the exact header bytes, fed as the bytes
// arrive: feed(buf, n) says that buf[0..n) is there (the same buffer each
// time, growing), and every chunk that is whole is decrypted at once, a
// bounded number in flight.  result() resolves with the plaintext when all
// ctLen bytes were fed and decrypted; any tampering, truncation, reordering
// or a wrong key rejects it with EnvelopeError('auth') (and the plaintext
// so far is wiped).  Nothing is handed out before the last chunk checked.
export function decryptor(key, np, headerBytes, ctLen) {
  if (!Number.isSafeInteger(ctLen) || ctLen < 0) fail('ciphertext length expected');
  if (ctLen > MAX_PAYLOAD) fail('envelope too large');
  if (ctLen < TAG) fail('the message is truncated', 'auth');
  const sealed = CHUNK + TAG;
  const nchunks = Math.max(1, Math.ceil(ctLen / sealed));
  if (ctLen - (nchunks - 1) * sealed < TAG) fail('the message is truncated', 'auth');
  if (nchunks > 0xffffffff) fail('too many chunks');
  const ad = subtle().digest('SHA-256', headerBytes);
  const out = new Uint8Array(ctLen - nchunks * TAG);
  const IN_FLIGHT = 32;
  let ct = null, have = 0, next = 0, running = 0, finished = 0, failed = false;
  let settle;
  const done = new Promise((resolve, reject) => { settle = { resolve, reject }; });
  done.catch(() => { /* the caller's result() reports it */ });
  const one = async (i) => {
    const nonce = new Uint8Array(12);
    nonce.set(np, 0);
    new DataView(nonce.buffer).setUint32(7, i, false);
    nonce[11] = i === nchunks - 1 ? 1 : 0;
    const start = i * sealed;
    let pt;
    try {
      pt = await subtle().decrypt({ name: 'AES-GCM', iv: nonce, additionalData: await ad, tagLength: 128 },
        key, ct.subarray(start, Math.min(start + sealed, ctLen)));
    } catch {
      fail('the message does not decrypt: it is forged, damaged or the key is wrong', 'auth');
    }
    out.set(new Uint8Array(pt), i * CHUNK);
  };
  const pump = () => {
    while (!failed && running < IN_FLIGHT && next < nchunks && Math.min((next + 1) * sealed, ctLen) <= have) {
      running++;
      one(next++).then(() => {
        running--;
        if (++finished === nchunks) settle.resolve(out);
        else pump();
      }, (e) => {
        if (failed) return;
        failed = true;
        out.fill(0);
        settle.reject(e);
      });
    }
  };
  return {
    feed(buf, n) {
      if (!(buf instanceof Uint8Array) || n > buf.length || n > ctLen || n < have) fail('ciphertext bytes expected');
      ct = buf;
      have = n;
      pump();
    },
    result: () => done,
  };
}

// Decrypt the whole ciphertext stream ct (Uint8Array) at once: decryptor()
// fed every byte.  Returns the plaintext.
export async function decryptStream(key, np, headerBytes, ct) {
  if (!(ct instanceof Uint8Array)) fail('ciphertext bytes expected');
  const d = decryptor(key, np, headerBytes, ct.length);
  d.feed(ct, ct.length);
  return d.result();
}

// ---- container (SPC1) -----------------------------------------------------

// DEFLATE expands at most about 1032 to 1; a larger announced length is a lie.
const MAX_INFLATE_RATIO = 1032;

async function inflateRaw(bytes, ulen) {
  if (ulen > bytes.length * MAX_INFLATE_RATIO + 1024) fail('a compressed part announces an impossible length');
  if (typeof DecompressionStream !== 'function') fail('this browser cannot inflate (no DecompressionStream)');
  const ds = new DecompressionStream('deflate-raw');
  const writer = ds.writable.getWriter();
  const reader = ds.readable.getReader();
  const out = new Uint8Array(ulen);
  let o = 0;
  const w = writer.write(bytes).then(() => writer.close()).catch(() => {});
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (o + value.length > ulen) {
        reader.cancel().catch(() => {});
        fail('a compressed part is longer than announced');
      }
      out.set(value, o);
      o += value.length;
    }
  } catch (e) {
    if (e instanceof EnvelopeError) throw e;
    fail('a compressed part is damaged');
  }
  await w;
  if (o !== ulen) fail('a compressed part is shorter than announced');
  return out;
}

function checkIndex(x, n, what) {
  if (!isInt(x) || x < 0 || x >= n) fail(`${what} out of range`);
  return x;
}

// Parse a container (Uint8Array).  Returns {manifest, headers, text, html,
// parts, blob(i)} where blob(i) resolves to the blob's bytes (inflated when
// z is 1), text and html are blob indexes or null.
export function parseContainer(pt) {
  if (!(pt instanceof Uint8Array)) fail('container bytes expected');
  if (pt.length < 8 || pt[0] !== 0x53 || pt[1] !== 0x50 || pt[2] !== 0x43 || pt[3] !== 0x31) {
    fail('not a sealpost container');
  }
  const mlen = new DataView(pt.buffer, pt.byteOffset, pt.byteLength).getUint32(4, false);
  if (mlen > MAX_MANIFEST || mlen > pt.length - 8) fail('manifest length out of range');
  let m;
  try {
    m = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(pt.subarray(8, 8 + mlen)));
  } catch {
    fail('manifest is not JSON');
  }
  if (!m || typeof m !== 'object' || Array.isArray(m)) fail('manifest is not an object');
  const area = pt.subarray(8 + mlen);
  if (!Array.isArray(m.blobs)) fail('manifest has no blobs');
  const blobs = m.blobs.map((b) => {
    if (!b || typeof b !== 'object') fail('bad blob entry');
    const { off, len, z } = b;
    const ulen = b.ulen === undefined ? len : b.ulen;
    if (!isInt(off) || !isInt(len) || off < 0 || len < 0 || off + len > area.length) fail('blob out of range');
    if (z !== 0 && z !== 1 && z !== undefined) fail('bad blob compression');
    if (!isInt(ulen) || ulen < 0 || ulen > MAX_PAYLOAD) fail('bad blob length');
    if (!z && ulen !== len) fail('blob length mismatch');
    return { off, len, z: z ? 1 : 0, ulen };
  });
  const nb = blobs.length;
  const h = m.headers && typeof m.headers === 'object' && !Array.isArray(m.headers) ? m.headers : {};
  const headers = {};
  for (const k of ['from', 'to', 'cc', 'date', 'subject']) {
    if (h[k] !== undefined && h[k] !== null && typeof h[k] !== 'string') fail(`bad header ${k}`);
    headers[k] = typeof h[k] === 'string' ? h[k] : '';
  }
  const text = m.text === null || m.text === undefined ? null : checkIndex(m.text, nb, 'text blob');
  const html = m.html === null || m.html === undefined ? null : checkIndex(m.html, nb, 'html blob');
  const partsIn = m.parts === undefined ? [] : m.parts;
  if (!Array.isArray(partsIn)) fail('bad parts');
  const parts = partsIn.map((p) => {
    if (!p || typeof p !== 'object') fail('bad part');
    if (typeof p.name !== 'string' && p.name !== null && p.name !== undefined) fail('bad part name');
    if (typeof p.type !== 'string') fail('bad part type');
    if (p.cid !== null && p.cid !== undefined && typeof p.cid !== 'string') fail('bad part cid');
    return {
      name: typeof p.name === 'string' ? p.name : '',
      type: p.type,
      blob: checkIndex(p.blob, nb, 'part blob'),
      cid: typeof p.cid === 'string' ? p.cid : null,
      inline: p.inline === true,
      size: blobs[p.blob].ulen,
    };
  });
  const rawIn = m.raw === undefined ? [] : m.raw;
  if (!Array.isArray(rawIn) || rawIn.length > MAX_RAW_SEGMENTS) fail('bad raw recipe');
  const raw = rawIn.map((r) => {
    if (!r || typeof r !== 'object') fail('bad raw segment');
    if (r.lit !== undefined) return { lit: checkIndex(r.lit, nb, 'raw blob') };
    if (r.b64 !== undefined) {
      if (!isInt(r.line) || r.line < 4 || r.line > 998 || r.line % 4 !== 0) fail('bad raw line length');
      if (r.eol !== '\r\n' && r.eol !== '\n') fail('bad raw line end');
      return { b64: checkIndex(r.b64, nb, 'raw blob'), line: r.line, eol: r.eol, end: r.end === true };
    }
    fail('bad raw segment');
    return null;
  });
  const cache = new Map();
  const blob = (i) => {
    checkIndex(i, nb, 'blob');
    if (!cache.has(i)) {
      const b = blobs[i];
      const bytes = area.subarray(b.off, b.off + b.len);
      cache.set(i, b.z ? inflateRaw(bytes, b.ulen) : Promise.resolve(bytes));
    }
    return cache.get(i);
  };
  return { manifest: m, blobs, headers, text, html, parts, raw, blob };
}

function b64encode(bytes) {
  if (typeof bytes.toBase64 === 'function') return bytes.toBase64();
  let s = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const v = (bytes[i] << 16) | ((bytes[i + 1] || 0) << 8) | (bytes[i + 2] || 0);
    s += B64[v >> 18] + B64[(v >> 12) & 63] +
      (i + 1 < bytes.length ? B64[(v >> 6) & 63] : '=') + (i + 2 < bytes.length ? B64[v & 63] : '=');
  }
  return s;
}

// Rebuild the original RFC 5322 message from the raw recipe.  Returns a
// Uint8Array.
export async function rawMessage(c) {
  const pieces = [];
  for (const r of c.raw) {
    if (r.lit !== undefined) {
      pieces.push(await c.blob(r.lit));
      continue;
    }
    const s = b64encode(await c.blob(r.b64));
    const lines = [];
    for (let i = 0; i < s.length; i += r.line) lines.push(s.slice(i, i + r.line));
    pieces.push(enc.encode(lines.join(r.eol) + (r.end && lines.length ? r.eol : '')));
  }
  const total = pieces.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of pieces) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// ---- the whole envelope ----------------------------------------------------

// The message of a decrypted envelope: headerB64 (text) and the plaintext
// pt.  Returns {header, headerBytes, container}.  Authenticated bytes that
// do not parse (a broken sealer) throw EnvelopeError('format'): the reader
// refuses them as damaged.
export function openedOf(headerB64, pt) {
  const headerBytes = b64decode(headerB64);
  const header = parseHeader(headerBytes);
  try {
    return { header, headerBytes, container: parseContainer(pt) };
  } catch (e) {
    throw new EnvelopeError('format', 'the message inside the envelope is damaged: ' + e.message);
  }
}

// Open an envelope: headerB64 (text), payload (Uint8Array), mailPart and
// serverPart (base64url text).  Returns {header, headerBytes, container}.
export async function openEnvelope({ headerB64, payload, mailPart, serverPart }) {
  const headerBytes = b64decode(headerB64);
  const header = parseHeader(headerBytes);
  const mp = b64urlDecode(mailPart);
  const sp = b64urlDecode(serverPart);
  let key;
  try {
    key = await deriveKey(sp, mp, header.id, header.v);
  } finally {
    mp.fill(0);
    sp.fill(0);
  }
  return openedOf(headerB64, await decryptStream(key, header.noncePrefix, headerBytes, payload));
}

function normAddr(a) {
  return String(a).trim().toLowerCase();
}

// Compare the (authenticated) header with the key server's record of the
// envelope (the release answer).  Returns a list of differences (empty when
// they agree).
export function compareRecord(header, record) {
  const diffs = [];
  if (!record || typeof record !== 'object') return ['no record from the key server'];
  if (record.id !== header.id) diffs.push('id');
  if (record.org !== header.org) diffs.push('organisation');
  if (record.from !== undefined && normAddr(record.from) !== normAddr(header.from)) diffs.push('sender');
  const a = Array.isArray(record.recipients) ? record.recipients.map(normAddr).sort() : [];
  const b = header.to.map(normAddr).sort();
  if (a.length !== b.length || a.some((x, i) => x !== b[i])) diffs.push('recipients');
  return diffs;
}

const HEX64 = /^[0-9a-f]{64}$/;

// Check an envelope against the key server's record of it (the release
// answer): header is parseHeader's result for headerBytes, ct the
// ciphertext stream, sigB64url the envelope's signature (null in format 1).
// Resolves to a list of reasons (empty when the envelope is genuine):
// compareRecord's, 'format' when the header's version is not the record's
// format (a record without one is format 1), and for format 2 'header
// digest', 'ciphertext digest', 'signing key' (the header's kid is not the
// record's, or the record's key does not have that kid) and 'signature'.  May
// reject with EnvelopeError('unsupported') when the browser has no Ed25519.
// ctDigest (optional) is digestOf(ct), started earlier: ct is hashed once.
export async function checkRecord(header, headerBytes, ct, sigB64url, record, ctDigest) {
  if (!record || typeof record !== 'object') return ['no record from the key server'];
  const reasons = compareRecord(header, record);
  const format = record.format === undefined || record.format === null ? 1 : record.format;
  if (header.v !== format) {
    reasons.push('format');
    return reasons;
  }
  if (format !== 2) return reasons;
  if (typeof record.header_sha256 !== 'string' || !HEX64.test(record.header_sha256) ||
      await sha256Hex(headerBytes) !== record.header_sha256) reasons.push('header digest');
  const ctHash = ctDigest || digestOf(ct);
  if (typeof record.ct_sha256 !== 'string' || !HEX64.test(record.ct_sha256) ||
      hexOf(await ctHash) !== record.ct_sha256) reasons.push('ciphertext digest');
  const pub = b64urlExact(record.sig_key, 32);
  if (typeof record.kid !== 'string' || header.kid !== record.kid || !pub ||
      await kidOf(pub) !== record.kid) reasons.push('signing key');
  if (typeof sigB64url !== 'string' || typeof record.sig_key !== 'string' ||
      !await verifyEnvelopeSignature({ headerBytes, ct, sigB64url, pubB64url: record.sig_key, ctDigest: ctHash })) {
    reasons.push('signature');
  }
  return reasons;
}
