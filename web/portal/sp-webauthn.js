// sp-webauthn.js - passkeys in the key server's pages (signin.js,
// account.js, sp-portal.js): base64url <-> bytes, and the two WebAuthn
// ceremonies with the key server's JSON shapes (base64url strings in,
// base64url strings out).
// SECURITY: everything from the server is checked for shape before use;
// nothing here builds HTML.  The browser itself binds a credential to this
// origin and relying party.
import { t } from './sp-i18n.js';
import { api } from './sp-api.js';

const B64URL = /^[A-Za-z0-9_-]*$/;

// base64url (no padding) -> Uint8Array; throws on anything else.
export function fromB64url(s) {
  if (typeof s !== 'string' || !B64URL.test(s) || s.length % 4 === 1) {
    throw new TypeError('not base64url');
  }
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// ArrayBuffer / view -> base64url without padding.
export function toB64url(buf) {
  const bytes = buf instanceof Uint8Array ? buf :
    ArrayBuffer.isView(buf) ? new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength) : new Uint8Array(buf);
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// True when this browser can use passkeys on this page.
export function available() {
  return typeof window.PublicKeyCredential === 'function' && !!navigator.credentials &&
    typeof navigator.credentials.get === 'function' && window.isSecureContext !== false;
}

function credList(list) {
  if (!Array.isArray(list)) return [];
  return list.filter((c) => c && typeof c.id === 'string')
    .map((c) => ({ type: 'public-key', id: fromB64url(c.id) }));
}

function timeout(t) {
  return Number.isInteger(t) && t > 0 && t <= 600000 ? t : 120000;
}

function userVerification(v) {
  return ['required', 'preferred', 'discouraged'].includes(v) ? v : 'preferred';
}

// Sign in: the key server's request options ({challenge, rpId,
// allowCredentials}) -> the assertion to post ({id, clientDataJSON,
// authenticatorData, signature}, base64url).
export async function getAssertion(o) {
  if (!o || typeof o !== 'object') throw new TypeError('no options');
  const publicKey = {
    challenge: fromB64url(o.challenge),
    allowCredentials: credList(o.allowCredentials),
    userVerification: userVerification(o.userVerification),
    timeout: timeout(o.timeout),
  };
  if (typeof o.rpId === 'string' && o.rpId) publicKey.rpId = o.rpId;
  const cred = await navigator.credentials.get({ publicKey });
  if (!cred || !cred.response) throw new DOMException('no passkey was used', 'NotAllowedError');
  return {
    id: toB64url(cred.rawId),
    clientDataJSON: toB64url(cred.response.clientDataJSON),
    authenticatorData: toB64url(cred.response.authenticatorData),
    signature: toB64url(cred.response.signature),
  };
}

// Registration: the key server's creation options -> {clientDataJSON,
// attestationObject} (base64url) and whether the passkey is on this device.
export async function createCredential(o) {
  if (!o || typeof o !== 'object' || !o.rp || !o.user) throw new TypeError('no options');
  const sel = o.authenticatorSelection && typeof o.authenticatorSelection === 'object' ? o.authenticatorSelection : {};
  const publicKey = {
    challenge: fromB64url(o.challenge),
    rp: { id: String(o.rp.id || ''), name: String(o.rp.name || 'sealpost') },
    user: { id: fromB64url(o.user.id), name: String(o.user.name || ''), displayName: String(o.user.displayName || o.user.name || '') },
    pubKeyCredParams: (Array.isArray(o.pubKeyCredParams) ? o.pubKeyCredParams : [])
      .filter((p) => p && Number.isInteger(p.alg)).map((p) => ({ type: 'public-key', alg: p.alg })),
    excludeCredentials: credList(o.excludeCredentials),
    attestation: ['none', 'indirect', 'direct', 'enterprise'].includes(o.attestation) ? o.attestation : 'none',
    authenticatorSelection: {
      residentKey: ['required', 'preferred', 'discouraged'].includes(sel.residentKey) ? sel.residentKey : 'preferred',
      userVerification: userVerification(sel.userVerification),
    },
    timeout: timeout(o.timeout),
  };
  if (!publicKey.rp.id) delete publicKey.rp.id;
  if (publicKey.authenticatorSelection.residentKey === 'required') publicKey.authenticatorSelection.requireResidentKey = true;
  const cred = await navigator.credentials.create({ publicKey });
  if (!cred || !cred.response) throw new DOMException('no passkey was made', 'NotAllowedError');
  return {
    clientDataJSON: toB64url(cred.response.clientDataJSON),
    attestationObject: toB64url(cred.response.attestationObject),
    platform: cred.authenticatorAttachment === 'platform',
  };
}

// A sentence for a failed ceremony (the browser's own error names).
export function explain(e) {
  const name = e && typeof e.name === 'string' ? e.name : '';
  if (name === 'NotAllowedError' || name === 'AbortError') {
    return t('js.passkey_cancelled');
  }
  if (name === 'InvalidStateError') return t('js.passkey_exists');
  if (name === 'SecurityError') return t('js.passkey_security');
  if (name === 'NotSupportedError') return t('js.passkey_unsupported');
  return t('js.passkey_failed');
}

// POST JSON to the key server; {status, data}.
export function postJson(path, body, csrf) {
  return api('POST', path, body, csrf);
}
