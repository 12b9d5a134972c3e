// sp-api.js - one request to the key server's JSON API, for every page of
// the portal: {status, data}, status 0 when the key server cannot be
// reached, data {} when the answer is not a JSON object.  A session sent as
// a cookie needs its CSRF token (csrf) on requests that change something.
import { t } from './sp-i18n.js';
export async function api(method, path, body, csrf) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (csrf) headers['X-CSRF-Token'] = csrf;
  return answerOf(fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin', cache: 'no-store' }));
}

// {status, data} of a fetch() already under way (pending: its promise), as
// api() answers: for a request a page's first script started
// (sp-early.js).
export async function answerOf(pending) {
  let r;
  try {
    r = await pending;
  } catch {
    return { status: 0, data: { error: t('js.unreachable') } };
  }
  let data = {};
  try {
    data = await r.json();
  } catch { /* empty or not JSON */ }
  return { status: r.status, data: data && typeof data === 'object' ? data : {} };
}
