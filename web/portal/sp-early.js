// sp-early.js - the first script of the open page (open.html).  It asks
// for the session at once (sp-portal.js's checkSession takes the answer),
// so that the key's release need not wait for the page's modules to load
// first.  In copy mode with the key in the link (/m/ID#mp=...) it also
// starts the worker that downloads the key server's copy
// (sp-copy-worker.js), so that the download goes on while the page's own
// scripts load; open.js takes the worker over (window.spEarlyCopy) and
// hands it the key after the release.  It reads the path only: the
// fragment stays for open.js to read and remove, and nothing here decrypts
// or shows anything.  Without a session the key server refuses the
// download and open.js asks again after the sign-in.
(function () {
  'use strict';
  if (typeof fetch !== 'function') return;
  // the pending answer, read by sp-api.js's answerOf() (a failure is
  // reported there, not here)
  var session = fetch('/api/v1/session', { headers: { Accept: 'application/json' },
    credentials: 'same-origin', cache: 'no-store' });
  session.catch(function () {});
  window.spEarlySession = session;
  var m = /^\/m\/([A-Za-z0-9_-]{22})$/.exec(location.pathname);
  if (!m || !/(^#|&)mp=/.test(location.hash) || typeof Worker !== 'function') return;
  try {
    var w = new Worker('/static/sp-copy-worker.js', { type: 'module' });
    var queued = [];
    w.onmessage = function (ev) { queued.push(ev); };
    w.postMessage({ type: 'fetch', url: '/api/v1/envelopes/' + m[1] + '/copy/data' });
    window.spEarlyCopy = { id: m[1], worker: w, queued: queued };
  } catch (e) { /* open.js starts its own */ }
}());
