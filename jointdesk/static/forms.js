// Forms marked data-submit-once send once: the first click disables their buttons, so a slow
// network cannot turn three clicks into three posts. The server's one-time form token is the
// real guarantee; this only spares the clerk the wait. Back (page restored from the browser's
// cache) makes the form usable again.
(function () {
  "use strict";
  function buttons(form) {
    return form.querySelectorAll('button[type="submit"], input[type="submit"]');
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute || !form.hasAttribute("data-submit-once")) return;
    if (form.getAttribute("data-sent") === "1") {
      event.preventDefault();
      return;
    }
    form.setAttribute("data-sent", "1");
    // after the browser has taken the form's data, so a named submit button is still sent
    window.setTimeout(function () {
      buttons(form).forEach(function (b) { b.disabled = true; });
    }, 0);
  });
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-submit-once]").forEach(function (form) {
      form.removeAttribute("data-sent");
      buttons(form).forEach(function (b) { b.disabled = false; });
    });
  });
})();
// A form sent back with errors: the summary at its top takes the focus, so that a screen reader
// reads it and a keyboard user tabs on to its links, each of which leads to its field.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();
});
