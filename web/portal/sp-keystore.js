// sp-keystore.js - the mail key parts this browser keeps, so that a message
// opened once from the mail's link (or its attachment) opens again from the
// message list on the same device.
//
// IndexedDB database "sealpost-keys", two stores:
//   device: "key" -> a non-extractable AES-GCM 256 CryptoKey, made once by
//           this browser (kept as a structured clone: its bytes never reach
//           script, the key server or any other origin);
//   parts:  envelope id -> {iv, ct, who}: the 32-byte mail key part under
//           that key, AES-GCM with a fresh 12-byte nonce, the id as
//           associated data (a record moved to another id does not
//           decrypt); who is the account that opened it (lower case; ""
//           when nobody was signed in, and in records from before), so
//           that one account's message list tidies only its own.
// SECURITY: no mail key part is written anywhere in the clear (not in
// localStorage, not in a cookie, not in the URL).  Every failure (storage
// off, a private window, a damaged record) reads as "not on this device":
// the page then asks for the mail's link, never shows an error of its own.
import * as spc from './sp-crypto.js';

const DB = 'sealpost-keys';
const enc = new TextEncoder();

function req(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function openDb() {
  return new Promise((resolve, reject) => {
    if (typeof indexedDB === 'undefined') {
      reject(new Error('no IndexedDB'));
      return;
    }
    const r = indexedDB.open(DB, 1);
    r.onupgradeneeded = () => {
      r.result.createObjectStore('device');
      r.result.createObjectStore('parts');
    };
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
    r.onblocked = () => reject(new Error('blocked'));
  });
}

// Resolves when the transaction committed, rejects when it failed.
function committed(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = resolve;
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error('aborted'));
  });
}

// One request in a transaction of its own; resolves with its result once
// the transaction committed.
async function one(db, store, mode, fn) {
  const tx = db.transaction(store, mode);
  const done = committed(tx);
  const result = await req(fn(tx.objectStore(store)));
  await done;
  return result;
}

// This browser's device key, made on first use.  Two pages making one at
// the same time: add() lets only the first in, the other reads it back.
async function deviceKey(db) {
  const have = await one(db, 'device', 'readonly', (s) => s.get('key'));
  if (have) return have;
  const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
  try {
    await one(db, 'device', 'readwrite', (s) => s.add(key, 'key'));
    return key;
  } catch {
    return one(db, 'device', 'readonly', (s) => s.get('key'));
  }
}

async function withDb(fn, fallback) {
  let db;
  try {
    db = await openDb();
    return await fn(db);
  } catch {
    return fallback;
  } finally {
    if (db) db.close();
  }
}

// Keep the mail key part mp (43 base64url characters) of envelope id,
// opened by the account who ('' none).  Resolves true when it was stored.
export function keep(id, mp, who = '') {
  if (!spc.validId(id) || !spc.b64urlExact(mp, 32)) return Promise.resolve(false);
  return withDb(async (db) => {
    const key = await deviceKey(db);
    const raw = spc.b64urlExact(mp, 32);
    const iv = crypto.getRandomValues(new Uint8Array(12));
    try {
      const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: enc.encode(id) }, key, raw);
      await one(db, 'parts', 'readwrite', (s) => s.put({ iv, ct: new Uint8Array(ct), who: String(who).toLowerCase() }, id));
    } finally {
      raw.fill(0);
    }
    return true;
  }, false);
}

// The mail key part kept for envelope id, or null (none, or it no longer
// decrypts: then it is dropped).
export function recall(id) {
  if (!spc.validId(id)) return Promise.resolve(null);
  return withDb(async (db) => {
    const rec = await one(db, 'parts', 'readonly', (s) => s.get(id));
    if (!rec || !(rec.iv instanceof Uint8Array) || !(rec.ct instanceof Uint8Array)) return null;
    const key = await one(db, 'device', 'readonly', (s) => s.get('key'));
    let raw;
    try {
      raw = new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: rec.iv, additionalData: enc.encode(id) }, key, rec.ct));
    } catch {
      await forgetOne(id);
      return null;
    }
    const mp = raw.length === 32 ? spc.b64urlEncode(raw) : null;
    raw.fill(0);
    return mp;
  }, null);
}

// Drop the key part kept for id (it did not open its message).
export function forgetOne(id) {
  return withDb((db) => one(db, 'parts', 'readwrite', (s) => s.delete(id)).then(() => true), false);
}

// The ids whose key part this browser keeps (a Set; empty when storage is
// off).
export function ids() {
  return withDb(async (db) => new Set(await one(db, 'parts', 'readonly', (s) => s.getAllKeys())), new Set());
}

// Drop the key parts that account who kept (and those of no account) for
// every id not in keepIds, its list (messages the key server no longer
// opens: retracted, expired, shredded).  Another account's, in a browser
// two people share, stay.
export function keepOnly(keepIds, who) {
  const me = String(who || '').toLowerCase();
  return withDb(async (db) => {
    const tx0 = db.transaction('parts', 'readonly');
    const [all, recs] = await Promise.all([req(tx0.objectStore('parts').getAllKeys()),
      req(tx0.objectStore('parts').getAll())]);
    const gone = all.filter((id, i) => !keepIds.has(id) &&
      (!recs[i] || typeof recs[i].who !== 'string' || recs[i].who === '' || recs[i].who === me));
    if (gone.length) {
      const tx = db.transaction('parts', 'readwrite');
      const s = tx.objectStore('parts');
      for (const id of gone) s.delete(id);
      await committed(tx);
    }
    return gone.length;
  }, 0);
}

// Forget this device: every key part and the device key itself.
export function forgetAll() {
  return withDb(async (db) => {
    const tx = db.transaction(['parts', 'device'], 'readwrite');
    tx.objectStore('parts').clear();
    tx.objectStore('device').clear();
    await committed(tx);
    return true;
  }, false);
}
