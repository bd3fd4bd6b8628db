// Small progressive enhancements. Every page works without this file.
// No inline scripts anywhere: the Content-Security-Policy forbids them.
(function () {
  "use strict";
  // Send Django's CSRF token with every htmx request (the token is in a hidden input
  // rendered by {% csrf_token %} on the page).
  document.addEventListener("htmx:configRequest", function (event) {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) {
      event.detail.headers["X-CSRFToken"] = input.value;
    }
  });
})();
