// register.js - the "show password" switch of the registration form.  The
// form works without it; the switch stays hidden when scripts do not run.
(function () {
  'use strict';
  var box = document.getElementById('show-password');
  if (!box) return;
  box.parentNode.hidden = false;
  box.addEventListener('change', function () {
    var t = box.checked ? 'text' : 'password';
    document.getElementById('password').type = t;
    document.getElementById('password2').type = t;
  });
}());
