// mailflow admin center: progressive enhancement only; every page works
// without this script. Served from the same origin so the
// Content-Security-Policy can forbid inline script.
"use strict";
document.addEventListener("submit", function (ev) {
  var f = ev.target;
  if (f.classList && f.classList.contains("confirm") && !window.confirm("Remove this message from the queue? No DSN is sent.")) {
    ev.preventDefault();
  }
});
