/* early.js - the first script of securedoc.html (inlined before the
 * ciphertext; its hash is in the page's CSP).  A file cut short on the way
 * (a mail size limit, a broken download) ends inside the ciphertext, and
 * the browser drops the rest of the page: the Open button and envelope.js
 * with it.  When the page has been read to its end without its Open
 * button, this shows the note that says so.
 */
document.addEventListener('DOMContentLoaded', function () {
  'use strict';
  var cut = document.getElementById('sp-cut');
  if (cut && !document.getElementById('sp-open')) cut.hidden = false;
});
