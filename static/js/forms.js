// After a failed submit, the focus goes to the first field with an error (its message is
// linked by aria-describedby, so a screen reader reads both). Loaded by both base templates.
(function () {
  "use strict";
  var FOCUSABLE = "input:not([type=hidden]):not([disabled]), select:not([disabled]), textarea:not([disabled])";

  function focusFirstError() {
    var first = document.querySelector("main .field-error, main [aria-invalid=true]");
    if (!first) {
      // Errors of the whole form only (a wrong password): its message, read on arrival.
      var message = document.querySelector("main form .form-errors, main form .errorlist.nonfield");
      if (message) {
        message.setAttribute("tabindex", "-1");
        message.focus();
      }
      return;
    }
    var target = first.matches(FOCUSABLE) ? first : first.querySelector(FOCUSABLE);
    if (target) {
      target.focus();
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", focusFirstError);
  } else {
    focusFirstError();
  }
})();
