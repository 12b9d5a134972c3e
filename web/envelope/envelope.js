/* envelope.js - the script of securedoc.html (inlined; its hash is in the
 * page's CSP).  On "Open" it opens the key server's open page in a new
 * window and, when that page says it is ready, hands it the envelope
 * (header, mail key part, ciphertext and, in format 2, the signature) with
 * postMessage.
 * SECURITY: the page runs from file:// (origin "null").  It posts only to the
 * window it opened and only with the key server's origin as targetOrigin, so
 * a window that navigated elsewhere receives nothing.  It answers only
 * messages from that window and that origin.  It never asks for a password.
 */
(function () {
  'use strict';
  var form = document.getElementById('sp-form');
  var status = document.getElementById('sp-status');
  var metaEl = document.getElementById('sp-meta');
  if (!form || !metaEl) return;
  var meta;
  try {
    meta = JSON.parse(metaEl.textContent);
  } catch (e) {
    return;
  }
  if (!meta || meta.v !== 1 || typeof meta.id !== 'string' || !/^[A-Za-z0-9_-]{22}$/.test(meta.id) ||
      typeof meta.keyd !== 'string' || typeof meta.mp !== 'string') return;
  var keydOrigin;
  try {
    keydOrigin = new URL(meta.keyd).origin;
  } catch (e) {
    return;
  }
  if (!/^https?:\/\//.test(keydOrigin)) return;
  var openUrl = meta.keyd.replace(/\/+$/, '') + '/open?id=' + encodeURIComponent(meta.id);
  var win = null;
  var sent = 0;

  function say(text) {
    if (status) status.textContent = text;
  }

  // The page's sentences, in the envelope's language (the writer puts them
  // in the meta's "t"); {name} placeholders filled from vars.
  var texts = meta.t && typeof meta.t === 'object' ? meta.t : {};
  function t(key, vars) {
    var s = typeof texts[key] === 'string' ? texts[key] : key;
    return s.replace(/\{([a-z]+)\}/g, function (m, n) {
      return vars && Object.prototype.hasOwnProperty.call(vars, n) ? String(vars[n]) : m;
    });
  }

  // Both decoders skip ASCII white space themselves: no stripped copy of
  // the (large) text is made first.
  function decode(b64) {
    if (typeof Uint8Array.fromBase64 === 'function') return Uint8Array.fromBase64(b64);
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  // The ciphertext, decoded once: ahead of time, after the page has loaded
  // (so that Open hands it over at once), or at the latest when the key
  // server's page asks for it.  It is handed over (transferred), so a second
  // Open decodes it again.
  var decoded = null;
  function payloadBuffer() {
    var b = decoded;
    decoded = null;
    return b || decode(document.getElementById('sp-payload').value).buffer;
  }
  window.addEventListener('load', function () {
    setTimeout(function () {
      try {
        if (!decoded) decoded = decode(document.getElementById('sp-payload').value).buffer;
      } catch (e) { /* reported when Open is clicked */ }
      document.documentElement.setAttribute('data-sp-decoded', '1');
    }, 0);
  });

  function onMessage(ev) {
    if (!win || ev.source !== win || ev.origin !== keydOrigin) return;
    var d = ev.data;
    if (!d || typeof d !== 'object' || d.type !== 'sealpost-ready' || d.id !== meta.id) return;
    if (sent >= 5) return;
    sent++;
    ready = true;
    var payload, header;
    var sigEl = document.getElementById('sp-sig');
    var headerEl = document.getElementById('sp-header');
    var sig = sigEl ? sigEl.value.replace(/[\t\n\f\r ]+/g, '') : null;
    try {
      if (sig !== null && !/^[A-Za-z0-9_-]{86}$/.test(sig)) throw new Error('signature');
      if (!headerEl || typeof meta.mp !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(meta.mp)) {
        throw new Error('header or key part');
      }
      header = headerEl.value;
      payload = payloadBuffer();
    } catch (e) {
      say(t('env.js.damaged'));
      // the window waits for this envelope: it says so too, at once
      win.postMessage({ type: 'sealpost-envelope', v: 1, id: meta.id, damaged: true }, keydOrigin);
      return;
    }
    win.postMessage({
      type: 'sealpost-envelope',
      v: 1,
      id: meta.id,
      header: header,
      mp: meta.mp,
      sig: sig,
      payload: payload
    }, keydOrigin, [payload]);
    say(t('env.js.handed'));
  }
  window.addEventListener('message', onMessage);

  form.addEventListener('submit', function (ev) {
    // "Open online instead" posts the form itself (the no-script path).
    if (ev.submitter && ev.submitter.id === 'sp-online') return;
    var w = window.open(openUrl, 'sealpost-' + meta.id);
    if (!w) {
      // Blocked pop-up: fall back to posting the form, which the browser
      // may allow; tell the user either way.
      say(t('env.js.popup'));
      return;
    }
    ev.preventDefault();
    win = w;
    sent = 0;
    ready = false;
    say(t('env.js.opening'));
    checkReach(w);
  });

  // Who to ask when the key server cannot help: the sender in the header.
  function sender() {
    try {
      var h = JSON.parse(atob(document.getElementById('sp-header').value));
      var who = typeof h.from === 'string' && h.from ? h.from : '';
      var org = typeof h.org === 'string' && h.org ? h.org : '';
      return who && org ? who + ' (' + org + ')' : (who || org || t('env.js.sender_unknown'));
    } catch (e) {
      return t('env.js.sender_unknown');
    }
  }

  // A dead end gets words: when the key server cannot be reached, its
  // window (a browser error page) is closed again and this page says what
  // to do.  The probe is an image of the key server's own (the only request
  // this page's CSP lets it make); a window that has said it is ready is
  // never closed.
  var ready = false;
  var waitTimer = null;
  function unreachable(w) {
    if (ready) return;
    try {
      w.close();
    } catch (e) { /* gone already */ }
    say(t('env.js.unreachable', { keyd: keydOrigin, sender: sender() }));
  }
  function checkReach(w) {
    var probe = new Image();
    probe.onerror = function () { unreachable(w); };
    probe.src = meta.keyd.replace(/\/+$/, '') + '/static/reach.svg?t=' + Date.now();
    clearTimeout(waitTimer);
    waitTimer = setTimeout(function () {
      if (!ready) {
        say(t('env.js.no_answer', { sender: sender() }));
      }
    }, 20000);
  }
}());
